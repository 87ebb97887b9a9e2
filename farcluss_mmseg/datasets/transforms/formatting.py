"""Validity mask and packing of the unlabeled views (docs/method.md, "Views").

``AddValidMask`` marks the image's own pixels before the geometric transforms; mmseg's
``RandomResize`` (through mmseg's ``Resize``, nearest), ``RandomCrop`` and ``RandomFlip`` move it
like a label because it is listed in ``results['seg_fields']``. ``PackSemiInputs`` pads every view
and map to one size, so that the padding is 0 in the mask, and packs them like mmseg's
``PackSegInputs`` (channel order kept: BGR, the data preprocessor converts).
"""

from typing import Sequence, Tuple

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import PixelData
from mmseg.registry import TRANSFORMS
from mmseg.structures import SegDataSample

__all__ = ['AddValidMask', 'PackSemiInputs']


@TRANSFORMS.register_module()
class AddValidMask(BaseTransform):
    """Adds ``valid_mask``, ones of the image's size, and lists it in ``seg_fields``.

    Put it before the geometric transforms. Under mmseg's default scope (configs set
    ``default_scope = 'mmseg'``) they all treat every key of ``seg_fields`` like a label.

    Required Keys: img. Added Keys: valid_mask (uint8 (H, W)). Modified Keys: seg_fields.
    """

    def transform(self, results: dict) -> dict:
        """Adds ``results['valid_mask']``."""
        results['valid_mask'] = np.ones(results['img'].shape[:2], np.uint8)
        seg_fields = results.setdefault('seg_fields', [])
        if 'valid_mask' not in seg_fields:
            seg_fields.append('valid_mask')
        return results


def _pad(array: np.ndarray, size: Tuple[int, int], value: int, name: str) -> np.ndarray:
    """Pads ``array`` (H, W, ...) with ``value`` at the bottom and right to ``size``."""
    height, width = array.shape[:2]
    if height > size[0] or width > size[1]:
        raise ValueError(
            f'PackSemiInputs: {name} has size {(height, width)}, larger than size={tuple(size)}; '
            'set PackSemiInputs.size to at least the crop size'
        )
    out = np.full((size[0], size[1]) + array.shape[2:], value, dtype=array.dtype)
    out[:height, :width] = array
    return out


@TRANSFORMS.register_module()
class PackSemiInputs(BaseTransform):
    """Packs an unlabeled sample: weak view, strong views, validity mask, optional label.

    Every image and map is padded at the bottom/right to ``size``: images with ``pad_val``,
    ``valid_mask`` with 0, ``gt_seg_map`` with ``seg_pad_val``. Images keep mmcv's BGR order, as
    in mmseg's ``PackSegInputs``.

    Required Keys: img (uint8 (H, W, 3)), img_strong (list of uint8 (H, W, 3)), valid_mask.
    Optional Keys: gt_seg_map, and ``meta_keys``.

    Args:
        size (tuple[int, int]): Padded size (h, w), usually the crop size.
        pad_val (int): Padding value of the images. Defaults to 0.
        seg_pad_val (int): Padding value of ``gt_seg_map``. Defaults to 255.
        meta_keys (Sequence[str]): Keys copied into the data sample's metainfo when present;
            ``pad_shape`` is set to ``size``. Defaults to mmseg's ``PackSegInputs`` keys.

    Returns:
        dict: ``inputs = dict(weak=uint8 Tensor (3, h, w), strong=uint8 Tensor (V, 3, h, w))``,
        ``data_samples = SegDataSample`` with ``valid_mask`` (bool (1, h, w)) and, when a label
        was loaded, ``gt_sem_seg`` (int64 (1, h, w)).
    """

    def __init__(
        self,
        size: Tuple[int, int],
        pad_val: int = 0,
        seg_pad_val: int = 255,
        meta_keys: Sequence[str] = (
            'img_path',
            'seg_map_path',
            'ori_shape',
            'img_shape',
            'pad_shape',
            'scale_factor',
            'flip',
            'flip_direction',
            'reduce_zero_label',
        ),
    ) -> None:
        super().__init__()
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f'PackSemiInputs: size must be (h, w) of positive ints, got {size}')
        self.size = (int(size[0]), int(size[1]))
        self.pad_val = pad_val
        self.seg_pad_val = seg_pad_val
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        """Pads and packs the views."""
        for key, hint in (
            ('valid_mask', "add dict(type='AddValidMask') before the geometric transforms"),
            ('img_strong', "add dict(type='StrongViews', ...) before PackSemiInputs"),
        ):
            if key not in results:
                raise KeyError(f"PackSemiInputs: results has no '{key}'; {hint}")
        weak = results['img']
        images = [('img', weak)] + [
            (f'img_strong[{i}]', x) for i, x in enumerate(results['img_strong'])
        ]
        for name, image in images:
            if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(
                    f'PackSemiInputs: {name} must be a uint8 (H, W, 3) array, '
                    f'got {image.dtype} {image.shape}'
                )
        label = results.get('gt_seg_map')
        maps = [('valid_mask', results['valid_mask'])] + (
            [('gt_seg_map', label)] if label is not None else []
        )
        for name, array in images[1:] + maps:
            if array.shape[:2] != weak.shape[:2]:
                raise ValueError(
                    f'PackSemiInputs: {name} has size {array.shape[:2]} but img has '
                    f'{weak.shape[:2]}; is it listed in seg_fields, and is the pipeline built '
                    "under default_scope='mmseg' (mmcv's own Resize ignores seg_fields)?"
                )

        def image_tensor(name: str, image: np.ndarray) -> torch.Tensor:
            padded = _pad(image, self.size, self.pad_val, name)
            return torch.from_numpy(np.ascontiguousarray(padded.transpose(2, 0, 1)))

        inputs = dict(
            weak=image_tensor('img', weak),
            strong=torch.stack([image_tensor(name, image) for name, image in images[1:]]),
        )
        data_sample = SegDataSample()
        mask = _pad(results['valid_mask'], self.size, 0, 'valid_mask')
        data_sample.set_data(dict(valid_mask=PixelData(data=torch.from_numpy(mask[None] > 0))))
        if label is not None:
            gt = _pad(label, self.size, self.seg_pad_val, 'gt_seg_map').astype(np.int64)
            data_sample.gt_sem_seg = PixelData(data=torch.from_numpy(gt[None]))
        metainfo = {key: results[key] for key in self.meta_keys if key in results}
        metainfo['pad_shape'] = self.size
        data_sample.set_metainfo(metainfo)
        return dict(inputs=inputs, data_samples=data_sample)

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(size={self.size}, pad_val={self.pad_val}, '
            f'seg_pad_val={self.seg_pad_val}, meta_keys={self.meta_keys})'
        )
