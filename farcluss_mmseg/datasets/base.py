"""Input checks shared by the plugin's segmentation datasets.

:class:`CheckedSegMixin` goes in front of an mmseg dataset class (``BaseSegDataset`` or any
subclass such as ``PascalVOCDataset``) and turns the usual bad-input failures (a wrong
``data_root``, a split list naming a missing image, a missing label, an undecodable file)
into errors that name the file, the list line and what to do. It also adds the ``labels``
argument that semi-supervised unlabeled splits need.
"""

from __future__ import annotations

import io
import os.path as osp
from typing import List, Optional, Sequence

import mmengine
import mmengine.fileio as fileio
from PIL import Image

from ..utils.splits import check_overlap, check_split_files, read_stem_list, split_line_error

__all__ = ['CheckedSegMixin', 'SemiSplitMixin', 'decode_error']

LABEL_MODES = ('required', 'optional')


def decode_error(path: str, backend_args: Optional[dict] = None) -> Optional[str]:
    """Say why ``path`` cannot be decoded as an image, or None if it can.

    Pillow is used because it is stricter than OpenCV (it refuses truncated files).

    Args:
        path (str): The image or label file.
        backend_args (dict, optional): mmengine file backend arguments.

    Returns:
        str | None: ``'cannot decode image <path>: ...'`` if the file exists but is not a
        readable image, else None (a missing file is reported by the loader itself).
    """
    try:
        data = fileio.get(path, backend_args=backend_args)
    except Exception:
        return None
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
    except Exception as err:
        return (
            f'cannot decode image {path}: the file is corrupt or not an image '
            f'({type(err).__name__}: {err}); replace it or remove it from the split list'
        )
    return None


class CheckedSegMixin:
    """Checked loading for mmseg segmentation datasets.

    Use it as the first base: ``class MyDataset(CheckedSegMixin, BaseSegDataset)``. On top of
    the mmseg dataset it

    - raises :class:`FileNotFoundError` when ``data_root``, the split list or the image folder
      does not exist, ending with :attr:`DATA_ROOT_HINT` (how to obtain the data);
    - reads the split list (mmseg style, one image stem a line) and raises, naming the list file
      and line number, on an empty list or line, a line with spaces, a duplicate stem or a stem
      whose image does not exist;
    - with ``labels='required'`` raises (naming the line) when a label file does not exist; with
      ``labels='optional'`` (unlabeled splits) sets ``seg_map_path=None`` for such images and
      keeps the path of those that have one (to monitor pseudo-label accuracy);
    - stores ``num_classes`` in every data info, for :class:`LoadCheckedAnnotations`;
    - when the pipeline fails on a file that is not a decodable image, raises
      ``ValueError('cannot decode image <path>: the file is corrupt or not an image ...')``
      instead of the decoder's unrelated error.

    Args:
        *args: Positional arguments of the mmseg dataset.
        labels (str): ``'required'`` or ``'optional'``, see above. Defaults to 'required'.
        **kwargs: Keyword arguments of the mmseg dataset.
    """

    #: How to obtain the data, shown when something is missing. ``{data_root}`` is filled in.
    DATA_ROOT_HINT: str = 'check `data_root` in the dataset config'

    def __init__(self, *args, labels: str = 'required', **kwargs) -> None:
        if labels not in LABEL_MODES:
            raise ValueError(f'labels must be one of {LABEL_MODES}, got {labels!r}')
        self.labels = labels
        super().__init__(*args, **kwargs)

    def _hint(self) -> str:
        return self.DATA_ROOT_HINT.format(data_root=self.data_root or '<data_root>')

    def _require(self, path: str, what: str) -> None:
        if not fileio.exists(path, backend_args=self.backend_args):
            raise FileNotFoundError(f'{what} {path} does not exist: {self._hint()}')

    def _check_split(self) -> None:
        """Check every line of the split list ``ann_file``."""
        self._require(self.ann_file, 'split list')
        lines = mmengine.list_from_file(self.ann_file, backend_args=self.backend_args)
        if not lines:
            raise ValueError(f'split list {self.ann_file} is empty')
        img_dir = self.data_prefix.get('img_path', '')
        first_line = {}
        for lineno, line in enumerate(lines, start=1):
            where = f'{self.ann_file}, line {lineno}'
            stem = line.strip()
            if not stem:
                raise ValueError(f'{where}: empty line; remove it')
            if len(stem.split()) > 1:
                raise ValueError(f'{where}: {split_line_error(stem)}')
            if stem in first_line:
                raise ValueError(
                    f'{where}: {stem!r} is listed again (first on line {first_line[stem]})'
                )
            first_line[stem] = lineno
            img_path = osp.join(img_dir, stem + self.img_suffix)
            if not fileio.exists(img_path, backend_args=self.backend_args):
                raise FileNotFoundError(
                    f'{where}: image {img_path} does not exist; fix the list or the data'
                )

    def load_data_list(self) -> List[dict]:
        """Load the data list through mmseg after checking the inputs.

        Returns:
            list[dict]: The data infos, each with ``num_classes`` added and, for
            ``labels='optional'``, ``seg_map_path=None`` where the label file is missing.
        """
        if self.data_root and not fileio.isdir(self.data_root, backend_args=self.backend_args):
            raise FileNotFoundError(f'data_root {self.data_root} does not exist: {self._hint()}')
        from_list = bool(self.ann_file) and not osp.isdir(self.ann_file)
        if from_list:
            self._check_split()
        else:
            self._require(self.data_prefix.get('img_path', ''), 'image folder')
        data_list = super().load_data_list()
        num_classes = len(self.metainfo['classes'])
        for lineno, info in enumerate(data_list, start=1):
            info['num_classes'] = num_classes
            seg_path = info.get('seg_map_path')
            if seg_path is None or fileio.exists(seg_path, backend_args=self.backend_args):
                continue
            if self.labels == 'optional':
                info['seg_map_path'] = None
            else:
                where = f'{self.ann_file}, line {lineno}: ' if from_list else ''
                raise FileNotFoundError(
                    f'{where}label {seg_path} of image {info["img_path"]} does not exist; '
                    "if this split is unlabeled, build the dataset with labels='optional'"
                )
        return data_list

    def prepare_data(self, idx: int):
        """Run the pipeline; name the file when it fails on an undecodable image or label.

        Args:
            idx (int): The index of the data info.

        Returns:
            Any: The pipeline's output.
        """
        try:
            return super().prepare_data(idx)
        except Exception as err:
            info = self.get_data_info(idx)
            for key in ('img_path', 'seg_map_path'):
                message = info.get(key) and decode_error(info[key], self.backend_args)
                if message:
                    raise ValueError(message) from err
            raise


