"""Tiny datasets in the real Pascal VOC 2012 (+ SBD) and Cityscapes folder layouts.

The layouts are those of mmseg's data preparation plus the split lists of
``tools/dataset_converters/convert_unimatch_splits.py`` below each data root, as
``configs/farcluss/README.md`` describes:

- VOC: ``VOCdevkit/VOC2012/{JPEGImages/*.jpg, SegmentationClass/*.png (palette PNG),
  SegmentationClassAug/*.png (grayscale, as mmseg's voc_aug.py writes them),
  ImageSets/Segmentation/{train,val,trainaug,aug}.txt,
  splits/pascal/<split>/{labeled,unlabeled}.txt}``.
  The fine train images have labels in ``SegmentationClass`` (one also in
  ``SegmentationClassAug``, with other values, as SBD overlaps VOC), the SBD-only ones in
  ``SegmentationClassAug`` only.
- Cityscapes: ``cityscapes/{leftImg8bit,gtFine}/{train,val}/<city>/<city>_<seq>_<frame>_*``
  with ``*_gtFine_labelIds.png``, ``*_gtFine_polygons.json`` and (unless ``train_ids=False``,
  i.e. before mmseg's cityscapes.py was run) ``*_gtFine_labelTrainIds.png``, plus
  ``splits/cityscapes/<split>/{labeled,unlabeled}.txt``.

Images are small (VOC 40x30 or 30x40, Cityscapes 64x32) and labels deterministic, so tests can
compare loaded values with :func:`voc_label` / :func:`cityscapes_label`. Load this module with
``load_layouts()`` from a test (the tests folder is not a package).
"""

import json
import os
import os.path as osp
from typing import Dict, Sequence

import numpy as np
from PIL import Image

VOC_FINE = ('2007_000032', '2007_000039', '2007_000063', '2007_000068', '2007_000121')
VOC_SBD = ('2008_000002', '2008_000003', '2008_000007', '2008_000008', '2008_000015')
VOC_VAL = ('2007_000033', '2007_000042')
VOC_BOTH = '2007_000032'  # a fine train image that SBD labels too
VOC_POOL = VOC_FINE + VOC_SBD
# Labeled stems of each split; the unlabeled list is the rest of the pool.
VOC_SPLITS: Dict[str, Sequence[str]] = {
    '92': VOC_FINE[:1],
    '183': VOC_FINE[:2],
    '366': VOC_FINE[:3],
    '732': VOC_FINE[:4],
    '1464': VOC_FINE,
    '1_16': (VOC_FINE[0], VOC_SBD[0]),
    '1_8': (VOC_FINE[0], VOC_SBD[0], VOC_SBD[1]),
    '1_4': VOC_FINE[:2] + VOC_SBD[:2],
    'u2pl_1_16': VOC_FINE[:2],
    'u2pl_1_8': VOC_FINE[:3],
    'u2pl_1_4': VOC_FINE + VOC_SBD[:1],
}

CITY_TRAIN = (
    'aachen/aachen_000000_000019',
    'aachen/aachen_000001_000019',
    'aachen/aachen_000002_000019',
    'bochum/bochum_000000_000313',
    'bochum/bochum_000000_000885',
    'bochum/bochum_000000_001097',
)
CITY_VAL = ('frankfurt/frankfurt_000000_000294', 'frankfurt/frankfurt_000000_000576')
CITY_SPLITS: Dict[str, Sequence[str]] = {
    '1_30': CITY_TRAIN[:1],
    '1_16': CITY_TRAIN[:1],
    '1_8': CITY_TRAIN[:2],
    '1_4': CITY_TRAIN[:3],
    '1_2': CITY_TRAIN[:4],
}
# Cityscapes label ids of the 19 train ids (cityscapesscripts' labels table), for labelIds.
CITY_LABEL_IDS = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)


def _seed(stem: str) -> int:
    return sum(ord(c) * (i + 1) for i, c in enumerate(stem))


