"""``HardPseudoLabelLoss`` by hand, and the two hard-label baseline configs built on FARCLUSS.

Three pixels laid out as (1, 2, 1, 3), C = 2:

- p0: teacher [0.97, 0.03] -> class 0, confidence 0.97; student softmax [1/4, 3/4]: CE ln 4.
- p1: teacher [0.25, 0.75] -> class 1, confidence 0.75; student softmax [1/2, 1/2]: CE ln 2.
- p2: teacher [0.02, 0.98] -> class 1; student softmax [3/4, 1/4]: CE ln 4; p2 is padding.
"""

import math

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch.testing import assert_close

import farcluss_mmseg  # noqa: F401  (registers the plugin)
from farcluss_mmseg.models.losses import HardPseudoLabelLoss

LN2, LN4 = math.log(2), math.log(4)
TEACHER = torch.tensor([[0.97, 0.25, 0.02], [0.03, 0.75, 0.98]]).reshape(1, 2, 1, 3)
STUDENT = torch.tensor([[0.0, 0.0, math.log(3)], [math.log(3), 0.0, 0.0]]).reshape(1, 2, 1, 3)
VALID = torch.tensor([[[True, True, False]]])
ABLATIONS = (
    'configs/farcluss/ablations/farcluss_deeplabv3plus_r18-w32-d8_1xb8+8-600it_farcluss-demo-'
)


@pytest.mark.parametrize(
    'threshold, expected_loss, used',
    [
        (0.95, LN4 / 2, 0.5),  # only p0 kept; divided by the 2 valid pixels
        (0.75, (LN4 + LN2) / 2, 1.0),  # p1's confidence equals the threshold: kept
        (None, (LN4 + LN2) / 2, 1.0),  # every valid pixel
    ],
)
def test_loss_and_stats_by_hand(threshold, expected_loss, used):
    loss_fn = HardPseudoLabelLoss(threshold=threshold, loss_weight=1.0)
    loss, stats = loss_fn.forward_with_stats(STUDENT, TEACHER, VALID)
    assert_close(loss, torch.tensor(expected_loss))
    assert_close(stats['used_ratio'], torch.tensor(used))
    assert_close(stats['weight_mean'], torch.tensor(used))
    assert stats['num_classes_present'].item() == 2  # classes 0 (p0) and 1 (p1); p2 is padding


def test_loss_weight_no_mask_and_name():
    loss_fn = HardPseudoLabelLoss(threshold=None, loss_weight=0.5)
    assert loss_fn.loss_name == 'loss_u'
    # All three pixels valid: 0.5 * (ln 4 + ln 2 + ln 4) / 3 = 0.5 * 5 ln 2 / 3.
    assert_close(loss_fn(STUDENT, TEACHER), torch.tensor(0.5 * 5 * LN2 / 3))


def test_gradient_only_on_kept_pixels_and_not_into_teacher():
    student = STUDENT.clone().requires_grad_(True)
    teacher = TEACHER.clone().requires_grad_(True)
    HardPseudoLabelLoss(threshold=0.95, loss_weight=1.0)(student, teacher, VALID).backward()
    # p0: (softmax - onehot(0)) / N_valid = ([1/4, 3/4] - [1, 0]) / 2; p1, p2: not kept.
    expected = torch.tensor([[-3 / 8, 0.0, 0.0], [3 / 8, 0.0, 0.0]]).reshape(1, 2, 1, 3)
    assert_close(student.grad, expected)
    assert teacher.grad is None


def test_no_valid_pixel_gives_zero_not_nan():
    student = STUDENT.clone().requires_grad_(True)
    loss, stats = HardPseudoLabelLoss().forward_with_stats(
        student, TEACHER, torch.zeros(1, 1, 3, dtype=torch.bool)
    )
    assert loss.item() == 0.0
    assert stats['used_ratio'].item() == 0.0
    assert stats['num_classes_present'].item() == 0
    loss.backward()
    assert torch.count_nonzero(student.grad).item() == 0


@pytest.mark.parametrize(
    'kwargs, message',
    [
        (dict(threshold=1.5), r'threshold must be a number in \[0.0, 1.0\] or None, got 1.5'),
        (dict(loss_weight=-1), r'loss_weight must be a number in \[0.0, inf\], got -1'),
        (dict(loss_name='u'), r"loss_name must be a str starting with 'loss_', got 'u'"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HardPseudoLabelLoss(**kwargs)


def test_bad_shapes():
    loss_fn = HardPseudoLabelLoss()
    with pytest.raises(ValueError, match=r'teacher_probs shape \(1, 2, 1, 2\) must equal'):
        loss_fn(STUDENT, TEACHER[..., :2])
    with pytest.raises(ValueError, match=r'valid_mask must be a bool tensor of shape \(1, 1, 3\)'):
        loss_fn(STUDENT, TEACHER, VALID.float())


@pytest.mark.parametrize('suffix, threshold', [('mean-teacher-ce', None), ('hard-threshold', 0.95)])
def test_baseline_configs_train_farcluss_without_its_parts(suffix, threshold):
    init_default_scope('mmseg')
    cfg = Config.fromfile(f'{ABLATIONS}1-16-96x96_{suffix}.py')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    assert isinstance(model.unsup_loss, HardPseudoLabelLoss)
    assert model.unsup_loss.threshold == threshold and model.unsup_loss.loss_weight == 0.5
    assert model.contrast_loss is None and not hasattr(model, 'projector')
    assert model.semi_train_cfg['feature_perturbation'] is False
    model.train()
    losses = model.loss(*_tiny_batch(model))
    assert {'loss_sup', 'loss_u', 'pl_used_ratio', 'pl_acc'} <= set(losses)
    assert 'loss_c' not in losses
    if threshold is None:
        assert losses['pl_used_ratio'].item() == 1.0
    assert torch.isfinite(sum(v for k, v in losses.items() if k.startswith('loss')))


def _tiny_batch(model, size=96):
    """One labeled and two unlabeled 96x96 images through the model's preprocessor."""
    g = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for i in range(3):
        image = torch.randint(0, 255, (3, size, size), generator=g, dtype=torch.uint8)
        meta = dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size))
        sample = SegDataSample(metainfo=meta)
        sample.gt_sem_seg = PixelData(data=torch.zeros(1, size, size, dtype=torch.long))
        if i:
            inputs.append(dict(weak=image, strong=torch.stack([image, 255 - image])))
            sample.valid_mask = PixelData(data=torch.ones(1, size, size, dtype=torch.bool))
        else:
            inputs.append(image)
        samples.append(sample)
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), True)
    return data['inputs'], data['data_samples']
