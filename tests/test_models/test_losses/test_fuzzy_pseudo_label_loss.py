"""Tests of eq. 2-8: fuzzy pseudo-labels, entropy, class weights and ``FuzzyPseudoLabelLoss``.

Pixels are laid out as (1, C, 1, P) tensors built from per-pixel lists, so every expected value
below is written out by hand from the paper's formulas.
"""

import math

import pytest
import torch
from mmseg.registry import MODELS
from torch.testing import assert_close

import farcluss_mmseg  # noqa: F401  (registers the plugin)
from farcluss_mmseg.models.losses import (
    FuzzyPseudoLabelLoss,
    class_pixel_counts,
    fuzzy_pseudo_labels,
    normalized_entropy,
)
from farcluss_mmseg.models.losses import class_rebalance_weights as weights_from_counts
from farcluss_mmseg.models.segmentors.farcluss import farcluss_pseudo_labels

LN43 = math.log(4 / 3)
EPS = 1e-6


class FuzzyLoss:
    """``FuzzyPseudoLabelLoss`` on teacher probabilities: the pseudo-labels made as FARCLUSS
    makes them (eq. 2-3, 5-6, :func:`farcluss_pseudo_labels`), then the loss (eq. 7-8)."""

    def __init__(self, top_k=2, entropy_threshold=0.7, entropy_weight=True, **kwargs):
        self.pl_args = (top_k, entropy_threshold, entropy_weight)
        self.loss = FuzzyPseudoLabelLoss(**kwargs)

    def forward_with_stats(self, student, teacher, valid=None):
        if valid is None:
            valid = torch.ones_like(teacher[:, 0], dtype=torch.bool)
        pl = farcluss_pseudo_labels(teacher.detach(), valid, *self.pl_args)
        return self.loss.forward_with_stats(student, pl)

    def __call__(self, student, teacher, valid=None):
        return self.forward_with_stats(student, teacher, valid)[0]


def class_rebalance_weights(labels, num_classes, valid_mask=None, **kwargs):
    """Eq. 7 from labels: the counts F_c, then the weights."""
    return weights_from_counts(class_pixel_counts(labels, num_classes, valid_mask), **kwargs)


def dense(values_classes, num_classes):
    """The (N, C, H, W) fuzzy label of :func:`fuzzy_pseudo_labels`' sparse output."""
    values, classes = values_classes
    out = torch.zeros(values.shape[0], num_classes, *values.shape[2:])
    return out.scatter_(1, classes, values)


def pixels(*dists):
    """(1, C, 1, P) tensor whose pixel p holds the distribution dists[p]."""
    return torch.tensor(dists, dtype=torch.float32).t().reshape(1, len(dists[0]), 1, len(dists))


def entropy(*probs):
    """Normalised entropy by hand: -sum p ln p / ln C, with 0 ln 0 = 0."""
    return -sum(p * math.log(p) for p in probs if p > 0) / math.log(len(probs))


# Pixel A: teacher [0.6, 0.3, 0.1], student softmax [0.5, 0.25, 0.25].
# K=2: p_fuzzy = [0.6/0.9, 0.3/0.9, 0] = [2/3, 1/3, 0].
# KL terms: 2/3 ln((2/3)/0.5) = 2/3 ln(4/3) and 1/3 ln((1/3)/0.25) = 1/3 ln(4/3); class 2: 0.
# H_A = -(0.6 ln 0.6 + 0.3 ln 0.3 + 0.1 ln 0.1) / ln 3 = 0.8174 (> 0.7), W_A = 0.1826.
TEACHER_A = (0.6, 0.3, 0.1)
STUDENT_A = (math.log(0.5), math.log(0.25), math.log(0.25))
W_A = 1 - entropy(*TEACHER_A)
# Pixel B: teacher one-hot [0, 1, 0] (H = 0, W = 1), same student: KL = 1 * ln(1 / 0.25) = ln 4.
TEACHER_B = (0.0, 1.0, 0.0)


