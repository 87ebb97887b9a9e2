"""Make seeded labeled / unlabeled partitions of any mmseg-style dataset.

The pool is every image under ``DATA_ROOT/--img-dir`` whose name ends with ``--img-suffix``
(searched recursively, so Cityscapes' city folders work), or the stems of ``--pool``; every pool
image, and its label when ``--seg-dir`` is given, must exist. A ratio
``r`` labels ``ceil(r * N)`` of the ``N`` pool images (at least 1, fewer than ``N``): the ceiling
reproduces every published count (VOC 1/16 of 10,582 = 662, Cityscapes 1/30 of 2,975 = 100).

Plain draw: the sorted pool is shuffled with ``random.Random(seed)`` and the first ``k`` are
labeled, so for one seed a smaller ratio's labeled set lies inside a larger one's.
``--class-aware``: reads every pool label and, rarest class first (fewest pool images containing
it, ties by class id), labels a seeded random image containing each class not yet covered, while
fewer than ``k`` are labeled; then fills up to ``k`` at random. Every class of the pool then
appears in a labeled image whenever ``k`` allows it; the tool prints how many labeled images
contain each class and names the classes left out.

Writes ``OUT/<ratio>/labeled.txt`` and ``unlabeled.txt`` (sorted stem lists, the ratio written as
``1_16``) and prints the counts; ``OUT`` defaults to ``DATA_ROOT/splits/seed<seed>``. Existing
lists are kept unless ``--overwrite``.

Example (Cityscapes)::

    python tools/make_splits.py data/cityscapes --ratio 1/16 --ratio 1/8 --seed 0 \\
        --img-dir leftImg8bit/train --img-suffix _leftImg8bit.png \\
        --seg-dir gtFine/train --seg-suffix _gtFine_labelTrainIds.png --class-aware --num-classes 19
"""

import argparse
import math
import os
import os.path as osp
import random
import sys
from fractions import Fraction
from typing import Dict, List, Optional, Sequence, Set, Tuple

import numpy as np
from PIL import Image

from farcluss_mmseg.utils.splits import check_split_files, read_stem_list, write_stem_list


def parse_ratio(text: str) -> Fraction:
    """Parse ``'1/16'``, ``'1_16'`` or ``'0.0625'`` into an exact fraction in (0, 1)."""
    try:
        ratio = Fraction(text.replace('_', '/'))
    except (ValueError, ZeroDivisionError):
        raise ValueError(f'--ratio {text!r} is not a fraction like 1/16 or 0.0625') from None
    if not 0 < ratio < 1:
        raise ValueError(f'--ratio {text!r} must lie strictly between 0 and 1')
    return ratio


def ratio_name(ratio: Fraction) -> str:
    """Folder name of a ratio: ``Fraction(1, 16)`` -> ``'1_16'``."""
    return f'{ratio.numerator}_{ratio.denominator}'


def labeled_count(ratio: Fraction, pool_size: int) -> int:
    """Labeled images of a pool: ``ceil(ratio * pool_size)``, at least 1.

    Raises:
        ValueError: If nothing would be left unlabeled.
    """
    k = max(1, math.ceil(ratio * pool_size))
    if k >= pool_size:
        raise ValueError(
            f'ratio {ratio} of a {pool_size}-image pool labels {k} images, leaving none unlabeled'
        )
    return k


def scan_pool(img_root: str, img_suffix: str) -> List[str]:
    """Sorted stems (``/``-separated, relative to ``img_root``) of the images under it."""
    stems = []
    for folder, _, files in os.walk(img_root):
        rel = osp.relpath(folder, img_root)
        for name in files:
            if name.endswith(img_suffix) and len(name) > len(img_suffix):
                stem = name[: -len(img_suffix)]
                stems.append(stem if rel == '.' else f'{rel}/{stem}'.replace(os.sep, '/'))
    return sorted(stems)


