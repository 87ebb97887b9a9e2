"""The hard-label mean teacher: thresholded argmax labels, CE on the strong views, configs."""

import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS

from farcluss_mmseg.models.segmentors.hard_label_mean_teacher import hard_pseudo_labels

DEMO = 'configs/mean_teacher/mean-teacher-hard_deeplabv3plus_r18-w32-d8_1xb8+8-600it_farcluss-demo-'


def test_hard_pseudo_labels_by_hand():
    # Pixels [0.97, 0.03] (class 0), [0.25, 0.75] (class 1, confidence 0.75), padding.
    probs = torch.tensor([[0.97, 0.25, 0.5], [0.03, 0.75, 0.5]]).reshape(1, 2, 1, 3)
    valid = torch.tensor([[[True, True, False]]])
    for threshold, used in ((0.95, [1, 0, 0]), (0.75, [1, 1, 0]), (None, [1, 1, 0])):
        pl = hard_pseudo_labels(probs, valid, threshold)
        assert pl.labels.flatten().tolist() == [0, 1, 0]
        assert pl.used.flatten().tolist() == [bool(u) for u in used]
        assert pl.weight.flatten().tolist() == [float(u) for u in used]


@pytest.mark.parametrize('suffix, threshold', [('', 0.95), ('_no-threshold', None)])
def test_demo_configs(suffix, threshold, semi_batch):
    cfg = Config.fromfile(f'{DEMO}1-16-96x96{suffix}.py')
    assert cfg.model.semi_train_cfg.burn_in_iters == 200  # the demo's, shared by every method
    cfg.model.semi_train_cfg.burn_in_iters = 0  # one step here, after the burn-in
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'HardLabelMeanTeacher'
    assert model.semi_train_cfg['confidence_threshold'] == threshold
    assert model.unsup_loss.loss_weight == 0.5
    assert dict(type='MeanTeacherHook', momentum=0.01) in cfg.custom_hooks
    model.teacher_updater = 'MeanTeacherHook'
    model.train()
    data = model.data_preprocessor(semi_batch(size=96), True)  # BN needs 2 images a pass
    losses = model.loss(data['inputs'], data['data_samples'])
    assert {'decode.loss_ce', 'loss_u', 'pl_used_ratio', 'pl_acc'} <= set(losses)
    if threshold is None:  # every valid pixel
        assert losses['pl_used_ratio'].item() == 100.0