# ---------------------------------------------------------------- eq. 2-3
def test_fuzzy_pseudo_labels_k1_k2_kC():
    probs = pixels((0.5, 0.3, 0.2), (0.1, 0.2, 0.7))
    # k=1: one-hot at the argmax.
    assert_close(dense(fuzzy_pseudo_labels(probs, 1), 3), pixels((1.0, 0, 0), (0, 0, 1.0)))
    # k=2: [0.5, 0.3] / 0.8 = [0.625, 0.375]; [0.2, 0.7] / 0.9 = [2/9, 7/9], top-1 first.
    values, classes = fuzzy_pseudo_labels(probs, 2)
    assert_close(values, pixels((0.625, 0.375), (7 / 9, 2 / 9)))
    assert torch.equal(classes, pixels((0, 1), (2, 1)).long())
    # k=C: the input itself.
    assert_close(dense(fuzzy_pseudo_labels(probs, 3), 3), probs)


@pytest.mark.parametrize('k', [0, 4, 1.5, True])
def test_fuzzy_pseudo_labels_bad_k(k):
    with pytest.raises(ValueError, match=r'top_k must be an int in \[1, C=3\]'):
        fuzzy_pseudo_labels(pixels((0.5, 0.3, 0.2)), k)


# ---------------------------------------------------------------- eq. 5
def test_normalized_entropy_uniform_onehot_half():
    # uniform over 4: ln4/ln4 = 1; one-hot: 0 (0 ln 0 = 0, no NaN); [.5,.5,0,0]: ln2/ln4 = 0.5.
    probs = pixels((0.25,) * 4, (1.0, 0.0, 0.0, 0.0), (0.5, 0.5, 0.0, 0.0))
    out = normalized_entropy(probs)
    assert out.shape == (1, 1, 3)
    assert_close(out, torch.tensor([[[1.0, 0.0, 0.5]]]))


def test_normalized_entropy_needs_two_classes():
    with pytest.raises(ValueError, match='at least 2 classes'):
        normalized_entropy(torch.ones(1, 1, 2, 2))


# ---------------------------------------------------------------- eq. 7
# Two images of 1x3 pixels, labels [0, 0, 0] and [0, 1, 1]: F = [4, 2, 0, 0, 0] (C=5).
LABELS = torch.tensor([[[0, 0, 0]], [[0, 1, 1]]])


def test_class_weights_median_present():
    # Present classes {4, 2}: lower middle = 2 (as torch.median). w = 2 / (F + eps):
    # [2/4, 2/2, 2/eps -> clip 10, 10, 10].
    weights = class_rebalance_weights(LABELS, 5)
    assert_close(weights, torch.tensor([2 / (4 + EPS), 2 / (2 + EPS), 10.0, 10.0, 10.0]))
    assert torch.median(torch.tensor([4.0, 2.0])) == 2  # the convention used


def test_class_weights_median_present_odd_count():
    # F = [3, 2, 1]: median 2, w = [2/3, 1, 2].
    labels = torch.tensor([[[0, 0, 0, 1, 1, 2]]])
    expected = torch.tensor([2 / (3 + EPS), 2 / (2 + EPS), 2 / (1 + EPS)])
    assert_close(class_rebalance_weights(labels, 3), expected)


def test_class_weights_median_all_is_zero():
    # Literal eq. 7: median of [4, 2, 0, 0, 0] is 0, so every weight is 0.
    weights = class_rebalance_weights(LABELS, 5, median_over='all')
    assert torch.equal(weights, torch.zeros(5))


def test_class_weights_no_clip_and_valid_mask():
    # No clip: absent classes get 2 / 1e-6 = 2e6.
    weights = class_rebalance_weights(LABELS, 5, max_weight=None)
    assert_close(weights[2:], torch.full((3,), 2 / EPS))
    # Masking two class-0 pixels: F = [2, 2, 0, 0, 0], median 2, w = [1, 1, 10, 10, 10].
    valid = torch.tensor([[[True, False, False]], [[True, True, True]]])
    weights = class_rebalance_weights(LABELS, 5, valid_mask=valid)
    assert_close(weights, torch.tensor([2 / (2 + EPS), 2 / (2 + EPS), 10.0, 10.0, 10.0]))