def label_classes(
    path: str, num_classes: int, ignore_index: int = 255, reduce_zero_label: bool = False
) -> Set[int]:
    """Classes present in one label map (``ignore_index`` excluded).

    Raises:
        ValueError: If the map is not single-channel or holds values outside the classes.
    """
    label = np.asarray(Image.open(path))
    if label.ndim != 2:
        raise ValueError(f'{path}: expected a single-channel label map, got shape {label.shape}')
    values = np.unique(label).astype(np.int64)
    if reduce_zero_label:  # as mmseg's LoadAnnotations: 0 -> ignore, v -> v - 1
        values = np.where(values == 0, ignore_index, values - 1)
    values = values[values != ignore_index]
    bad = values[(values < 0) | (values >= num_classes)]
    if bad.size:
        raise ValueError(
            f'{path}: label values {bad.tolist()} are outside 0..{num_classes - 1} and the '
            f'ignore index {ignore_index}; check --num-classes / --ignore-index / '
            '--reduce-zero-label'
        )
    return set(values.tolist())


def draw_plain(pool: Sequence[str], k: int, seed: int) -> List[str]:
    """Seeded uniform draw of ``k`` stems (a prefix of one seeded shuffle of the sorted pool)."""
    order = sorted(pool)
    random.Random(seed).shuffle(order)
    return sorted(order[:k])


def draw_class_aware(classes: Dict[str, Set[int]], k: int, seed: int) -> List[str]:
    """Seeded draw of ``k`` stems covering every class when ``k`` allows, rarest class first.

    Args:
        classes (dict[str, set[int]]): Classes present in each pool image.
        k (int): Number of labeled images.
        seed (int): Random seed.

    Returns:
        list[str]: The sorted labeled stems.
    """
    rng = random.Random(seed)
    stems = sorted(classes)
    images_of: Dict[int, List[str]] = {}
    for stem in stems:
        for c in classes[stem]:
            images_of.setdefault(c, []).append(stem)
    chosen: List[str] = []
    covered: Set[int] = set()
    for c in sorted(images_of, key=lambda c: (len(images_of[c]), c)):
        if len(chosen) == k:
            break
        if c not in covered:
            pick = rng.choice(images_of[c])  # no image with c is chosen yet
            chosen.append(pick)
            covered |= classes[pick]
    taken = set(chosen)
    rest = [s for s in stems if s not in taken]
    rng.shuffle(rest)
    return sorted(chosen + rest[: k - len(chosen)])


