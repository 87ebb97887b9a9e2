"""Stem lists: the labeled / unlabeled partitions that semi-supervised configs read.

A stem list is a text file with one sample a line, written as mmseg's ``BaseSegDataset`` reads an
``ann_file``: the image path relative to ``data_prefix['img_path']`` without ``img_suffix``
(VOC: ``2007_000032``; Cityscapes: ``aachen/aachen_000000_000019`` relative to
``leftImg8bit/train``). The helpers here read and write such lists and check them against the disk.
"""

import os
import os.path as osp
import warnings
from typing import Iterable, List, Optional, Sequence, Tuple

_SHOWN = 5  # how many missing / overlapping names an error message quotes


CONVERTER = 'tools/dataset_converters/convert_unimatch_splits.py'


def split_line_error(line: str) -> str:
    """Say what is wrong with a split-list line that holds more than one word.

    Args:
        line (str): The stripped line.

    Returns:
        str: The message; for ``IMAGE_PATH LABEL_PATH`` lines (UniMatch's format) it names the
        converter that writes stem lists.
    """
    message = f'expected one image stem a line (mmseg style), got {line!r}'
    if len(line.split()) == 2:
        message += (
            '; this looks like a UniMatch-format list (IMAGE_PATH LABEL_PATH): convert it with '
            f'`python {CONVERTER} SRC_DIR OUT_DIR` (SRC_DIR: the folder holding pascal/ or '
            'cityscapes/) and point ann_file at the converted list'
        )
    return message


def read_stem_list(path: str) -> List[str]:
    """Read a stem list, one stem a line.

    Surrounding whitespace is stripped and blank lines are skipped.

    Args:
        path (str): The list file.

    Returns:
        list[str]: The stems, in file order.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If a line holds more than one word (a UniMatch-format list is named as
            such) or a stem appears twice (the message names both lines).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'stem list {path} does not exist')
    stems: List[str] = []
    first_line = {}
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, start=1):
            stem = line.strip()
            if not stem:
                continue
            if len(stem.split()) > 1:
                raise ValueError(f'{path}:{lineno}: {split_line_error(stem)}')
            if stem in first_line:
                raise ValueError(
                    f'{path}:{lineno}: duplicate stem {stem!r} (first on line '
                    f'{first_line[stem]}); each image may be listed once'
                )
            first_line[stem] = lineno
            stems.append(stem)
    return stems


def write_stem_list(path: str, stems: Iterable[str]) -> None:
    """Write a stem list, one stem a line, creating the parent folder.

    Args:
        path (str): The list file to write (overwritten if it exists).
        stems (Iterable[str]): The stems, written in the given order.

    Raises:
        ValueError: If a stem is empty, has surrounding whitespace or a line break.
    """
    stems = list(stems)
    for stem in stems:
        if not stem or stem != stem.strip() or '\n' in stem:
            raise ValueError(f'cannot write {stem!r} to {path}: a stem must be one non-blank word')
    if osp.dirname(path):
        os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.writelines(f'{stem}\n' for stem in stems)


def _check_exist(stems: Sequence[str], folder: str, suffix: str, what: str, list_name: str) -> None:
    missing = [stem + suffix for stem in stems if not osp.isfile(osp.join(folder, stem + suffix))]
    if missing:
        shown = ', '.join(missing[:_SHOWN]) + (', ...' if len(missing) > _SHOWN else '')
        raise FileNotFoundError(
            f'{len(missing)} of {len(stems)} {what} listed in {list_name} are missing under '
            f'{folder}: {shown} — check data_root / the split list'
        )


def check_split_files(
    data_root: str,
    stems: Sequence[str],
    img_dir: str,
    img_suffix: str,
    seg_dir: Optional[str] = None,
    seg_suffix: Optional[str] = None,
    list_name: str = 'the split list',
) -> None:
    """Check that every listed image (and label) exists on disk.

    Args:
        data_root (str): The dataset root.
        stems (Sequence[str]): The stems to check.
        img_dir (str): Image folder relative to ``data_root`` (mmseg's ``img_path``).
        img_suffix (str): Image suffix, e.g. ``'.jpg'`` or ``'_leftImg8bit.png'``.
        seg_dir (str, optional): Label folder relative to ``data_root``; labels are not checked
            when it is None.
        seg_suffix (str, optional): Label suffix; required with ``seg_dir``.
        list_name (str): How messages name the list, usually its path.

    Raises:
        FileNotFoundError: Naming the first 5 missing files and how many are missing, images
            checked before labels.
        ValueError: If ``seg_dir`` is given without ``seg_suffix``.
    """
    _check_exist(stems, osp.join(data_root, img_dir), img_suffix, 'images', list_name)
    if seg_dir is not None:
        if seg_suffix is None:
            raise ValueError('check_split_files: seg_dir is given but seg_suffix is not')
        _check_exist(stems, osp.join(data_root, seg_dir), seg_suffix, 'labels', list_name)


def check_overlap(
    labeled: Iterable[str],
    unlabeled: Iterable[str],
    names: Tuple[str, str] = ('the labeled list', 'the unlabeled list'),
) -> int:
    """Count the stems found in both lists, warning when there are any.

    Args:
        labeled (Iterable[str]): Labeled stems.
        unlabeled (Iterable[str]): Unlabeled stems.
        names (tuple[str, str]): How the warning names the two lists, usually their paths.

    Returns:
        int: The number of stems in both lists.
    """
    both = sorted(set(labeled) & set(unlabeled))
    if both:
        shown = ', '.join(both[:_SHOWN]) + (', ...' if len(both) > _SHOWN else '')
        warnings.warn(
            f'{len(both)} stems are listed in both {names[0]} and {names[1]}: {shown}; they are '
            'used as labeled and unlabeled samples',
            UserWarning,
            stacklevel=2,
        )
    return len(both)
