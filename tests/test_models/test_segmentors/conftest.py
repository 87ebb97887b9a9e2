"""A tiny DeepLabV3+ (CPU, a few ms per call) and semi-supervised batches for the segmentors."""

import copy

import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

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
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0, avg_non_ignore=True),
    ),
    test_cfg=dict(mode='whole'),
)


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')  # what a config's default_scope does in the Runner
    hub = MessageHub.get_current_instance()
    hub.update_info('iter', 0)
    yield
    hub.update_info('iter', 0)


@pytest.fixture
def segmentor_cfg():
    """A copy of the tiny segmentor's config."""
    return ConfigDict(copy.deepcopy(SEGMENTOR))


def build_model(type='FARCLUSS', segmentor=None, **kwargs):
    """A seeded semi-supervised model around the tiny segmentor, initialised; a mean teacher is
    marked as updated by a hook, as MeanTeacherHook does."""
    torch.manual_seed(0)
    cfg = dict(type=type, segmentor=ConfigDict(segmentor or copy.deepcopy(SEGMENTOR)), **kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    if hasattr(model, 'teacher_updater'):
        model.teacher_updater = 'MeanTeacherHook'
    return model


@pytest.fixture
def build():
    """``build(type, **kwargs)``: :func:`build_model`."""
    return build_model


@pytest.fixture
def semi_batch():
    """:func:`make_semi_batch`."""
    return make_semi_batch


def make_semi_batch(num_sup=2, num_unsup=2, size=32, with_gt=True):
    """A batch as PackSegInputs (labeled) and PackSemiInputs (unlabeled) produce it; the
    bottom half of each unlabeled image is padding; unlabeled labels, where kept, are all
    class 0."""
    g = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    meta = dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size))
    for _ in range(num_sup):
        inputs.append(torch.randint(0, 255, (3, size, size), generator=g, dtype=torch.uint8))
        s = SegDataSample(metainfo=meta)
        label = torch.randint(0, NUM_CLASSES, (1, size, size), generator=g)
        s.gt_sem_seg = PixelData(data=label)
        samples.append(s)
    for _ in range(num_unsup):
        weak = torch.randint(0, 255, (3, size, size), generator=g, dtype=torch.uint8)
        inputs.append(dict(weak=weak, strong=torch.stack([weak, 255 - weak])))
        s = SegDataSample(metainfo=meta)
        valid = torch.ones(1, size, size, dtype=torch.bool)
        valid[:, size // 2 :] = False
        s.valid_mask = PixelData(data=valid)
        if with_gt:
            s.gt_sem_seg = PixelData(data=torch.zeros(1, size, size, dtype=torch.long))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)