class SemiSplitMixin:
    """Split-list checks of semi-supervised datasets: missing files counted, overlap warned.

    Put it first, in front of :class:`CheckedSegMixin`:
    ``class MyDataset(SemiSplitMixin, CheckedSegMixin, BaseSegDataset)``. Before the line-by-line
    checks of :class:`CheckedSegMixin`, a split list (``ann_file``) is checked against the disk
    as a whole with :func:`~farcluss_mmseg.utils.splits.check_split_files`: the images, and with
    ``labels='required'`` the labels, must exist, else a ``FileNotFoundError`` gives how many are
    missing, the first five and the dataset's :attr:`DATA_ROOT_HINT`. The check reads the local
    disk; it is skipped when ``backend_args`` names another file backend.

    Overlap: the labeled and the unlabeled part of a split are separate datasets, so the
    unlabeled one is told the labeled list with ``overlap_with``; when the lists share stems a
    ``UserWarning`` gives their number and the first five (training goes on: such images are then
    used both ways). The check runs when the dataset is built, i.e. before training starts.

    Args:
        *args: Positional arguments of the next base class.
        overlap_with (str, optional): Another split list (relative to ``data_root`` like
            ``ann_file``), usually the labeled list of the split this unlabeled list belongs to.
            Requires ``ann_file`` to be a split list. Defaults to None (no overlap check).
        **kwargs: Keyword arguments of :class:`CheckedSegMixin` and the mmseg dataset.
    """

    def __init__(self, *args, overlap_with: Optional[str] = None, **kwargs) -> None:
        self.overlap_with = overlap_with
        super().__init__(*args, **kwargs)

    def _label_dirs(self) -> List[str]:
        """The label folders searched, in order (subclasses may add a fallback)."""
        return [self.data_prefix.get('seg_map_path', '')]

    def _check_split(self) -> None:
        """Check the split list's files as a whole, then line by line, then the overlap."""
        self._require(self.ann_file, 'split list')
        lines = mmengine.list_from_file(self.ann_file, backend_args=self.backend_args)
        # Malformed lines (blank, several words) are reported with their line number below.
        stems = [line.strip() for line in lines if len(line.split()) == 1]
        if self.backend_args is None:
            self._check_files(stems)
        super()._check_split()
        if self.overlap_with is not None:
            other = self.overlap_with
            if self.data_root and not osp.isabs(other):
                other = osp.join(self.data_root, other)
            self._require(other, 'split list (overlap_with)')
            check_overlap(read_stem_list(other), stems, names=(other, self.ann_file))

    def _check_files(self, stems: Sequence[str]) -> None:
        """Raise, counting the missing images (and required labels) of ``stems``."""
        img_dir = self.data_prefix.get('img_path', '')
        try:
            check_split_files('', stems, img_dir, self.img_suffix, list_name=self.ann_file)
            if self.labels != 'required':
                return
            missing, label_dirs = list(stems), self._label_dirs()
            for label_dir in label_dirs[:-1]:
                missing = [s for s in missing if not self._has_label(label_dir, s)]
            list_name = self.ann_file
            if len(label_dirs) > 1:
                list_name += f' (labels not in {", ".join(label_dirs[:-1])})'
            check_split_files(
                '',
                missing,
                img_dir,
                self.img_suffix,
                label_dirs[-1],
                self.seg_map_suffix,
                list_name=list_name,
            )
        except FileNotFoundError as err:
            raise FileNotFoundError(f'{err}; {self._hint()}') from None

    def _has_label(self, label_dir: str, stem: str) -> bool:
        return osp.isfile(osp.join(label_dir, stem + self.seg_map_suffix))

    def load_data_list(self) -> List[dict]:
        """Load the data list (see :class:`CheckedSegMixin`).

        Returns:
            list[dict]: The data infos.
        """
        if self.overlap_with is not None and (not self.ann_file or osp.isdir(self.ann_file)):
            raise ValueError(
                f'overlap_with={self.overlap_with!r} needs ann_file to be a split list, got '
                f'{self.ann_file!r}'
            )
        return super().load_data_list()
