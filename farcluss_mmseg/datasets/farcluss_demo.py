"""The synthetic demo dataset made by ``tools/make_demo_data.py``."""

from __future__ import annotations

from typing import Optional

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .base import CheckedSegMixin

__all__ = ['FarclussDemoDataset']


@DATASETS.register_module()
class FarclussDemoDataset(CheckedSegMixin, BaseSegDataset):
    """Synthetic outdoor scenes for trying semi-supervised segmentation on a CPU.

    ``tools/make_demo_data.py`` draws the data in the Pascal VOC layout (``JPEGImages/*.jpg``,
    palette ``SegmentationClass/*.png`` with 255 on a one-pixel band along region boundaries,
    ``splits/{train,val}.txt`` and ``splits/{1_16,1_8}/{labeled,unlabeled}.txt``). It takes
    its class names and palette from :attr:`METAINFO`, so the two cannot disagree. The classes;
    colours overlap between classes on purpose, so shape, texture and context are needed:

    0. ``sky``: the upper part of every image; a vertical colour gradient with soft clouds;
       bluish or overcast grey (overlaps ``water`` and ``building``).
    1. ``ground``: below a slightly wavy horizon; fine-grained noise; brown, olive or grassy
       green (overlaps ``tree``).
    2. ``building``: rectangles, some with a roof, standing on the horizon; a window grid.
    3. ``tree``: canopies made of overlapping discs on a trunk; spotty blob texture.
    4. ``water``: an ellipse on the ground; horizontal wavy stripes; sky-like colours.
    5. ``rock``: irregular polygons on the ground; mottled noise with directional shading;
       dark or light grey (overlaps ``building`` and overcast ``sky``).
    6. ``vehicle``: boxes with a cabin and two dark tyres on the ground; any colour;
       specular gradient.
    7. ``pole``: upright poles with a crossarm, 8–11 % of the image wide and 25–40 % high,
       standing on the ground, in about one image in five; horizontal bands, dark brown and
       light grey; the rare class (< 1 % of the pixels), about one cell of the network's
       stride-8 output wide.

    Objects occlude each other (drawn back to front), edges are blurred in the image (the label
    stays sharp), and each image has its own brightness, colour cast and illumination gradient.

    Args:
        img_suffix (str): Image file suffix. Defaults to '.jpg'.
        seg_map_suffix (str): Label file suffix. Defaults to '.png'.
        reduce_zero_label (bool): Keep False: label 0 is ``sky``, a real class.
            Defaults to False.
        data_prefix (dict, optional): Image and label folders below ``data_root``. Defaults to
            None: ``dict(img_path='JPEGImages', seg_map_path='SegmentationClass')``.
        **kwargs: Arguments of :class:`CheckedSegMixin` (``labels``) and ``BaseSegDataset``
            (``ann_file`` is a split list such as ``'splits/1_16/labeled.txt'``).
    """

    METAINFO = dict(
        classes=('sky', 'ground', 'building', 'tree', 'water', 'rock', 'vehicle', 'pole'),
        palette=[
            [70, 130, 180],
            [145, 110, 70],
            [90, 90, 90],
            [60, 140, 40],
            [20, 60, 200],
            [170, 160, 130],
            [220, 20, 60],
            [250, 170, 30],
        ],
    )
    DATA_ROOT_HINT = (
        'generate the demo data with `python tools/make_demo_data.py --out {data_root}`'
    )

    def __init__(
        self,
        img_suffix: str = '.jpg',
        seg_map_suffix: str = '.png',
        reduce_zero_label: bool = False,
        data_prefix: Optional[dict] = None,
        **kwargs,
    ) -> None:
        if data_prefix is None:
            data_prefix = dict(img_path='JPEGImages', seg_map_path='SegmentationClass')
        super().__init__(
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            reduce_zero_label=reduce_zero_label,
            data_prefix=data_prefix,
            **kwargs,
        )
