"""Pascal VOC 2012 semi-supervised splits (classic and blended) and the split-list checks.

The classic setting labels images of the 1,464 finely annotated train images; the blended one
labels images of the whole 10,582-image augmented train set (VOC + SBD). Either way the
unlabeled part is the rest of the 10,582 images. In mmseg's voc-aug layout
(``tools/dataset_converters/voc_aug.py``) a train image has its label in ``SegmentationClass``
when it is one of the 1,464 fine ones and in ``SegmentationClassAug`` otherwise, so one split
list may need both folders: :class:`PascalVOCSemiDataset` takes ``seg_map_fallback`` for that.
"""

from __future__ import annotations

import os.path as osp
from typing import List, Optional

import mmengine.fileio as fileio
from mmseg.datasets import PascalVOCDataset
from mmseg.registry import DATASETS

from .base import CheckedSegMixin, SemiSplitMixin

__all__ = ['PascalVOCSemiDataset']


class _PascalVOCAugLabels(PascalVOCDataset):
    """``PascalVOCDataset`` whose label path falls back to ``seg_map_fallback``.

    It sits below :class:`CheckedSegMixin` in :class:`PascalVOCSemiDataset`'s bases, so that the
    mixin's per-image label check sees the final label paths.
    """

    seg_map_fallback: Optional[str] = None

    def load_data_list(self) -> List[dict]:
        """mmseg's data list, each missing label path replaced by the fallback folder's."""
        data_list = super().load_data_list()
        if self.seg_map_fallback is None:
            return data_list
        primary = self.data_prefix.get('seg_map_path', '')
        for info in data_list:
            path = info['seg_map_path']
            if not fileio.exists(path, backend_args=self.backend_args):
                info['seg_map_path'] = osp.join(self.seg_map_fallback, osp.relpath(path, primary))
        return data_list


@DATASETS.register_module()
class PascalVOCSemiDataset(SemiSplitMixin, CheckedSegMixin, _PascalVOCAugLabels):
    """Pascal VOC 2012 with checked semi-supervised split lists (classic and blended).

    mmseg's ``PascalVOCDataset`` (21 classes, ``JPEGImages/*.jpg``, labels ``*.png``, an
    ``ann_file`` of image stems such as ``2007_000032``) with the checks of
    :class:`CheckedSegMixin` and :class:`SemiSplitMixin`. Unlabeled parts are built with
    ``labels='optional'``: no label file is needed, and an existing one is loaded only to monitor
    the pseudo-labels' accuracy.

    Label folders: ``data_prefix['seg_map_path']`` (default ``SegmentationClass``) is looked at
    first; with ``seg_map_fallback='SegmentationClassAug'`` an image without a label there takes
    the one in the fallback folder. This reads any split of the 10,582-image augmented set from a
    single list, also one made by ``tools/make_splits.py``. (mmseg's ``pascal_voc12_aug.py``
    reads a ``ConcatDataset`` of one list a label folder instead; with split lists that fails
    where one of the two is empty, as in every classic split and UniMatch's ``u2pl_1_16``, since
    an empty list is refused.) Classic labeled splits leave the fallback off, so that a label
    missing from ``SegmentationClass`` is an error.

    Args:
        ann_file (str): The split list, relative to ``data_root``, e.g.
            ``'splits/pascal/92/labeled.txt'`` (see ``configs/farcluss/README.md``).
        seg_map_fallback (str, optional): Second label folder, relative to ``data_root``.
            Defaults to None.
        data_prefix (dict, optional): Defaults to None:
            ``dict(img_path='JPEGImages', seg_map_path='SegmentationClass')``.
        **kwargs: Arguments of :class:`SemiSplitMixin` (``overlap_with``),
            :class:`CheckedSegMixin` (``labels``) and ``PascalVOCDataset``.
    """

    DATA_ROOT_HINT = (
        'put Pascal VOC 2012 (VOCtrainval_11-May-2012.tar) at {data_root} (JPEGImages/, '
        'SegmentationClass/, ImageSets/), unpack SBD (benchmark.tgz) as VOCaug/ beside it and '
        "make SegmentationClassAug/ with mmseg's `python tools/dataset_converters/voc_aug.py "
        'DEVKIT DEVKIT/VOCaug --nproc 8` (DEVKIT: the folder holding {data_root}); write the split '
        'lists with `python tools/dataset_converters/convert_unimatch_splits.py '
        'UniMatch/splits/pascal {data_root}/splits`; see configs/farcluss/README.md, '
        '"Prepare datasets"'
    )

    def __init__(
        self,
        ann_file: str,
        seg_map_fallback: Optional[str] = None,
        data_prefix: Optional[dict] = None,
        **kwargs,
    ) -> None:
        if data_prefix is None:
            data_prefix = dict(img_path='JPEGImages', seg_map_path='SegmentationClass')
        data_root = kwargs.get('data_root')
        if seg_map_fallback is not None and data_root and not osp.isabs(seg_map_fallback):
            seg_map_fallback = osp.join(data_root, seg_map_fallback)
        self.seg_map_fallback = seg_map_fallback
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def _label_dirs(self) -> List[str]:
        dirs = super()._label_dirs()
        return dirs + [self.seg_map_fallback] if self.seg_map_fallback else dirs
