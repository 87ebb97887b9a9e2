"""SemiSegDataPreProcessor: splitting a mixed batch and normalising each part."""

import pytest
import torch
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import farcluss_mmseg  # noqa: F401

MEAN, STD = [10.0, 20.0, 30.0], [2.0, 4.0, 5.0]


def build():
    return MODELS.build(
        dict(
            type='SemiSegDataPreProcessor',
            data_preprocessor=dict(
                type='SegDataPreProcessor', mean=MEAN, std=STD, bgr_to_rgb=True, size=(2, 2)
            ),
        )
    )


def sample(with_label=True):
    s = SegDataSample(metainfo=dict(img_shape=(2, 2)))
    if with_label:
        s.gt_sem_seg = PixelData(data=torch.zeros(1, 2, 2, dtype=torch.long))
    s.valid_mask = PixelData(data=torch.ones(1, 2, 2, dtype=torch.bool))
    return s


def bgr(b, g, r):
    return torch.tensor([b, g, r], dtype=torch.uint8)[:, None, None].expand(3, 2, 2).clone()


def test_split_and_normalise():
    pre = build()
    weak, s1, s2 = bgr(30, 60, 90), bgr(0, 0, 0), bgr(255, 255, 255)
    batch = dict(
        inputs=[bgr(40, 20, 10), dict(weak=weak, strong=torch.stack([s1, s2]))],
        data_samples=[sample(), sample(False)],
    )
    out = pre(batch, training=True)
    # labeled: BGR (40, 20, 10) -> RGB (10, 20, 40) -> ((10-10)/2, (20-20)/4, (40-30)/5)
    assert out['inputs']['sup'][0, :, 0, 0].tolist() == [0.0, 0.0, 2.0]
    # weak: RGB (90, 60, 30) -> (40, 10, 0)
    assert out['inputs']['weak'][0, :, 0, 0].tolist() == [40.0, 10.0, 0.0]
    # strong views stacked (V, B_u, 3, H, W): black -> (-5, -5, -6), white -> (122.5, 58.75, 45)
    strong = out['inputs']['strong']
    assert strong.shape == (2, 1, 3, 2, 2)
    assert strong[0, 0, :, 0, 0].tolist() == [-5.0, -5.0, -6.0]
    assert strong[1, 0, :, 0, 0].tolist() == [122.5, 58.75, 45.0]
    assert len(out['data_samples']['sup']) == 1 and len(out['data_samples']['unsup']) == 1


def test_eval_batches_pass_through():
    pre = build()
    out = pre(dict(inputs=[bgr(40, 20, 10)], data_samples=[sample()]), training=False)
    assert out['inputs'][0, :, 0, 0].tolist() == [0.0, 0.0, 2.0]


@pytest.mark.parametrize('kind', ['only labeled', 'only unlabeled'])
def test_batch_needs_both_parts(kind):
    unlabeled = dict(weak=bgr(0, 0, 0), strong=torch.stack([bgr(0, 0, 0)] * 2))
    inputs = [bgr(0, 0, 0)] * 2 if kind == 'only labeled' else [unlabeled] * 2
    counts = '2 labeled and 0 unlabeled' if kind == 'only labeled' else '0 labeled and 2 unlabeled'
    with pytest.raises(ValueError, match=f'{counts} samples.*MultiSourceSampler'):
        build()(dict(inputs=inputs, data_samples=[sample(), sample()]), training=True)