def test_class_weights_no_valid_pixel():
    weights = class_rebalance_weights(LABELS, 5, valid_mask=torch.zeros(2, 1, 3, dtype=torch.bool))
    assert torch.equal(weights, torch.zeros(5))


def test_class_weights_bad_median_over():
    with pytest.raises(ValueError, match=r"median_over must be one of \('present', 'all'\)"):
        class_rebalance_weights(LABELS, 5, median_over='mean')


# ---------------------------------------------------------------- eq. 8
def test_second_choice_class_is_clipped_and_loss_finite():
    # METHOD step 5: two A pixels, top-1 class 0 for both, class 1 only a 2nd choice.
    # F = [2, 0, 0], median 2: w = [2/(2+eps), 2/eps -> 10, 10].
    teacher, student = pixels(TEACHER_A, TEACHER_A), pixels(STUDENT_A, STUDENT_A)
    loss_fn = FuzzyLoss(entropy_threshold=None)
    loss, stats = loss_fn.forward_with_stats(student, teacher)
    w0 = 2 / (2 + EPS)
    weights = class_rebalance_weights(teacher.argmax(1), 3)
    assert weights[1] == 10.0 and weights[2] == 10.0  # exactly the clip
    assert_close(weights[0], torch.tensor(w0))
    # The stats cover the classes present only: class 0.
    assert stats['num_classes_present'] == 1
    assert_close(stats['class_weight_max'], torch.tensor(w0))
    # L = 0.5 * 1/2 * 2 * W_A * (w0 * 2/3 + 10 * 1/3) ln(4/3)
    expected = 0.5 * W_A * (w0 * 2 / 3 + 10 / 3) * LN43
    assert_close(loss, torch.tensor(expected))
    # Without the clip the 2nd-choice term carries 2e6.
    unclipped = FuzzyLoss(entropy_threshold=None, max_class_weight=None)
    assert_close(
        unclipped(student, teacher), torch.tensor(0.5 * W_A * (w0 * 2 / 3 + 2e6 / 3) * LN43)
    )


@pytest.mark.parametrize(
    'mode, pixel_loss',
    [
        # eq. 8: w_c inside the class sum.
        ('per_class', (2 / (2 + EPS)) * 2 / 3 * LN43 + 10 * 1 / 3 * LN43),
        # pseudocode: the pixel's whole KL (ln 4/3) times w of its top-1 class (class 0).
        ('top1', (2 / (2 + EPS)) * LN43),
        ('none', LN43),
    ],
)
def test_class_weight_modes(mode, pixel_loss):
    teacher, student = pixels(TEACHER_A, TEACHER_A), pixels(STUDENT_A, STUDENT_A)
    loss = FuzzyLoss(entropy_threshold=None, class_weight_mode=mode)(student, teacher)
    assert_close(loss, torch.tensor(0.5 * W_A * pixel_loss))


def test_zero_fuzzy_terms_contribute_zero():
    # One-hot teacher [0, 1, 0], K=2 keeps class 1 and a class with p_fuzzy = 0, whose student
    # log-probability is -inf: 0 * (-inf) must count 0. Student [0, 0.5, 0.5]: KL = ln 2.
    teacher = pixels(TEACHER_B)
    student = pixels((-math.inf, math.log(0.5), math.log(0.5))).requires_grad_()
    loss = FuzzyLoss(class_weight_mode='none')(student, teacher)
    assert_close(loss, torch.tensor(0.5 * math.log(2)))
    loss.backward()
    assert not student.grad.isnan().any()


