"""Label loading with a value check, and its variant for unlabeled images.

Undecodable files are reported by the dataset (:class:`farcluss_mmseg.datasets.base.
CheckedSegMixin`), which knows both paths of a sample; these transforms check label values.
"""

from typing import Optional

import numpy as np
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import TRANSFORMS

__all__ = ['LoadCheckedAnnotations', 'LoadOptionalAnnotations']


@TRANSFORMS.register_module()
class LoadCheckedAnnotations(LoadAnnotations):
    """mmseg's ``LoadAnnotations`` that refuses labels that do not fit their image or classes.

    A label must be one channel (a palette or single-channel PNG: an RGB-saved label is refused
    as a 3-channel label) and of its image's size (``results['img']``, when the image is loaded
    first as in every pipeline); otherwise a ``ValueError`` names the file(s) and the sizes.
    After loading (and after ``label_map`` / ``reduce_zero_label``), every label value must be
    below ``num_classes`` or equal to ``ignore_index``; otherwise a ``ValueError`` names the
    label file and the bad values. ``num_classes`` comes from the argument or, when that is
    None, from ``results['num_classes']``, which :class:`CheckedSegMixin` datasets put in every
    data info (so a config need not repeat it). The check is one ``bincount`` of the label.

    Required Keys: seg_map_path, reduce_zero_label, seg_fields and, without the argument,
    num_classes. Added Keys: gt_seg_map (np.uint8 (H, W)).

    Args:
        num_classes (int, optional): Number of classes. Defaults to None (from the data info).
        ignore_index (int): The ignored label value. Defaults to 255.
        **kwargs: Arguments of mmseg's ``LoadAnnotations``.
    """

    def __init__(
        self, num_classes: Optional[int] = None, ignore_index: int = 255, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        # mmseg.apis and MMSegInferencer drop only transforms named 'LoadAnnotations' from the
        # test pipeline, so this one also sees inference inputs, which have no label at all.
        # Dataset samples always carry the key, so nothing is skipped in training or testing.
        if 'seg_map_path' not in results:
            return results
        return super().transform(results)

    def _load_seg_map(self, results: dict) -> None:
        super()._load_seg_map(results)
        self._check_shape(results)
        num_classes = self.num_classes
        if num_classes is None:
            if 'num_classes' not in results:
                raise KeyError(
                    f'{type(self).__name__}: the data info of {results["seg_map_path"]} has no '
                    "'num_classes'; use a CheckedSegMixin dataset or set num_classes in the "
                    'transform config'
                )
            num_classes = results['num_classes']
        elif results.get('num_classes', num_classes) != num_classes:
            raise ValueError(
                f'{type(self).__name__}: num_classes={num_classes} in the transform config, but '
                f'the dataset has {results["num_classes"]} classes; remove the argument'
            )
        values = np.flatnonzero(np.bincount(results['gt_seg_map'].ravel()))
        bad = values[(values >= num_classes) & (values != self.ignore_index)]
        if bad.size:
            raise ValueError(
                f'label file {results["seg_map_path"]} has values {bad.tolist()}, but labels '
                f'must be in [0, {num_classes - 1}] or {self.ignore_index} (ignore); fix the '
                "file, or the dataset's classes / label_map"
            )

    @staticmethod
    def _check_shape(results: dict) -> None:
        """Refuse a multi-channel label and a label whose size differs from its image's."""
        label, path = results['gt_seg_map'], results['seg_map_path']
        if label.ndim == 3:
            raise ValueError(
                f'label file {path} is a {label.shape[2]}-channel label, expected a palette or '
                'single-channel PNG of class indices; convert an RGB-saved label to class '
                'indices (e.g. map each colour of its palette to its class)'
            )
        if label.ndim != 2:  # mmseg squeezes the decoded array: a 1-pixel-high label is 1-D
            raise ValueError(
                f'label file {path} decodes to shape {label.shape}, expected (height, width)'
            )
        # mmseg's own LoadAnnotations would let a later Resize/RandomCrop rescale the label
        # to the image silently; a label of another size belongs to another image. Compared
        # with the image as loaded (ori_shape): test pipelines resize the image first.
        shape = results.get('ori_shape')
        if shape is None and results.get('img') is not None:
            shape = results['img'].shape[:2]
        if shape is not None and label.shape != tuple(shape[:2]):
            raise ValueError(
                f'label file {path} is {label.shape[1]}x{label.shape[0]} (w x h) but its image '
                f'{results.get("img_path")} is {shape[1]}x{shape[0]}; a label '
                'must have the size of its image'
            )

    def __repr__(self) -> str:
        return (
            f'{super().__repr__()[:-1]}, num_classes={self.num_classes}, '
            f'ignore_index={self.ignore_index})'
        )


@TRANSFORMS.register_module()
class LoadOptionalAnnotations(LoadCheckedAnnotations):
    """:class:`LoadCheckedAnnotations` that skips images without a label file.

    For unlabeled splits built with ``labels='optional'``: a data info whose ``seg_map_path``
    is None passes through unchanged (no ``gt_seg_map``); one with a path is loaded and checked,
    so the label can monitor pseudo-label accuracy.
    """

    def transform(self, results: dict) -> dict:
        """Load and check the label if the image has one.

        Args:
            results (dict): The data info.

        Returns:
            dict: ``results``, with ``gt_seg_map`` if ``seg_map_path`` is not None.
        """
        if results.get('seg_map_path') is None:
            return results
        return super().transform(results)
