import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from mmseg.registry import TRANSFORMS

import farcluss_mmseg  # noqa: F401  (registers the transforms)
from farcluss_mmseg.datasets.transforms import AddValidMask, PackSemiInputs


def test_add_valid_mask_creates_ones_and_lists_it_once():
    results = dict(img=np.zeros((3, 5, 3), np.uint8))
    results = AddValidMask()(results)
    assert np.array_equal(results['valid_mask'], np.ones((3, 5), np.uint8))
    assert results['seg_fields'] == ['valid_mask']
    results = dict(img=np.zeros((3, 5, 3), np.uint8), seg_fields=['gt_seg_map'])
    results = AddValidMask()(AddValidMask()(results))
    assert results['seg_fields'] == ['gt_seg_map', 'valid_mask']


def _half_image(height=40, width=60):
    """Left half 200 (with valid_mask 1), right half 50 (valid_mask 0), plus a matching label."""
    img = np.full((height, width, 3), 50, np.uint8)
    img[:, : width // 2] = 200
    label = np.zeros((height, width), np.uint8)
    label[:, : width // 2] = 7
    return dict(img=img, gt_seg_map=label, seg_fields=['gt_seg_map'])


def _geometric_pipeline(flip_prob):
    return [
        TRANSFORMS.build(dict(type='AddValidMask')),
        TRANSFORMS.build(
            dict(type='RandomResize', scale=(60, 40), ratio_range=(0.5, 2.0), keep_ratio=True)
        ),
        TRANSFORMS.build(dict(type='RandomCrop', crop_size=(32, 32))),
        TRANSFORMS.build(dict(type='RandomFlip', prob=flip_prob)),
    ]


@pytest.mark.parametrize('flip_prob', [0.0, 1.0])
def test_valid_mask_follows_resize_crop_and_flip(flip_prob):
    with DefaultScope.overwrite_default_scope('mmseg'):
        pipeline = _geometric_pipeline(flip_prob)
    np.random.seed(0)
    for _ in range(10):
        results = _half_image()
        for t in pipeline[:1]:
            results = t(results)
        # Make the mask carry the image's pattern, so that misalignment would show.
        results['valid_mask'] = (results['img'][..., 0] == 200).astype(np.uint8)
        for t in pipeline[1:]:
            results = t(results)
        img, mask, label = results['img'][..., 0], results['valid_mask'], results['gt_seg_map']
        assert mask.shape == img.shape == label.shape
        assert results['flip'] == bool(flip_prob)
        assert (mask[img == 200] == 1).all() and (mask[img == 50] == 0).all()
        assert np.array_equal(mask * 7, label)  # nearest, like the label
        # Only the bilinear seam of the image may be neither colour: at most 2 columns.
        assert ((img != 200) & (img != 50)).any(0).sum() <= 2


def test_pack_reports_seg_fields_ignored_outside_mmseg_scope():
    # Outside mmseg's default scope (none, or mmcv's) RandomResize builds mmcv's Resize, which
    # only resizes gt_seg_map: the mask keeps its old size and PackSemiInputs must say so.
    with DefaultScope.overwrite_default_scope('mmcv'):
        resize = TRANSFORMS.build(dict(type='RandomResize', scale=(120, 80), ratio_range=(1, 1)))
    results = AddValidMask()(_half_image())
    results = resize(results)
    results['img_strong'] = [results['img']]
    with pytest.raises(ValueError, match=r'valid_mask has size \(40, 60\) but img has \(80, 120\)'):
        PackSemiInputs(size=(80, 120))(results)


def _small_results(with_label=True):
    img = np.arange(3 * 2 * 3, dtype=np.uint8).reshape(3, 2, 3) + 1
    results = dict(
        img=img,
        img_strong=[img + 100, img + 200],
        valid_mask=np.ones((3, 2), np.uint8),
        img_path='a.jpg',
        img_shape=(3, 2),
        flip=False,
        seg_fields=['valid_mask'],
    )
    if with_label:
        results['gt_seg_map'] = np.array([[1, 2], [3, 4], [5, 6]], np.uint8)
    return results


def test_pack_semi_inputs_pads_exactly():
    packed = PackSemiInputs(size=(4, 4))(_small_results())
    img = _small_results()['img']
    weak, strong = packed['inputs']['weak'], packed['inputs']['strong']
    assert weak.dtype == torch.uint8 and weak.shape == (3, 4, 4)
    expected_weak = torch.zeros(3, 4, 4, dtype=torch.uint8)
    expected_weak[:, :3, :2] = torch.from_numpy(img).permute(2, 0, 1)  # BGR kept
    assert torch.equal(weak, expected_weak)
    assert strong.dtype == torch.uint8 and strong.shape == (2, 3, 4, 4)
    assert torch.equal(strong[0, :, :3, :2], expected_weak[:, :3, :2] + 100)
    assert torch.equal(strong[1, :, :3, :2], expected_weak[:, :3, :2] + 200)
    assert (strong[:, :, 3:] == 0).all() and (strong[:, :, :, 2:] == 0).all()

    sample = packed['data_samples']
    expected_valid = torch.tensor([[[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]]])
    assert sample.valid_mask.data.dtype == torch.bool
    assert torch.equal(sample.valid_mask.data, expected_valid.bool())
    expected_gt = torch.tensor(
        [[[1, 2, 255, 255], [3, 4, 255, 255], [5, 6, 255, 255], [255, 255, 255, 255]]]
    )
    assert sample.gt_sem_seg.data.dtype == torch.int64
    assert torch.equal(sample.gt_sem_seg.data, expected_gt)
    assert sample.metainfo == dict(img_path='a.jpg', img_shape=(3, 2), flip=False, pad_shape=(4, 4))


def test_pack_semi_inputs_without_label_has_no_gt_and_uses_pad_values():
    packed = PackSemiInputs(size=(4, 3), pad_val=9)(_small_results(with_label=False))
    assert 'gt_sem_seg' not in packed['data_samples']
    weak = packed['inputs']['weak']
    assert (weak[:, 3, :] == 9).all() and (weak[:, :, 2] == 9).all()
    assert packed['data_samples'].valid_mask.data.sum() == 6


def test_pack_semi_inputs_errors_name_sizes_and_missing_steps():
    results = _small_results()
    with pytest.raises(ValueError, match=r'img has size \(3, 2\), larger than size=\(2, 4\)'):
        PackSemiInputs(size=(2, 4))(results)
    del results['valid_mask']
    with pytest.raises(KeyError, match=r"no 'valid_mask'; add dict\(type='AddValidMask'\)"):
        PackSemiInputs(size=(4, 4))(results)
    results = _small_results()
    results['img_strong'][1] = results['img_strong'][1].astype(np.float32)
    with pytest.raises(ValueError, match=r'img_strong\[1\] must be a uint8 \(H, W, 3\) array'):
        PackSemiInputs(size=(4, 4))(results)
