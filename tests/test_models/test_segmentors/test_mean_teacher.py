"""MeanTeacherSegmentor: the teacher is a frozen copy, updated only by a hook, used at test."""

import pytest
import torch


@pytest.mark.parametrize('type_', ['FARCLUSS', 'HardLabelMeanTeacher'])
def test_teacher_starts_as_copy_and_never_trains(build, type_):
    model = build(type_)
    for (name, t), s in zip(
        model.teacher.state_dict().items(), model.student.state_dict().values()
    ):
        assert torch.equal(t, s), name
    assert not any(p.requires_grad for p in model.teacher.parameters())
    for _ in range(2):  # mmengine calls model.train() at every epoch / iteration
        model.train()
        assert model.student.training
        assert not any(m.training for m in model.teacher.modules())
    model.eval()
    assert not model.student.training


def test_gradients_reach_the_student_only(build, semi_batch):
    model = build('FARCLUSS')
    model.train()
    data = model.data_preprocessor(semi_batch(), True)
    losses = model.loss(data['inputs'], data['data_samples'])
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    grads = [p.grad for p in model.student.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0


def test_training_without_a_teacher_update_is_an_error(build, semi_batch):
    model = build('HardLabelMeanTeacher')
    model.teacher_updater = None  # no MeanTeacherHook ran before_train
    model.train()
    data = model.data_preprocessor(semi_batch(), True)
    with pytest.raises(RuntimeError, match=r"custom_hooks has no dict\(type='MeanTeacherHook'\)"):
        model.loss(data['inputs'], data['data_samples'])
    frozen = build('HardLabelMeanTeacher', semi_train_cfg=dict(freeze_teacher=True))
    frozen.teacher_updater = None
    frozen.train()
    assert 'loss_u' in frozen.loss(data['inputs'], data['data_samples'])


def test_predict_routes_to_predict_on(build, semi_batch):
    batch = semi_batch(num_sup=1, num_unsup=0)
    results = {}
    for target in ('teacher', 'student'):
        model = build('FARCLUSS', semi_test_cfg=dict(predict_on=target))
        with torch.no_grad():
            for p in model.student.decode_head.conv_seg.parameters():
                p.add_(torch.randn_like(p))  # student and teacher now disagree
        model.eval()
        data = model.data_preprocessor(batch, False)
        out = model.predict(data['inputs'], data['data_samples'])[0].seg_logits.data
        own = getattr(model, target).predict(data['inputs'], data['data_samples'])
        assert torch.equal(out, own[0].seg_logits.data)
        results[target] = out
    assert not torch.equal(results['teacher'], results['student'])
    with pytest.raises(KeyError, match=r"\['predict'\] in model.semi_test_cfg"):
        build('FARCLUSS', semi_test_cfg=dict(predict='teacher'))
    with pytest.raises(ValueError, match='predict_on must be'):
        build('FARCLUSS', semi_test_cfg=dict(predict_on='ema'))
