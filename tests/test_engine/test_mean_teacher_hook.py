import copy
import logging
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmengine.registry import MODEL_WRAPPERS
from mmseg.registry import HOOKS

from farcluss_mmseg.engine.hooks import MeanTeacherHook, mean_teacher_hook


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1)
        self.bn = nn.BatchNorm2d(2)


class _TeacherStudent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.student = _Net()
        self.teacher = copy.deepcopy(self.student)


@MODEL_WRAPPERS.register_module(force=True)
class _FakeDDP(nn.Module):
    """Stands in for MMDistributedDataParallel (needs no process group)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module


def _float_tensors(net: _Net) -> list:
    bn = net.bn
    return [net.conv.weight, net.conv.bias, bn.weight, bn.bias, bn.running_mean, bn.running_var]


def _fill(net: _Net, value: float, num_batches: int) -> None:
    """Set every float parameter and buffer of ``net`` to ``value``."""
    with torch.no_grad():
        for t in _float_tensors(net):
            t.fill_(value)
        net.bn.num_batches_tracked.fill_(num_batches)


def _assert_teacher(net: _Net, value: float, num_batches: int) -> None:
    for t in _float_tensors(net):
        torch.testing.assert_close(t.detach(), torch.full_like(t, value), rtol=0, atol=1e-7)
    assert net.bn.num_batches_tracked.item() == num_batches


def _two_steps(hook: MeanTeacherHook, runner: SimpleNamespace, model: _TeacherStudent) -> None:
    """Student 1 then 3; the runner is at iterations 0 then 1."""
    hook.before_train(runner)
    _fill(model.student, 1.0, 5)
    runner.iter = 0
    hook.after_train_iter(runner, batch_idx=0)
    _fill(model.student, 3.0, 7)
    runner.iter = 1
    hook.after_train_iter(runner, batch_idx=1)


def test_ema_two_steps_params_and_bn_buffers():
    model = _TeacherStudent()
    _fill(model.teacher, 0.0, 0)
    hook = HOOKS.build(dict(type='MeanTeacherHook', momentum=0.01))
    runner = SimpleNamespace(model=model, iter=0)
    hook.before_train(runner)
    _fill(model.student, 1.0, 5)
    hook.after_train_iter(runner, batch_idx=0)
    # 0.99 * 0 + 0.01 * 1
    _assert_teacher(model.teacher, 0.01, 5)
    _fill(model.student, 3.0, 7)
    runner.iter = 1
    hook.after_train_iter(runner, batch_idx=1)
    # 0.99 * 0.01 + 0.01 * 3
    _assert_teacher(model.teacher, 0.0399, 7)
    # The student is untouched.
    _assert_teacher(model.student, 3.0, 7)


def test_ema_interval_two_updates_on_second_iteration_only():
    model = _TeacherStudent()
    _fill(model.teacher, 0.0, 0)
    hook = MeanTeacherHook(momentum=0.5, interval=2)
    runner = SimpleNamespace(model=model, iter=0)
    _two_steps(hook, runner, model)
    # Iteration 0 skipped; iteration 1: 0.5 * 0 + 0.5 * 3.
    _assert_teacher(model.teacher, 1.5, 7)


def test_ema_momentum_one_copies_student():
    model = _TeacherStudent()
    _fill(model.teacher, 0.0, 0)
    hook = MeanTeacherHook(momentum=1.0)
    runner = SimpleNamespace(model=model, iter=0)
    _two_steps(hook, runner, model)
    _assert_teacher(model.teacher, 3.0, 7)


def test_ema_through_model_wrapper_updates_inner_teacher():
    model = _TeacherStudent()
    _fill(model.teacher, 0.0, 0)
    hook = MeanTeacherHook()
    runner = SimpleNamespace(model=_FakeDDP(model), iter=0)
    _two_steps(hook, runner, model)
    _assert_teacher(model.teacher, 0.0399, 7)


def test_ema_follows_buffers_reassigned_after_before_train():
    model = _TeacherStudent()
    _fill(model.teacher, 0.0, 0)
    hook = MeanTeacherHook()
    runner = SimpleNamespace(model=model, iter=0)
    hook.before_train(runner)
    # What model.to(device) does to buffers: new tensor objects.
    model.teacher.bn.running_mean = torch.full((2,), 2.0)
    model.student.bn.running_mean = torch.full((2,), 4.0)
    hook.after_train_iter(runner, batch_idx=0)
    # 0.99 * 2 + 0.01 * 4
    torch.testing.assert_close(
        model.teacher.bn.running_mean, torch.full((2,), 2.02), rtol=0, atol=1e-6
    )


def test_model_without_teacher_student_raises():
    hook = MeanTeacherHook()
    runner = SimpleNamespace(model=_Net(), iter=0)
    with pytest.raises(
        TypeError,
        match=r'needs a model with `teacher` and `student` nn.Module attributes .* but _Net has '
        r'teacher=NoneType and student=NoneType',
    ):
        hook.before_train(runner)


def test_mismatched_teacher_raises_when_strict():
    model = _TeacherStudent()
    model.teacher.bn = nn.BatchNorm2d(3)
    model.teacher.extra = nn.Linear(1, 1, bias=False)
    runner = SimpleNamespace(model=model, iter=0)
    with pytest.raises(
        ValueError,
        match=r'same parameter and buffer names, shapes and dtypes; 5 differ: '
        r'bn\.bias \(teacher \(3,\) torch\.float32, student \(2,\) torch\.float32\)',
    ):
        MeanTeacherHook().before_train(runner)


def test_mismatched_teacher_non_strict_updates_matching_tensors_and_warns(monkeypatch):
    logged = []
    monkeypatch.setattr(
        mean_teacher_hook, 'print_log', lambda msg, **kwargs: logged.append((msg, kwargs))
    )
    model = _TeacherStudent()
    model.teacher.extra = nn.Linear(1, 1, bias=False)
    nn.init.constant_(model.teacher.extra.weight, 5.0)
    _fill(model.teacher, 0.0, 0)
    hook = MeanTeacherHook(strict=False)
    runner = SimpleNamespace(model=model, iter=0)
    _two_steps(hook, runner, model)
    _assert_teacher(model.teacher, 0.0399, 7)
    assert model.teacher.extra.weight.item() == 5.0
    assert logged == [
        (
            'MeanTeacherHook (strict=False): 1 tensors are not updated: '
            'extra.weight (only in the teacher)',
            dict(logger='current', level=logging.WARNING),
        )
    ]


def test_teacher_sharing_student_memory_raises():
    model = _TeacherStudent()
    model.teacher = model.student
    with pytest.raises(
        ValueError, match=r'share the memory of conv\.weight \(and 6 more tensors\)'
    ):
        MeanTeacherHook().before_train(SimpleNamespace(model=model, iter=0))


@pytest.mark.parametrize('momentum', [0, 1.5, -0.1])
def test_momentum_out_of_range_raises(momentum):
    with pytest.raises(ValueError, match=rf'momentum must be in \(0, 1\], got {momentum}'):
        MeanTeacherHook(momentum=momentum)


def test_bad_interval_raises():
    with pytest.raises(ValueError, match=r'interval must be a positive int, got 0'):
        MeanTeacherHook(interval=0)


def test_burn_in_copies_the_student_then_averages():
    """burn_in_iters = 2: no update after iteration 0, an exact copy after iteration 1 (the
    switch), eq. 1 from iteration 2 on. The hook also tells the model it updates the teacher."""
    model = _TeacherStudent()
    model.burn_in_iters = 2
    _fill(model.teacher, 0.0, 0)
    hook = HOOKS.build(dict(type='MeanTeacherHook', momentum=0.01))
    runner = SimpleNamespace(model=model, iter=0)
    hook.before_train(runner)
    assert model.teacher_updater == 'MeanTeacherHook'
    _fill(model.student, 1.0, 5)
    hook.after_train_iter(runner, batch_idx=0)
    _assert_teacher(model.teacher, 0.0, 0)  # still in the burn-in
    _fill(model.student, 3.0, 7)
    runner.iter = 1
    hook.after_train_iter(runner, batch_idx=1)
    _assert_teacher(model.teacher, 3.0, 7)  # the teacher equals the student at the switch
    _fill(model.student, 5.0, 9)
    runner.iter = 2
    hook.after_train_iter(runner, batch_idx=2)
    _assert_teacher(model.teacher, 0.99 * 3.0 + 0.01 * 5.0, 9)