def voc_label(stem: str, folder: str = 'SegmentationClass') -> np.ndarray:
    """The label written for ``stem`` in ``folder``: uint8, values 0-20 and a 255 border."""
    width, height = (30, 40) if _seed(stem) % 3 == 0 else (40, 30)
    rng = np.random.default_rng(_seed(stem + folder))
    label = np.zeros((height, width), np.uint8)
    label[:, width // 2 :] = rng.integers(1, 21)
    label[height // 2 :, :] = rng.integers(0, 21)
    label[height // 2 - 1, :] = 255  # VOC draws 255 along object boundaries
    return label


def cityscapes_label(stem: str) -> np.ndarray:
    """The train-id label written for ``stem``: uint8 (32, 64), values 0-18 and 255."""
    rng = np.random.default_rng(_seed(stem))
    label = np.zeros((32, 64), np.uint8)  # road
    label[:12] = 10  # sky
    label[12:20, : rng.integers(8, 56)] = rng.integers(1, 19)
    label[30:] = 255  # the ego vehicle is ignored
    return label


def _image(shape, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape + (3,), dtype=np.uint8)


def _write_list(path: str, stems: Sequence[str]) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(''.join(f'{s}\n' for s in stems))


def _palette_png(label: np.ndarray, path: str) -> None:
    png = Image.fromarray(label, mode='P')
    png.putpalette([c for i in range(256) for c in (i, 128, 255 - i)])
    png.save(path)


def make_voc(root: str) -> str:
    """Write a VOC 2012 + SBD layout below ``root``; return ``root/VOCdevkit/VOC2012``."""
    data_root = osp.join(root, 'VOCdevkit', 'VOC2012')
    for folder in ('JPEGImages', 'SegmentationClass', 'SegmentationClassAug'):
        os.makedirs(osp.join(data_root, folder), exist_ok=True)
    for stem in VOC_POOL + VOC_VAL:
        label = voc_label(stem)
        Image.fromarray(_image(label.shape, _seed(stem))).save(
            osp.join(data_root, 'JPEGImages', f'{stem}.jpg'), quality=90
        )
        if stem not in VOC_SBD:
            _palette_png(label, osp.join(data_root, 'SegmentationClass', f'{stem}.png'))
        if stem in VOC_SBD or stem == VOC_BOTH:
            aug = voc_label(stem, 'SegmentationClassAug')
            Image.fromarray(aug).save(osp.join(data_root, 'SegmentationClassAug', f'{stem}.png'))
    sets = osp.join(data_root, 'ImageSets', 'Segmentation')
    _write_list(osp.join(sets, 'train.txt'), VOC_FINE)
    _write_list(osp.join(sets, 'val.txt'), VOC_VAL)
    _write_list(osp.join(sets, 'trainaug.txt'), VOC_POOL)
    _write_list(osp.join(sets, 'aug.txt'), VOC_SBD)
    for split, labeled in VOC_SPLITS.items():
        folder = osp.join(data_root, 'splits', 'pascal', split)
        _write_list(osp.join(folder, 'labeled.txt'), labeled)
        _write_list(osp.join(folder, 'unlabeled.txt'), [s for s in VOC_POOL if s not in labeled])
    return data_root


def make_cityscapes(root: str, train_ids: bool = True) -> str:
    """Write a Cityscapes layout below ``root``; return ``root/cityscapes``.

    Args:
        root (str): Parent folder.
        train_ids (bool): Whether mmseg's ``cityscapes.py`` "was run": write the
            ``*_gtFine_labelTrainIds.png`` files. Defaults to True.
    """
    data_root = osp.join(root, 'cityscapes')
    lut = np.full(256, 0, np.uint8)
    lut[:19] = CITY_LABEL_IDS
    for subset, stems in (('train', CITY_TRAIN), ('val', CITY_VAL)):
        for stem in stems:
            img = osp.join(data_root, 'leftImg8bit', subset, f'{stem}_leftImg8bit.png')
            gt = osp.join(data_root, 'gtFine', subset, stem + '_gtFine_')
            for path in (img, gt):
                os.makedirs(osp.dirname(path), exist_ok=True)
            label = cityscapes_label(stem)
            Image.fromarray(_image(label.shape, _seed(stem))).save(img)
            Image.fromarray(lut[label]).save(gt + 'labelIds.png')
            with open(gt + 'polygons.json', 'w') as f:
                json.dump({'imgHeight': 32, 'imgWidth': 64, 'objects': []}, f)
            if train_ids:
                Image.fromarray(label).save(gt + 'labelTrainIds.png')
    for split, labeled in CITY_SPLITS.items():
        folder = osp.join(data_root, 'splits', 'cityscapes', split)
        _write_list(osp.join(folder, 'labeled.txt'), labeled)
        _write_list(osp.join(folder, 'unlabeled.txt'), [s for s in CITY_TRAIN if s not in labeled])
    return data_root
