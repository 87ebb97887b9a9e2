"""Tests of eq. 9-10: ``PrototypeContrastiveLoss`` on hand-computed 2-D embeddings."""

import math

import pytest
import torch
from mmseg.registry import MODELS
from torch.testing import assert_close

import farcluss_mmseg  # noqa: F401  (registers the plugin)
from farcluss_mmseg.models.losses import PrototypeContrastiveLoss


def row(*vectors):
    """(1, D, 1, P) embeddings whose pixel p is vectors[p]."""
    return torch.tensor(vectors).t().reshape(1, len(vectors[0]), 1, len(vectors))


# Pixels (class, weight): three classes, C=3.
#   f0 = (1, 0)    class 0, 0.9      f1 = (0, 1)    class 0, 0.9
#   f2 = (1, 0)    class 1, 0.9      f3 = f4 = (0.6, 0.8)  class 1, 0.9
#   f5 = (-1, 0)   class 0, 0.5  -> not confident (the test is W > 0.5), must not matter
#   f6 = (0, -1)   class 2, 0.3  -> not confident, class 2 is absent
# Class 0: prototype (0.5, 0.5), cos = 0.5 / (1/sqrt 2) = 1/sqrt 2 for both pixels:
#   mean (1 - cos) = 1 - 1/sqrt 2 = 0.29289.
# Class 1: prototype (2.2/3, 1.6/3), |proto| = sqrt(7.4/9); for unit pixels the mean cosine
#   is f_i . proto / |proto| averaged = |proto|: mean (1 - cos) = 1 - sqrt(7.4/9) = 0.09324.
# L_c = 0.1 * (0.29289 + 0.09324) / 2 (mean over the 2 classes present) = 0.019306.
# (The pseudocode's mean over the 5 pixels would give 0.1 * (2*0.29289 + 3*0.09324) / 5.)
EMBEDDINGS = row((1, 0), (0, 1), (1, 0), (0.6, 0.8), (0.6, 0.8), (-1, 0), (0, -1))
LABELS = torch.tensor([[[0, 0, 1, 1, 1, 0, 2]]])
WEIGHTS = torch.tensor([[[0.9, 0.9, 0.9, 0.9, 0.9, 0.5, 0.3]]])
EXPECTED = 0.1 * ((1 - 1 / math.sqrt(2)) + (1 - math.sqrt(7.4 / 9))) / 2


@pytest.mark.parametrize('detach', [True, False])
def test_value_mean_over_classes_present(detach):
    loss_fn = PrototypeContrastiveLoss(num_classes=3, detach_prototypes=detach)
    assert_close(loss_fn(EMBEDDINGS, LABELS, WEIGHTS), torch.tensor(EXPECTED))


def test_no_confident_pixel_is_zero_and_differentiable():
    embeddings = EMBEDDINGS.clone().requires_grad_()
    loss = PrototypeContrastiveLoss(num_classes=3)(embeddings, LABELS, torch.full((1, 1, 7), 0.2))
    assert loss == 0
    loss.backward()
    assert torch.equal(embeddings.grad, torch.zeros_like(embeddings))


def _grads(embeddings, detach):
    embeddings = embeddings.clone().requires_grad_()
    loss_fn = PrototypeContrastiveLoss(num_classes=1, detach_prototypes=detach)
    loss_fn(embeddings, torch.zeros(1, 1, 2, dtype=torch.long), torch.ones(1, 1, 2)).backward()
    return embeddings.grad


def test_detach_prototypes_changes_gradient_of_unnormalised_embeddings():
    # One class, f0 = (2, 0), f1 = (0, 1): m = (1, 0.5), m^ = (2, 1)/sqrt 5,
    # cos0 = 2/sqrt 5, cos1 = 1/sqrt 5, L = 0.1 * mean_i (1 - cos(f_i, m)).
    # Detached: dL/df_i = -0.05 (m^ - cos_i f^_i) / |f_i|
    #   f0: -0.05 * (0, 1/sqrt 5) / 2 = (0, -0.0111803); f1: (-0.05 * 2/sqrt 5, 0) = (-0.0447214, 0)
    # Not detached adds -0.05 * 1/2 * sum_i (f^_i - cos_i m^) / |m|
    #   = -0.025 * ((1, 1) - (3/sqrt 5)(2, 1)/sqrt 5) / (sqrt 5 / 2) = (0.0044721, -0.0089443)
    embeddings = row((2.0, 0.0), (0.0, 1.0))
    detached = torch.tensor([[0.0, -0.0447214], [-0.0111803, 0.0]]).reshape(1, 2, 1, 2)
    extra = torch.tensor([0.0044721, -0.0089443]).reshape(1, 2, 1, 1)
    assert_close(_grads(embeddings, True), detached, rtol=0, atol=1e-6)
    assert_close(_grads(embeddings, False), detached + extra, rtol=0, atol=1e-6)


def test_detach_prototypes_same_gradient_for_unit_embeddings():
    # For unit f_i the prototype path is (I - u u^T) sum_i f_i / (n |m|) = 0 (sum f_i || u).
    embeddings = row((1.0, 0.0), (0.6, 0.8))
    assert_close(_grads(embeddings, True), _grads(embeddings, False))


def test_build_from_registry():
    loss_fn = MODELS.build(dict(type='PrototypeContrastiveLoss', num_classes=21))
    assert isinstance(loss_fn, PrototypeContrastiveLoss)
    assert loss_fn.num_classes == 21 and loss_fn.detach_prototypes is True
    assert loss_fn.loss_name == 'loss_c'


@pytest.mark.parametrize(
    'kwargs, message',
    [
        (dict(num_classes=0), 'num_classes must be an int >= 1, got 0'),
        (dict(num_classes=3, confidence_threshold=1.5), 'confidence_threshold must be a number'),
        (dict(num_classes=3, detach_prototypes='yes'), 'detach_prototypes must be True or False'),
        (dict(num_classes=3, loss_weight=-0.1), 'loss_weight must be a number in'),
        (dict(num_classes=3, eps=0), 'eps must be a number in'),
        (dict(num_classes=3, loss_name='contrast'), 'loss_name must be a str starting with'),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PrototypeContrastiveLoss(**kwargs)


def test_bad_inputs():
    loss_fn = PrototypeContrastiveLoss(num_classes=3)
    with pytest.raises(
        ValueError, match=r'pseudo_labels must be a long tensor of shape \(1, 1, 7\)'
    ):
        loss_fn(EMBEDDINGS, LABELS.float(), WEIGHTS)
    with pytest.raises(ValueError, match=r'pixel_weights must have shape \(1, 1, 7\)'):
        loss_fn(EMBEDDINGS, LABELS, WEIGHTS[0])
    with pytest.raises(ValueError, match=r'embeddings must be \(N, D, h, w\)'):
        loss_fn(EMBEDDINGS[0], LABELS, WEIGHTS)
