"""MeanTeacherSegmentor and FARCLUSS on a tiny DeepLabV3+ (CPU, a few ms per call)."""

import copy

import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from farcluss_mmseg.models.segmentors import farcluss as farcluss_module

NUM_CLASSES = 3
NORM = dict(type='BN', requires_grad=True)
SEGMENTOR = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor', mean=[0, 0, 0], std=[1, 1, 1], size=(32, 32), seg_pad_val=255
    ),
    backbone=dict(
        type='ResNetV1c',
        depth=18,
        stem_channels=8,
        base_channels=8,
        out_indices=(0, 1, 2, 3),
        dilations=(1, 1, 2, 4),
        strides=(1, 2, 1, 1),
        norm_cfg=NORM,
        contract_dilation=True,
    ),
    decode_head=dict(
        type='DepthwiseSeparableASPPHead',
        in_channels=64,
        in_index=3,
        channels=16,
        dilations=(1, 2),
        c1_in_channels=8,
        c1_channels=8,
        dropout_ratio=0.0,
        num_classes=NUM_CLASSES,
        norm_cfg=NORM,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0),
    ),
    test_cfg=dict(mode='whole'),
)


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')  # what a config's default_scope does in the Runner


def build(**kwargs):
    torch.manual_seed(0)
    cfg = dict(type='FARCLUSS', segmentor=ConfigDict(copy.deepcopy(SEGMENTOR)), **kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def semi_batch(num_sup=2, num_unsup=2, size=32, with_gt=True):
    """A batch as PackSegInputs (labeled) and PackSemiInputs (unlabeled) produce it."""
    g = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(num_sup):
        inputs.append(torch.randint(0, 255, (3, size, size), generator=g, dtype=torch.uint8))
        s = SegDataSample(
            metainfo=dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size))
        )
        s.gt_sem_seg = PixelData(data=torch.randint(0, NUM_CLASSES, (1, size, size), generator=g))
        samples.append(s)
    for _ in range(num_unsup):
        weak = torch.randint(0, 255, (3, size, size), generator=g, dtype=torch.uint8)
        inputs.append(dict(weak=weak, strong=torch.stack([weak, 255 - weak])))
        s = SegDataSample(
            metainfo=dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size))
        )
        valid = torch.ones(1, size, size, dtype=torch.bool)
        valid[:, size // 2 :] = False  # bottom half is padding
        s.valid_mask = PixelData(data=valid)
        if with_gt:
            s.gt_sem_seg = PixelData(data=torch.zeros(1, size, size, dtype=torch.long))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def test_teacher_starts_as_copy_and_never_trains():
    model = build()
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


def test_loss_keys_values_and_gradients_reach_the_student_only():
    model = build()
    model.train()
    data = model.data_preprocessor(semi_batch(), True)
    assert data['inputs']['sup'].shape == (2, 3, 32, 32)
    assert data['inputs']['strong'].shape == (2, 2, 3, 32, 32)  # (views, B_u, ...)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert {'loss_sup', 'loss_u', 'loss_c'} <= set(losses)
    assert {
        'pl_weight_mean',
        'pl_used_ratio',
        'pl_num_classes_present',
        'pl_class_weight_min',
        'pl_class_weight_max',
        'pl_acc',
    } <= set(losses)
    # Monitoring: pl_acc is the share of valid unlabeled pixels whose teacher argmax is class 0.
    with torch.no_grad():
        probs = model._teacher_probs(data['inputs']['weak'])
    expected_acc = (probs.argmax(1)[:, :16] == 0).float().mean()
    torch.testing.assert_close(losses['pl_acc'], expected_acc)
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    assert torch.isfinite(total)
    total.backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    grads = [p.grad for p in model.student.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0
    assert all(p.grad is not None for p in model.projector.parameters())


def test_complementary_channel_dropout():
    feat = torch.ones(1 + 2 * 3, 10, 2, 2)  # 1 labeled, 3 unlabeled x 2 views
    torch.manual_seed(0)
    out = build()._complementary_dropout(feat, num_sup=1, num_unsup=3, num_views=2)
    assert torch.equal(out[0], feat[0])  # labeled images untouched
    view1, view2 = out[1:4], out[4:7]
    assert set(view1.unique().tolist()) == {0.0, 2.0}  # inverted-dropout scaling
    assert torch.equal(view1 + view2, torch.full_like(view1, 2.0))  # kept in 1 <=> dropped in 2


def test_projector_is_no_wider_than_the_embedding():
    # decoder features of 16 channels: 16 -> 16 -> 128 by default, 16 -> 8 -> 8 for embed_dim 8
    for embed_dim, widths in ((128, (16, 16, 128)), (8, (16, 8, 8))):
        model = build(semi_train_cfg=dict(embed_dim=embed_dim))
        first, last = model.projector[0].conv, model.projector[1]
        assert (first.in_channels, first.out_channels, last.out_channels) == widths


def test_accuracy_counts_only_the_counted_pixels():
    pred = torch.tensor([[0, 1, 2], [2, 2, 0]])
    labels = torch.tensor([[0, 1, 1], [2, 255, 1]])
    counted = labels != 255  # 5 pixels, 3 of them right
    assert farcluss_module._accuracy(pred, labels, counted).item() == pytest.approx(0.6)
    none = torch.zeros_like(counted)
    assert farcluss_module._accuracy(pred, labels, none).item() == 0.0


@pytest.mark.parametrize('with_ignored', [False, True])
def test_sup_losses_match_mmseg_loss_by_feat(with_ignored):
    """Eq. 12 here equals mmseg's decode-head loss (the log's accuracy is computed on the
    device instead of through mmseg's syncing accuracy())."""
    model = build()
    batch = semi_batch(num_sup=2, num_unsup=0)
    samples = batch['data_samples']
    if with_ignored:
        samples[0].gt_sem_seg.data[:, :10] = 255
    logits = torch.randn(2, NUM_CLASSES, 8, 8, generator=torch.Generator().manual_seed(1))
    ours = model._sup_losses(logits, [], samples)
    theirs = model.student.decode_head.loss_by_feat(logits, samples)
    assert set(ours) == {'loss_sup', 'sup_acc_seg'}
    torch.testing.assert_close(ours['loss_sup'], theirs['loss_ce'])
    torch.testing.assert_close(ours['sup_acc_seg'], theirs['acc_seg'][0])


def test_plain_segmentor_checkpoint_fills_student_and_teacher():
    model = build()
    plain = MODELS.build(ConfigDict(copy.deepcopy(SEGMENTOR)))
    with torch.no_grad():
        for p in plain.parameters():
            p.fill_(0.25)
    missing, unexpected = model.load_state_dict(plain.state_dict(), strict=False)
    assert unexpected == []
    assert all(k.startswith('projector.') for k in missing)
    for part in (model.student, model.teacher):
        assert all(torch.equal(p, torch.full_like(p, 0.25)) for p in part.parameters())


def test_predict_routes_to_predict_on():
    batch = semi_batch(num_sup=1, num_unsup=0)
    results = {}
    for target in ('teacher', 'student'):
        model = build(semi_test_cfg=dict(predict_on=target))
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


@pytest.mark.parametrize(
    'kwargs, error, match',
    [
        (
            dict(semi_train_cfg=dict(cutmix_probability=0.5)),
            KeyError,
            r'cutmix_probability.*allowed',
        ),
        (dict(semi_test_cfg=dict(predict='teacher')), KeyError, r"'predict'.*semi_test_cfg"),
        (dict(semi_test_cfg=dict(predict_on='ema')), ValueError, r'predict_on must be'),
        (dict(pretrained='x.pth'), ValueError, r'model.pretrained.*model.segmentor.pretrained'),
        (dict(unsup_loss=dict(type='FuzzyPseudoLabelLoss', topk=2)), TypeError, r'topk'),
    ],
)
def test_bad_config_keys_are_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        build(**kwargs)


def test_init_model_style_none_keys_are_accepted():
    # mmseg.apis.init_model writes model.pretrained = None and model.train_cfg = None.
    model = build(pretrained=None, train_cfg=None)
    assert model.predict_on == 'teacher'
