"""Cityscapes semi-supervised splits."""

from __future__ import annotations

import os
import os.path as osp
from typing import List

from mmseg.datasets import CityscapesDataset
from mmseg.registry import DATASETS

from .base import CheckedSegMixin, SemiSplitMixin

__all__ = ['CityscapesSemiDataset']

CONVERTER = 'python tools/dataset_converters/cityscapes.py'


@DATASETS.register_module()
class CityscapesSemiDataset(SemiSplitMixin, CheckedSegMixin, CityscapesDataset):
    """Cityscapes with checked semi-supervised split lists.

    mmseg's ``CityscapesDataset`` (19 classes, ``leftImg8bit/<subset>/<city>/*_leftImg8bit.png``,
    labels ``gtFine/<subset>/<city>/*_gtFine_labelTrainIds.png``) with the checks of
    :class:`CheckedSegMixin` and :class:`SemiSplitMixin`. A split list names images by their
    path below ``data_prefix['img_path']`` without suffix, e.g. ``aachen/aachen_000000_000019``;
    without ``ann_file`` the image folder is scanned (mmseg's behaviour, used for ``val``).
    Unlabeled parts are built with ``labels='optional'``.

    The ``*_gtFine_labelTrainIds.png`` files do not come with the download: mmseg's
    ``tools/dataset_converters/cityscapes.py`` makes them from the polygons. With
    ``labels='required'``, a label folder holding none of them raises a ``FileNotFoundError``
    that says to run it.

    Args:
        **kwargs: Arguments of :class:`SemiSplitMixin` (``overlap_with``),
            :class:`CheckedSegMixin` (``labels``) and ``CityscapesDataset`` (``data_prefix``
            must be given, e.g. ``dict(img_path='leftImg8bit/train',
            seg_map_path='gtFine/train')``).
    """

    DATA_ROOT_HINT = (
        'download leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip from '
        'https://www.cityscapes-dataset.com, unzip both into {data_root} (leftImg8bit/, gtFine/), '
        f"make the *_gtFine_labelTrainIds.png with mmseg's `{CONVERTER} {{data_root}} --nproc 8` "
        'and write the split lists with `python tools/dataset_converters/'
        'convert_unimatch_splits.py UniMatch/splits/cityscapes {data_root}/splits`; see '
        'configs/farcluss/README.md, "Prepare datasets"'
    )

    def load_data_list(self) -> List[dict]:
        """Load the data list after checking that the label train ids have been made.

        Returns:
            list[dict]: The data infos.
        """
        seg_dir = self.data_prefix.get('seg_map_path', '')
        data_root_ok = not self.data_root or osp.isdir(self.data_root)
        if self.labels == 'required' and self.backend_args is None and data_root_ok:
            if not osp.isdir(seg_dir):
                raise FileNotFoundError(f'label folder {seg_dir} does not exist: {self._hint()}')
            if not _contains_suffix(seg_dir, self.seg_map_suffix):
                raise FileNotFoundError(
                    f'{seg_dir} holds no *{self.seg_map_suffix} files: the Cityscapes train-id '
                    f"labels have not been made; run mmseg's `{CONVERTER} "
                    f'{self.data_root or "<data_root>"} --nproc 8` (pip install '
                    'cityscapesscripts) to make them from the gtFine polygons'
                )
        return super().load_data_list()


def _contains_suffix(folder: str, suffix: str) -> bool:
    """Whether a file under ``folder`` (searched recursively) ends with ``suffix``."""
    for _, _, files in os.walk(folder):
        if any(name.endswith(suffix) for name in files):
            return True
    return False