def test_valid_mask_and_n_valid():
    # Pixels A, A, B, mode 'none', no entropy cut: pixel losses W_A ln(4/3) (x2) and ln 4.
    teacher = pixels(TEACHER_A, TEACHER_A, TEACHER_B)
    student = pixels(STUDENT_A, STUDENT_A, STUDENT_A)
    loss_fn = FuzzyLoss(entropy_threshold=None, class_weight_mode='none')
    a, b = W_A * LN43, math.log(4)
    assert_close(loss_fn(student, teacher), torch.tensor(0.5 * (2 * a + b) / 3))
    # Masking B: N_valid = 2.
    valid = torch.tensor([[[True, True, False]]])
    assert_close(loss_fn(student, teacher, valid), torch.tensor(0.5 * 2 * a / 2))
    # Masking one A: N_valid = 2.
    valid = torch.tensor([[[False, True, True]]])
    assert_close(loss_fn(student, teacher, valid), torch.tensor(0.5 * (a + b) / 2))
    # Nothing valid: exactly 0, no NaN.
    loss, stats = loss_fn.forward_with_stats(student, teacher, torch.zeros(1, 1, 3, dtype=bool))
    assert loss == 0
    assert stats['class_weight_max'] == 0 and stats['num_classes_present'] == 0


def test_entropy_threshold_drops_pixel():
    # H_A = 0.817 > 0.7: both A pixels leave the sum, N_valid stays 3.
    teacher = pixels(TEACHER_A, TEACHER_A, TEACHER_B)
    student = pixels(STUDENT_A, STUDENT_A, STUDENT_A)
    loss_fn = FuzzyLoss(entropy_threshold=0.7, class_weight_mode='none')
    loss, stats = loss_fn.forward_with_stats(student, teacher)
    assert_close(loss, torch.tensor(0.5 * math.log(4) / 3))
    assert_close(stats['used_ratio'], torch.tensor(1 / 3))
    assert_close(stats['weight_mean'], torch.tensor((2 * W_A + 1) / 3))
    # A threshold above H_A keeps them: 0.5 * (2 W_A ln(4/3) + ln 4) / 3.
    loss = FuzzyLoss(entropy_threshold=0.82, class_weight_mode='none')(student, teacher)
    assert_close(loss, torch.tensor(0.5 * (2 * W_A * LN43 + math.log(4)) / 3))


def test_entropy_weight_off_uses_w_equal_one():
    # Same pixels A, A, B without the threshold: W = 1 everywhere, so the pixel losses are
    # ln(4/3) (x2) and ln 4 instead of W_A ln(4/3); the stats report W = 1.
    teacher = pixels(TEACHER_A, TEACHER_A, TEACHER_B)
    student = pixels(STUDENT_A, STUDENT_A, STUDENT_A)
    loss_fn = FuzzyLoss(entropy_threshold=None, entropy_weight=False, class_weight_mode='none')
    loss, stats = loss_fn.forward_with_stats(student, teacher)
    assert_close(loss, torch.tensor(0.5 * (2 * LN43 + math.log(4)) / 3))
    assert_close(stats['weight_mean'], torch.tensor(1.0))


def test_class_counts_include_pixels_above_the_entropy_threshold():
    # Pixels A, B, B, default threshold 0.7: A is left out of the sum but still counted in F.
    # Top-1 classes [0, 1, 1]: F = [1, 2, 0], median of {1, 2} = 1, w_1 = 1/(2+eps).
    # Each B pixel: w_1 * ln 4. L = 0.5 * 2 * w_1 ln 4 / 3. (Counting only used pixels would
    # give F = [0, 2, 0], w_1 = 2/(2+eps), twice this.)
    teacher = pixels(TEACHER_A, TEACHER_B, TEACHER_B)
    student = pixels(STUDENT_A, STUDENT_A, STUDENT_A)
    loss, stats = FuzzyLoss().forward_with_stats(student, teacher)
    assert_close(loss, torch.tensor(0.5 * 2 * math.log(4) / (2 + EPS) / 3))
    assert stats['num_classes_present'] == 2
    assert_close(stats['class_weight_min'], torch.tensor(1 / (2 + EPS)))
    assert_close(stats['class_weight_max'], torch.tensor(1 / (1 + EPS)))


