"""EMA update of the teacher from the student (paper eq. 1)."""

import logging
from itertools import chain
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS


def _named_tensors(module: nn.Module) -> Dict[str, torch.Tensor]:
    """All parameters and buffers of ``module`` by name."""
    return dict(chain(module.named_parameters(), module.named_buffers()))


@HOOKS.register_module()
class MeanTeacherHook(Hook):
    """Update the teacher as an exponential moving average of the student.

    After every ``interval``-th training iteration (i.e. after the optimizer step), paper eq. 1:
    ``teacher <- (1 - momentum) * teacher + momentum * student``, i.e. ``alpha = 1 - momentum``
    (paper: alpha = 0.99). It covers the parameters *and* the floating-point buffers (BN running
    statistics), so the teacher's BN statistics follow the student's; integer buffers (BN
    ``num_batches_tracked``) are copied from the student. The whole update is two ``torch._foreach``
    calls, without host-device synchronisation.

    The model (unwrapped from a model wrapper such as ``MMDistributedDataParallel``) must have
    ``student`` and ``teacher`` submodules of the same architecture, the teacher being a separate
    copy (the model initialises it; this hook never resets it, so a resumed run keeps the teacher
    from its checkpoint).

    With a supervised burn-in (the model's ``burn_in_iters`` = N > 0) the teacher is not
    averaged during the first N iterations; after iteration N it becomes an exact copy of the
    student, and eq. 1 runs from then on.

    The tensor lists are rebuilt from the modules at every update rather than cached, so they stay
    correct when buffers or parameters are reassigned (``model.to()``, ``load_state_dict(...,
    assign=True)``); the walk is cheap next to a training step.

    Args:
        momentum (float): Weight of the student in the update, in (0, 1]. Defaults to 0.01
            (alpha = 0.99 in the paper).
        interval (int): Update every ``interval`` training iterations. Defaults to 1.
        strict (bool): If True, the teacher and the student must have the same parameter and
            buffer names, shapes and dtypes. If False, only the tensors whose name, shape and
            dtype match are updated and the others are listed in a warning. Defaults to True.
    """

    def __init__(self, momentum: float = 0.01, interval: int = 1, strict: bool = True) -> None:
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)):
            raise TypeError(f'MeanTeacherHook: momentum must be a float, got {momentum!r}')
        if not 0 < momentum <= 1:
            raise ValueError(
                f'MeanTeacherHook: momentum must be in (0, 1], got {momentum} '
                '(it is the weight of the student: momentum = 1 - alpha, e.g. 0.01 for alpha 0.99)'
            )
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f'MeanTeacherHook: interval must be a positive int, got {interval!r}')
        self.momentum = float(momentum)
        self.interval = interval
        self.strict = strict
        self._float_names: Optional[List[str]] = None
        self._int_names: Optional[List[str]] = None

    @staticmethod
    def _teacher_student(runner: Any) -> Tuple[nn.Module, nn.Module]:
        """Return ``(teacher, student)`` of ``runner.model``, unwrapped if it is a wrapper."""
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        teacher = getattr(model, 'teacher', None)
        student = getattr(model, 'student', None)
        if not isinstance(teacher, nn.Module) or not isinstance(student, nn.Module):
            raise TypeError(
                'MeanTeacherHook needs a model with `teacher` and `student` nn.Module attributes '
                f'of the same architecture, but {type(model).__name__} has teacher='
                f'{type(teacher).__name__} and student={type(student).__name__}. Use a '
                'teacher-student segmentor or remove MeanTeacherHook from custom_hooks.'
            )
        return teacher, student

    def before_train(self, runner: Any) -> None:
        """Check that teacher and student match and record which tensors to average or copy.

        Args:
            runner (Runner): The runner of the training process.
        """
        teacher, student = self._teacher_student(runner)
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        model.teacher_updater = type(self).__name__  # the model refuses to train without one
        t_named, s_named = _named_tensors(teacher), _named_tensors(student)
        problems = {}  # name -> why it cannot be averaged
        for n in t_named.keys() ^ s_named.keys():
            problems[n] = 'only in the teacher' if n in t_named else 'only in the student'
        for n in t_named.keys() & s_named.keys():
            t, s = t_named[n], s_named[n]
            if t.shape != s.shape or t.dtype != s.dtype:
                problems[n] = (
                    f'teacher {tuple(t.shape)} {t.dtype}, student {tuple(s.shape)} {s.dtype}'
                )
        described = sorted(f'{n} ({why})' for n, why in problems.items())
        if problems and self.strict:
            raise ValueError(
                'MeanTeacherHook: model.teacher and model.student must have the same parameter '
                f'and buffer names, shapes and dtypes; {len(problems)} differ: '
                f'{", ".join(described[:5])}. Build the teacher as a copy of the student, or set '
                'strict=False to update only the matching tensors.'
            )
        if problems:
            print_log(
                f'MeanTeacherHook (strict=False): {len(problems)} tensors are not updated: '
                f'{", ".join(described)}',
                logger='current',
                level=logging.WARNING,
            )
        names = [n for n in t_named if n not in problems]
        shared = [
            n
            for n in names
            if t_named[n].numel() and t_named[n].data_ptr() == s_named[n].data_ptr()
        ]
        if shared:
            raise ValueError(
                f'MeanTeacherHook: model.teacher and model.student share the memory of {shared[0]}'
                f' (and {len(shared) - 1} more tensors), so the EMA would do nothing. The teacher '
                'must be a separate copy of the student (e.g. copy.deepcopy).'
            )
        self._float_names = [n for n in names if t_named[n].is_floating_point()]
        self._int_names = [n for n in names if not t_named[n].is_floating_point()]

    def after_train_iter(
        self,
        runner: Any,
        batch_idx: int,
        data_batch: Optional[Any] = None,
        outputs: Optional[dict] = None,
    ) -> None:
        """Apply eq. 1 every ``interval`` iterations.

        Args:
            runner (Runner): The runner of the training process.
            batch_idx (int): The index of the current batch in the train loop.
            data_batch (dict | tuple | list, optional): Data from the dataloader.
            outputs (dict, optional): Outputs of the model.
        """
        if self._float_names is None:
            self.before_train(runner)
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        burn_in = getattr(model, 'burn_in_iters', 0)
        done = runner.iter + 1  # iterations finished, this one included
        if done < burn_in:
            return
        teacher, student = self._teacher_student(runner)
        t_named, s_named = _named_tensors(teacher), _named_tensors(student)
        if done == burn_in:  # end of the burn-in: the teacher starts as the student
            with torch.no_grad():
                torch._foreach_copy_(
                    [t_named[n] for n in self._float_names + self._int_names],
                    [s_named[n] for n in self._float_names + self._int_names],
                )
            return
        if not self.every_n_train_iters(runner, self.interval):
            return
        with torch.no_grad():
            # Eq. 1: lerp_(t, s, m) = t + m * (s - t) = (1 - m) * t + m * s.
            torch._foreach_lerp_(
                [t_named[n] for n in self._float_names],
                [s_named[n] for n in self._float_names],
                self.momentum,
            )
            if self._int_names:
                torch._foreach_copy_(
                    [t_named[n] for n in self._int_names], [s_named[n] for n in self._int_names]
                )