def make_splits(args: argparse.Namespace) -> Dict[str, Tuple[List[str], List[str]]]:
    """Make and write the partitions that ``args`` asks for.

    Returns:
        dict[str, tuple[list[str], list[str]]]: Ratio folder name to (labeled, unlabeled).
    """
    ratios = [parse_ratio(r) for r in args.ratio]
    if args.class_aware and (args.seg_dir is None or args.num_classes is None):
        raise ValueError('--class-aware needs --seg-dir, --seg-suffix and --num-classes')
    if not args.class_aware and (args.num_classes is not None or args.reduce_zero_label):
        raise ValueError('--num-classes and --reduce-zero-label only apply with --class-aware')
    if (args.seg_dir is None) != (args.seg_suffix is None):
        raise ValueError('give --seg-dir and --seg-suffix together')
    img_root = osp.join(args.data_root, args.img_dir)
    if args.pool is not None:
        pool, pool_name = read_stem_list(args.pool), args.pool
    elif osp.isdir(img_root):
        pool, pool_name = scan_pool(img_root, args.img_suffix), f'{img_root}/**/*{args.img_suffix}'
    else:
        raise FileNotFoundError(
            f'image folder {img_root} does not exist; check DATA_ROOT / --img-dir'
        )
    if not pool:
        raise ValueError(f'the pool {pool_name} is empty; check --img-dir / --img-suffix / --pool')
    check_split_files(
        args.data_root,
        pool,
        args.img_dir,
        args.img_suffix,
        args.seg_dir,
        args.seg_suffix,
        pool_name,
    )
    classes = None
    if args.class_aware:
        seg_root = osp.join(args.data_root, args.seg_dir)
        classes = {
            s: label_classes(
                osp.join(seg_root, s + args.seg_suffix),
                args.num_classes,
                args.ignore_index,
                args.reduce_zero_label,
            )
            for s in pool
        }
    out_dir = args.out or osp.join(args.data_root, 'splits', f'seed{args.seed}')
    results = {}
    for ratio in ratios:
        name, k = ratio_name(ratio), labeled_count(ratio, len(pool))
        folder = osp.join(out_dir, name)
        if not args.overwrite and osp.exists(osp.join(folder, 'labeled.txt')):
            raise FileExistsError(f'{folder}/labeled.txt exists; pass --overwrite to replace it')
        if classes is None:
            labeled = draw_plain(pool, k, args.seed)
        else:
            labeled = draw_class_aware(classes, k, args.seed)
        unlabeled = sorted(set(pool) - set(labeled))
        write_stem_list(osp.join(folder, 'labeled.txt'), labeled)
        write_stem_list(osp.join(folder, 'unlabeled.txt'), unlabeled)
        results[name] = (labeled, unlabeled)
        print(
            f'{name}: {len(labeled)} labeled + {len(unlabeled)} unlabeled = {len(pool)} -> {folder}'
        )
        if classes is not None:
            print(format_class_table(classes, labeled))
    return results


def format_class_table(classes: Dict[str, Set[int]], labeled: Sequence[str]) -> str:
    """Per class: pool images and labeled images containing it; names uncovered classes."""
    in_pool: Dict[int, int] = {}
    in_labeled: Dict[int, int] = {}
    for present in classes.values():
        for c in present:
            in_pool[c] = in_pool.get(c, 0) + 1
    for stem in labeled:
        for c in classes[stem]:
            in_labeled[c] = in_labeled.get(c, 0) + 1
    lines = [f'  {"class":>5} {"pool images":>12} {"labeled images":>15}']
    lines += [f'  {c:>5} {in_pool[c]:>12} {in_labeled.get(c, 0):>15}' for c in sorted(in_pool)]
    uncovered = sorted(set(in_pool) - set(in_labeled))
    if uncovered:
        lines.append(f'  too few labeled images to cover classes {uncovered}')
    return '\n'.join(lines)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Make seeded labeled/unlabeled stem lists')
    parser.add_argument('data_root', help='dataset root')
    parser.add_argument(
        '--ratio', action='append', required=True, help='labeled fraction, e.g. 1/16; repeatable'
    )
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--img-dir', required=True, help='image folder under DATA_ROOT')
    parser.add_argument('--img-suffix', required=True, help='image suffix, e.g. .jpg')
    parser.add_argument('--seg-dir', help='label folder under DATA_ROOT')
    parser.add_argument('--seg-suffix', help='label suffix, e.g. .png')
    parser.add_argument('--pool', help='stem list of the pool (default: every image found)')
    parser.add_argument(
        '--class-aware', action='store_true', help='cover every class in the labeled set'
    )
    parser.add_argument('--num-classes', type=int, help='number of classes (--class-aware)')
    parser.add_argument('--ignore-index', type=int, default=255, help='label value to ignore')
    parser.add_argument(
        '--reduce-zero-label', action='store_true', help='labels are 1-based, 0 is ignored'
    )
    parser.add_argument('--out', help='output folder (default: DATA_ROOT/splits/seed<seed>)')
    parser.add_argument('--overwrite', action='store_true', help='replace existing lists')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Tuple[List[str], List[str]]]:
    """Command-line entry point; returns what :func:`make_splits` returns."""
    return make_splits(parse_args(argv))


if __name__ == '__main__':
    try:
        main()
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        sys.exit(f'error: {e}')
