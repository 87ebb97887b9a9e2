"""``HardPseudoLabelLoss`` by hand, on pseudo-labels made as the hard-label mean teacher makes them.

Three pixels laid out as (1, 2, 1, 3), C = 2:

- p0: teacher [0.97, 0.03] -> class 0, confidence 0.97; student softmax [1/4, 3/4]: CE ln 4.
- p1: teacher [0.25, 0.75] -> class 1, confidence 0.75; student softmax [1/2, 1/2]: CE ln 2.
- p2: teacher [0.02, 0.98] -> class 1; student softmax [3/4, 1/4]: CE ln 4; p2 is padding.
"""

import math

import pytest
import torch
from torch.testing import assert_close

import farcluss_mmseg  # noqa: F401  (registers the plugin)
from farcluss_mmseg.models.losses import HardPseudoLabelLoss
from farcluss_mmseg.models.segmentors.hard_label_mean_teacher import hard_pseudo_labels

LN2, LN4 = math.log(2), math.log(4)
TEACHER = torch.tensor([[0.97, 0.25, 0.02], [0.03, 0.75, 0.98]]).reshape(1, 2, 1, 3)
STUDENT = torch.tensor([[0.0, 0.0, math.log(3)], [math.log(3), 0.0, 0.0]]).reshape(1, 2, 1, 3)
VALID = torch.tensor([[[True, True, False]]])
ALL_VALID = torch.ones(1, 1, 3, dtype=torch.bool)


@pytest.mark.parametrize(
    'threshold, expected_loss, used',
    [
        (0.95, LN4 / 2, 0.5),  # only p0 kept; divided by the 2 valid pixels
        (0.75, (LN4 + LN2) / 2, 1.0),  # p1's confidence equals the threshold: kept
        (None, (LN4 + LN2) / 2, 1.0),  # every valid pixel
    ],
)
def test_loss_and_stats_by_hand(threshold, expected_loss, used):
    loss_fn = HardPseudoLabelLoss(loss_weight=1.0)
    loss, stats = loss_fn.forward_with_stats(STUDENT, hard_pseudo_labels(TEACHER, VALID, threshold))
    assert_close(loss, torch.tensor(expected_loss))
    assert_close(stats['used_ratio'], torch.tensor(used))
    assert_close(stats['weight_mean'], torch.tensor(used))
    assert stats['num_classes_present'].item() == 2  # classes 0 (p0) and 1 (p1); p2 is padding


def test_loss_weight_no_mask_and_name():
    loss_fn = HardPseudoLabelLoss(loss_weight=0.5)
    assert loss_fn.loss_name == 'loss_u'
    # All three pixels valid: 0.5 * (ln 4 + ln 2 + ln 4) / 3 = 0.5 * 5 ln 2 / 3.
    pl = hard_pseudo_labels(TEACHER, ALL_VALID, None)
    assert_close(loss_fn(STUDENT, pl), torch.tensor(0.5 * 5 * LN2 / 3))


def test_gradient_only_on_kept_pixels_and_not_into_teacher():
    student = STUDENT.clone().requires_grad_(True)
    teacher = TEACHER.clone().requires_grad_(True)
    with torch.no_grad():  # as the segmentor makes them
        pl = hard_pseudo_labels(teacher, VALID, 0.95)
    HardPseudoLabelLoss(loss_weight=1.0)(student, pl).backward()
    # p0: (softmax - onehot(0)) / N_valid = ([1/4, 3/4] - [1, 0]) / 2; p1, p2: not kept.
    expected = torch.tensor([[-3 / 8, 0.0, 0.0], [3 / 8, 0.0, 0.0]]).reshape(1, 2, 1, 3)
    assert_close(student.grad, expected)
    assert teacher.grad is None


def test_no_valid_pixel_gives_zero_not_nan():
    student = STUDENT.clone().requires_grad_(True)
    pl = hard_pseudo_labels(TEACHER, torch.zeros(1, 1, 3, dtype=torch.bool), 0.95)
    loss, stats = HardPseudoLabelLoss().forward_with_stats(student, pl)
    assert loss.item() == 0.0
    assert stats['used_ratio'].item() == 0.0
    assert stats['num_classes_present'].item() == 0
    loss.backward()
    assert torch.count_nonzero(student.grad).item() == 0


@pytest.mark.parametrize(
    'kwargs, message',
    [
        (dict(loss_weight=-1), r'loss_weight must be a number in \[0.0, inf\], got -1'),
        (dict(loss_name='u'), r"loss_name must be a str starting with 'loss_', got 'u'"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HardPseudoLabelLoss(**kwargs)


def test_bad_shapes():
    loss_fn = HardPseudoLabelLoss()
    pl = hard_pseudo_labels(TEACHER[..., :2], VALID[..., :2], 0.95)
    with pytest.raises(ValueError, match=r'pseudo_labels.labels has shape \(1, 1, 2\), expected'):
        loss_fn(STUDENT, pl)
    pl = hard_pseudo_labels(TEACHER, VALID, 0.95)
    pl.used = pl.used.float()
    with pytest.raises(ValueError, match='pseudo_labels.used must be bool'):
        loss_fn(STUDENT, pl)