def test_stats_are_detached_scalars():
    teacher = pixels(TEACHER_A, TEACHER_B)
    student = pixels(STUDENT_A, STUDENT_A).requires_grad_()
    _, stats = FuzzyLoss().forward_with_stats(student, teacher)
    assert sorted(stats) == [
        'class_weight_max',
        'class_weight_min',
        'num_classes_present',
        'used_ratio',
        'weight_mean',
    ]
    assert all(v.dim() == 0 and not v.requires_grad for v in stats.values())
    # Top-1 classes 0 (A) and 1 (B): F = [1, 1, 0], median 1, w = 1/(1+eps) for both.
    assert stats['num_classes_present'] == 2
    assert_close(stats['class_weight_min'], torch.tensor(1 / (1 + EPS)))
    assert_close(stats['class_weight_max'], torch.tensor(1 / (1 + EPS)))


def test_gradient_to_student_only():
    # One pixel, C=2, K=2: p_fuzzy = teacher = [0.75, 0.25], student logits 0 -> p_S = [.5, .5].
    # F = [1, 0]: w = [1/(1+eps), 10]; a_c = w_c p_fuzzy_c = [0.75 w0, 2.5].
    # dL/ds_j = 0.5 W (p_S_j sum(a) - a_j):
    #   ds_0 = 0.5 W (0.5 (0.75 w0 + 2.5) - 0.75 w0) = 0.5 W (1.25 - 0.375 w0)
    #   ds_1 = -ds_0. Eq. 8 pushes the student towards the rare 2nd choice (ds_1 < 0).
    teacher = pixels((0.75, 0.25)).requires_grad_()
    student = torch.zeros(1, 2, 1, 1, requires_grad=True)
    FuzzyLoss(entropy_threshold=None)(student, teacher).backward()
    w0, weight = 1 / (1 + EPS), 1 - entropy(0.75, 0.25)
    ds0 = 0.5 * weight * (1.25 - 0.375 * w0)
    assert_close(student.grad, torch.tensor([ds0, -ds0]).reshape(1, 2, 1, 1))
    assert teacher.grad is None


# ---------------------------------------------------------------- config and inputs
def test_build_from_registry():
    loss_fn = MODELS.build(
        dict(type='FuzzyPseudoLabelLoss', class_weight_mode='top1', loss_name='loss_fuzzy')
    )
    assert isinstance(loss_fn, FuzzyPseudoLabelLoss)
    assert loss_fn.class_weight_mode == 'top1' and loss_fn.loss_name == 'loss_fuzzy'
    # K and the entropy threshold define the pseudo-labels: FARCLUSS's semi_train_cfg keys.
    with pytest.raises(TypeError, match='unexpected keyword argument'):
        MODELS.build(dict(type='FuzzyPseudoLabelLoss', top_k=2))


@pytest.mark.parametrize(
    'kwargs, message',
    [
        (dict(median_over='mean'), r"median_over must be one of \('present', 'all'\)"),
        (dict(max_class_weight=-1), 'max_class_weight must be a number in'),
        (dict(class_weight_mode='pixel'), r"class_weight_mode must be one of \('per_class'"),
        (dict(loss_weight='0.5'), 'loss_weight must be a number in'),
        (dict(eps=0), 'eps must be a number in'),
        (dict(loss_name='unsup'), "loss_name must be a str starting with 'loss_'"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FuzzyPseudoLabelLoss(**kwargs)


def test_bad_inputs():
    loss_fn = FuzzyPseudoLabelLoss()
    student = torch.zeros(1, 3, 2, 2)
    pl = farcluss_pseudo_labels(torch.full((1, 3, 4, 4), 1 / 3), torch.ones(1, 4, 4).bool())
    with pytest.raises(ValueError, match=r'pseudo_labels.labels has shape \(1, 4, 4\), expected'):
        loss_fn(student, pl)
    pl = farcluss_pseudo_labels(torch.full((1, 3, 2, 2), 1 / 3), torch.ones(1, 2, 2).bool())
    pl.valid = pl.valid.float()
    with pytest.raises(ValueError, match='pseudo_labels.valid must be bool'):
        loss_fn(student, pl)
    pl.valid, pl.fuzzy = pl.valid.bool(), None
    with pytest.raises(ValueError, match='needs pseudo_labels.fuzzy and fuzzy_classes'):
        loss_fn(student, pl)
    with pytest.raises(ValueError, match=r'student_logits must be \(N, C, H, W\)'):
        loss_fn(student[0], pl)
