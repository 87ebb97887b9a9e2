"""FARCLUSS's own steps: its pseudo-labels (eq. 2-6), feature dropout, projector, losses."""

import math

import pytest
import torch
from torch.testing import assert_close

from farcluss_mmseg.models.segmentors.farcluss import farcluss_pseudo_labels


def entropy(*probs):
    return -sum(p * math.log(p) for p in probs if p > 0) / math.log(len(probs))


def test_pseudo_labels_by_hand():
    """Pixels [0.6, 0.3, 0.1] (H = 0.817) and [0.1, 0.2, 0.7] (H = 0.728), the second padding.
    K = 2: [2/3, 1/3] of classes (0, 1) and [7/9, 2/9] of classes (2, 1); W = 1 - H; with the
    0.7 threshold neither pixel is used (both H > 0.7); with 0.8 only the second would be, but
    it is padding."""
    probs = torch.tensor([[0.6, 0.1], [0.3, 0.2], [0.1, 0.7]]).reshape(1, 3, 1, 2)
    valid = torch.tensor([[[True, False]]])
    pl = farcluss_pseudo_labels(probs, valid, top_k=2, entropy_threshold=0.7)
    assert_close(pl.fuzzy, torch.tensor([[2 / 3, 7 / 9], [1 / 3, 2 / 9]]).reshape(1, 2, 1, 2))
    assert pl.fuzzy_classes.flatten().tolist() == [0, 2, 1, 1]
    assert pl.labels.flatten().tolist() == [0, 2]
    h = [entropy(0.6, 0.3, 0.1), entropy(0.1, 0.2, 0.7)]
    assert_close(pl.entropy, torch.tensor([[h]]))
    assert_close(pl.weight, torch.tensor([[[1 - h[0], 1 - h[1]]]]))
    assert pl.used.flatten().tolist() == [False, False]
    pl = farcluss_pseudo_labels(probs, valid, top_k=2, entropy_threshold=0.8)
    assert pl.used.flatten().tolist() == [False, False]
    pl = farcluss_pseudo_labels(probs, torch.ones_like(valid), 2, 0.8, entropy_weight=False)
    assert pl.used.flatten().tolist() == [False, True]
    assert pl.weight.flatten().tolist() == [1.0, 1.0]  # the ablation without eq. 6


@pytest.mark.parametrize('entropy_weight', [True, False])
def test_one_pseudo_label_object_reaches_both_losses(build, semi_batch, entropy_weight):
    """L_c's pixel weights are the pseudo-labels' W at the embeddings' resolution, so
    entropy_weight=False (W = 1) reaches L_c too, not only L_u."""
    model = build('FARCLUSS', semi_train_cfg=dict(entropy_weight=entropy_weight))
    model.train()
    seen = {}
    original = model.contrast_loss.forward

    def record(embeddings, labels, weights):
        seen['c'] = (labels, weights)
        return original(embeddings, labels, weights)

    model.contrast_loss.forward = record
    data = model.data_preprocessor(semi_batch(), True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert {'loss_u', 'loss_c'} <= set(losses)
    labels, weights = seen['c']
    if entropy_weight:
        assert weights.max() < 1.0  # 1 - H of a trained-from-scratch teacher
    else:
        # Valid pixels weigh 1, padding 0: the bottom half of each unlabeled image is padding.
        assert set(weights.unique().tolist()) == {0.0, 1.0}
    assert labels.dtype == torch.long


def test_loss_items(build, semi_batch):
    model = build('FARCLUSS')
    model.train()
    data = model.data_preprocessor(semi_batch(), True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert set(losses) == {
        'decode.loss_ce',
        'decode.acc_seg',
        'loss_u',
        'loss_c',
        'pl_weight_mean',
        'pl_used_ratio',
        'pl_num_classes_present',
        'pl_class_weight_min',
        'pl_class_weight_max',
        'pl_acc',
        'pl_used_acc',
    }
    # The unlabeled images' labels are all class 0 and their top half is valid: pl_acc (%) is
    # the share of the teacher's top-1 labels there that are 0.
    with torch.no_grad():
        pl = model.predict_pseudo_labels(
            data['inputs']['weak'], torch.ones(2, 32, 32, dtype=torch.bool)
        )
    expected = 100 * (pl.labels[:, :16] == 0).float().mean()
    assert_close(losses['pl_acc'], expected)
    assert 0 <= losses['pl_used_ratio'].item() <= 100


def test_complementary_channel_dropout(build):
    feat = torch.ones(1 + 2 * 3, 10, 2, 2)  # 1 labeled, 3 unlabeled x 2 views
    torch.manual_seed(0)
    out = build('FARCLUSS').perturb_features(feat, num_sup=1, num_views=2)
    assert torch.equal(out[0], feat[0])  # labeled images untouched
    view1, view2 = out[1:4], out[4:7]
    assert set(view1.unique().tolist()) == {0.0, 2.0}  # inverted-dropout scaling
    assert torch.equal(view1 + view2, torch.full_like(view1, 2.0))  # kept in 1 <=> dropped in 2
    off = build('FARCLUSS', semi_train_cfg=dict(feature_perturbation=False))
    assert off.perturb_features(feat, 1, 2) is feat


def test_projector_is_built_from_its_config(build):
    # decoder features of 16 channels: 16 -> 16 -> 128 by default, 16 -> 8 -> 8 for embed_dim 8
    for embed_dim, widths in ((128, (16, 16, 128)), (8, (16, 8, 8))):
        model = build('FARCLUSS', projector=dict(type='ProjectionHead', embed_dim=embed_dim))
        first, last = model.projector[0].conv, model.projector[1]
        assert (first.in_channels, first.out_channels, last.out_channels) == widths
    assert not hasattr(build('FARCLUSS', contrast_loss=None), 'projector')


@pytest.mark.parametrize(
    'cfg, match',
    [
        (dict(top_k=0), r'semi_train_cfg.top_k must be an int in \[1, 3\]'),
        (dict(top_k=4), r'semi_train_cfg.top_k must be an int in \[1, 3\]'),
        (dict(entropy_threshold=1.5), r'semi_train_cfg.entropy_threshold must be a number'),
        (dict(entropy_weight='yes'), r'semi_train_cfg.entropy_weight must be True or False'),
        (dict(embed_dim=64), r"\['embed_dim'\] in model.semi_train_cfg"),
    ],
)
def test_bad_semi_train_cfg(build, cfg, match):
    with pytest.raises((ValueError, KeyError), match=match):
        build('FARCLUSS', semi_train_cfg=cfg)
