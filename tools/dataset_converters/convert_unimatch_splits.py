"""Convert UniMatch's split lists into the stem lists that the configs read.

UniMatch (LiheYoung/UniMatch, folder ``splits/``) publishes the standard semi-supervised
partitions as lines ``IMAGE_PATH LABEL_PATH`` relative to the dataset root. mmseg datasets read
an ``ann_file`` of stems instead (the image path relative to ``data_prefix['img_path']`` without
``img_suffix``), so this tool rewrites every list as a stem list and checks the counts.

``SRC_DIR`` is UniMatch's ``splits`` folder (holding ``pascal/`` and / or ``cityscapes/``) or one
of those two folders. With ``--dataset auto`` (default) the dataset is found from the sub-folder
names, or from the name of ``SRC_DIR`` itself; with an explicit ``--dataset`` a sub-folder of that
name is used if present, else ``SRC_DIR`` itself. Output always goes to ``OUT_DIR/<dataset>/``::

    OUT_DIR/pascal/<split>/labeled.txt            stems, e.g. 2007_000032
    OUT_DIR/pascal/<split>/unlabeled.txt
    OUT_DIR/pascal/<split>/labeled_SegmentationClass.txt      the labeled stems by label folder,
    OUT_DIR/pascal/<split>/labeled_SegmentationClassAug.txt   see below (either may be empty)
    OUT_DIR/pascal/train_aug.txt (+ _SegmentationClass / _SegmentationClassAug), val.txt
    OUT_DIR/cityscapes/<split>/{labeled,unlabeled}.txt   stems, e.g. aachen/aachen_000000_000019
    OUT_DIR/cityscapes/val.txt

Pascal splits: ``92 183 366 732 1464`` (classic), ``1_16 1_8 1_4`` and ``u2pl_1_16 u2pl_1_8
u2pl_1_4`` (blended); Cityscapes splits: ``1_30 1_16 1_8 1_4 1_2``. Read the lists with
``data_prefix=dict(img_path='JPEGImages', seg_map_path=...)`` for VOC and
``data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train')`` (``val`` for
val.txt) with CityscapesDataset's suffixes for Cityscapes.

VOC label folders. UniMatch's lines say ``SegmentationClass/`` for every image because its own
``SegmentationClass`` merges the fine VOC labels with the SBD ones. In mmseg's voc-aug layout
(``tools/dataset_converters/voc_aug.py``) the 1,464 finely annotated train images (UniMatch's
``pascal/1464/labeled.txt``) and the val images have labels in ``SegmentationClass``, and the other
9,118 train images only in ``SegmentationClassAug``. So each labeled list (and train_aug.txt) is
also written split by label folder, ``labeled_<folder>.txt``, to be read as a ``ConcatDataset``
of two datasets as mmseg's ``pascal_voc12_aug.py`` does. Classic splits label only fine images
(their ``_SegmentationClassAug`` list is empty); blended ones mix both. With UniMatch's merged
``SegmentationClass`` folder, read ``labeled.txt`` alone with ``seg_map_path='SegmentationClass'``.

Checks (a ``ValueError`` naming the file, and line where there is one): each line is
``IMAGE LABEL`` in the dataset's layout with matching names; no stem twice in a file; labeled and
unlabeled do not overlap and together are the train pool (``train_aug.txt`` when present, else
the first split's union), of the published size; labeled counts equal the published ones in
``EXPECTED`` (splits not in that table are converted with the other checks only); val is of
the published size and disjoint from the pool.

Your own subsets in UniMatch's format: ``--custom-sizes`` drops the three size checks against
the published numbers (pool, val, labeled counts) and keeps all the others. A Pascal folder
without ``1464/labeled.txt`` is then converted without the ``labeled_<folder>.txt`` lists (they
need the fine images' names); read ``labeled.txt`` with UniMatch's merged ``SegmentationClass``.

Example::

    python tools/dataset_converters/convert_unimatch_splits.py UniMatch/splits data/splits
    python tools/dataset_converters/convert_unimatch_splits.py my_splits/pascal data/splits \\
        --custom-sizes
"""

import argparse
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

from farcluss_mmseg.utils.splits import write_stem_list

# The published partitions (UniMatch's splits README): pool and val sizes, labeled count a split.
EXPECTED = {
    'pascal': dict(
        pool=10582,
        val=1449,
        labeled={
            '92': 92,
            '183': 183,
            '366': 366,
            '732': 732,
            '1464': 1464,
            '1_16': 662,
            '1_8': 1323,
            '1_4': 2646,
            'u2pl_1_16': 662,
            'u2pl_1_8': 1323,
            'u2pl_1_4': 2646,
        },
    ),
    'cityscapes': dict(
        pool=2975,
        val=500,
        labeled={'1_30': 100, '1_16': 186, '1_8': 372, '1_4': 744, '1_2': 1488},
    ),
}

# Line layout a dataset: (image prefix, image suffix, label prefix, label suffix); {subset} is
# 'train' or 'val'. The stem is what lies between the image prefix and suffix.
LAYOUTS = {
    'pascal': ('JPEGImages/', '.jpg', 'SegmentationClass/', '.png'),
    'cityscapes': (
        'leftImg8bit/{subset}/',
        '_leftImg8bit.png',
        'gtFine/{subset}/',
        '_gtFine_labelTrainIds.png',
    ),
}
# The train list of a dataset, if UniMatch publishes one.
POOL_FILES = {'pascal': 'train_aug.txt', 'cityscapes': None}
# VOC: the split whose labeled list is the 1,464 finely annotated train images.
VOC_FINE_SPLIT = '1464'
VOC_LABEL_DIRS = ('SegmentationClass', 'SegmentationClassAug')
CUSTOM_HINT = '; for your own subsets pass --custom-sizes (the other checks stay)'


def parse_unimatch_list(path: str, dataset: str, subset: str = 'train') -> List[str]:
    """Read one UniMatch list and return its stems.

    Args:
        path (str): The list file, lines ``IMAGE_PATH LABEL_PATH``.
        dataset (str): ``'pascal'`` or ``'cityscapes'``.
        subset (str): ``'train'`` or ``'val'`` (the Cityscapes folder the paths name).

    Returns:
        list[str]: The stems in file order.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: On a malformed line or a repeated image, naming file and line.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} does not exist; is the UniMatch split folder complete?')
    img_pre, img_suf, seg_pre, seg_suf = (s.format(subset=subset) for s in LAYOUTS[dataset])
    stems: List[str] = []
    first_line: Dict[str, int] = {}
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f'{path}:{lineno}'
            fields = line.split()
            if len(fields) != 2:
                raise ValueError(
                    f'{where}: expected "IMAGE_PATH LABEL_PATH", got {len(fields)} fields: '
                    f'{line.strip()!r}'
                )
            img, seg = fields
            if not (img.startswith(img_pre) and img.endswith(img_suf)):
                raise ValueError(
                    f'{where}: image path {img!r} is not {img_pre}<name>{img_suf} '
                    f'as {dataset} {subset} lists are; is this the right --dataset?'
                )
            stem = img[len(img_pre) : -len(img_suf)]
            if not stem or seg != f'{seg_pre}{stem}{seg_suf}':
                raise ValueError(
                    f'{where}: label path {seg!r} does not match image path {img!r} '
                    f'(expected {seg_pre}{stem}{seg_suf})'
                )
            if stem in first_line:
                raise ValueError(
                    f'{where}: {img} is listed twice (first on line {first_line[stem]})'
                )
            first_line[stem] = lineno
            stems.append(stem)
    return stems


def find_sources(src_dir: str, dataset: str = 'auto') -> Dict[str, str]:
    """Find the UniMatch folder of each dataset to convert.

    Args:
        src_dir (str): UniMatch's ``splits`` folder or its ``pascal`` / ``cityscapes`` folder.
        dataset (str): ``'pascal'``, ``'cityscapes'`` or ``'auto'``.

    Returns:
        dict[str, str]: Dataset name to its folder.
    """
    if not osp.isdir(src_dir):
        raise FileNotFoundError(f'SRC_DIR {src_dir} is not a folder')
    names = tuple(LAYOUTS) if dataset == 'auto' else (dataset,)
    found = {name: osp.join(src_dir, name) for name in names if osp.isdir(osp.join(src_dir, name))}
    base = osp.basename(osp.normpath(src_dir))
    if not found and (dataset != 'auto' or base in LAYOUTS):
        found = {base if dataset == 'auto' else dataset: src_dir}
    if not found:
        raise FileNotFoundError(
            f"found neither pascal/ nor cityscapes/ in {src_dir}; pass UniMatch's splits folder "
            'or name the dataset with --dataset'
        )
    return found


def _check_split(name: str, labeled: List[str], unlabeled: List[str], pool: set, pool_name: str):
    both = set(labeled) & set(unlabeled)
    if both:
        raise ValueError(
            f'{name}: {len(both)} images are both labeled and unlabeled, e.g. {min(both)}'
        )
    union = set(labeled) | set(unlabeled)
    if union != pool:
        raise ValueError(
            f'{name}: labeled + unlabeled ({len(union)} images) is not the pool {pool_name} '
            f'({len(pool)} images): {len(pool - union)} missing, {len(union - pool)} extra'
        )


def convert_dataset(src: str, out: str, dataset: str, custom_sizes: bool = False) -> List[dict]:
    """Convert and check one dataset's UniMatch folder.

    Args:
        src (str): UniMatch's folder of the dataset (``.../splits/pascal``).
        out (str): Output folder of the dataset (``OUT_DIR/pascal``).
        dataset (str): ``'pascal'`` or ``'cityscapes'``.
        custom_sizes (bool): Skip the checks against the published pool, val and labeled
            sizes (the user's own subsets). Defaults to False.

    Returns:
        list[dict]: One row a split, keys ``split, labeled, unlabeled, pool, expected`` (None
        with ``custom_sizes``) and for VOC ``fine`` (labeled images with ``SegmentationClass``
        labels in mmseg's layout; None when ``1464/labeled.txt`` is absent).
    """
    expected = EXPECTED[dataset]
    known = list(expected['labeled'])  # published splits first, in the table's order
    splits = sorted(
        (d for d in os.listdir(src) if osp.isfile(osp.join(src, d, 'labeled.txt'))),
        key=lambda d: (known.index(d) if d in known else len(known), d),
    )
    if not splits:
        raise FileNotFoundError(f'no <split>/labeled.txt in {src}')
    lists = {
        s: tuple(
            parse_unimatch_list(osp.join(src, s, f), dataset)
            for f in ('labeled.txt', 'unlabeled.txt')
        )
        for s in splits
    }
    pool_file = POOL_FILES[dataset] and osp.join(src, POOL_FILES[dataset])
    if pool_file and osp.isfile(pool_file):
        pool_list, pool_name = parse_unimatch_list(pool_file, dataset), pool_file
    else:
        pool_list = [stem for part in lists[splits[0]] for stem in part]
        pool_name = f'of split {osp.join(src, splits[0])}'
    pool = set(pool_list)
    if not custom_sizes and len(pool) != expected['pool']:
        raise ValueError(
            f'the {dataset} pool {pool_name} has {len(pool)} images, not the published '
            f'{expected["pool"]}{CUSTOM_HINT}'
        )
    val_file = osp.join(src, 'val.txt')
    val = parse_unimatch_list(val_file, dataset, subset='val')
    if pool & set(val):
        raise ValueError(
            f'{val_file}: {len(pool & set(val))} of its {len(val)} images are also in the train '
            'pool; val must be disjoint from it'
        )
    if not custom_sizes and len(val) != expected['val']:
        raise ValueError(
            f'{val_file}: {len(val)} images, the published {dataset} val set has '
            f'{expected["val"]}{CUSTOM_HINT}'
        )

    fine = None
    if dataset == 'pascal':
        if VOC_FINE_SPLIT in lists:
            fine = set(lists[VOC_FINE_SPLIT][0])
        elif not custom_sizes:
            raise FileNotFoundError(
                f'{osp.join(src, VOC_FINE_SPLIT, "labeled.txt")} is needed: it names the finely '
                'annotated VOC train images, whose labels are in SegmentationClass (with '
                '--custom-sizes the lists by label folder are skipped instead)'
            )

    for s in splits:
        labeled, unlabeled = lists[s]
        _check_split(osp.join(src, s), labeled, unlabeled, pool, pool_name)
        want = None if custom_sizes else expected['labeled'].get(s)
        if want is not None and len(labeled) != want:
            raise ValueError(
                f'{osp.join(src, s, "labeled.txt")}: {len(labeled)} labeled images, the published '
                f'split {dataset}/{s} has {want}{CUSTOM_HINT}'
            )

    # Everything checked: write.
    rows = []
    for s in splits:
        labeled, unlabeled = lists[s]
        write_stem_list(osp.join(out, s, 'labeled.txt'), labeled)
        write_stem_list(osp.join(out, s, 'unlabeled.txt'), unlabeled)
        row = dict(split=s, labeled=len(labeled), unlabeled=len(unlabeled), pool=len(pool))
        row['expected'] = None if custom_sizes else expected['labeled'].get(s)
        if dataset == 'pascal':
            row['fine'] = None
            if fine is not None:
                row['fine'] = _write_by_label_dir(osp.join(out, s, 'labeled'), labeled, fine)
        rows.append(row)
    write_stem_list(osp.join(out, 'val.txt'), val)
    if dataset == 'pascal':
        write_stem_list(osp.join(out, 'train_aug.txt'), pool_list)
    if fine is not None:
        _write_by_label_dir(osp.join(out, 'train_aug'), pool_list, fine)
    return rows


def _write_by_label_dir(prefix: str, stems: Sequence[str], fine: set) -> int:
    """Write ``<prefix>_SegmentationClass.txt`` / ``_SegmentationClassAug.txt``; return the
    number of fine stems."""
    in_fine = [s for s in stems if s in fine]
    write_stem_list(f'{prefix}_{VOC_LABEL_DIRS[0]}.txt', in_fine)
    write_stem_list(f'{prefix}_{VOC_LABEL_DIRS[1]}.txt', [s for s in stems if s not in fine])
    return len(in_fine)


def format_table(dataset: str, rows: List[dict], custom_sizes: bool = False) -> str:
    """Format the rows of :func:`convert_dataset` as a text table; unless ``custom_sizes``,
    name the published splits that were not in the source folder."""
    head = f'{"dataset":<11}{"split":<11}{"labeled":>8}{"unlabeled":>10}{"pool":>7}{"expected":>9}'
    voc = 'fine' in rows[0]
    if voc:
        head += '  labels in SegmentationClass / SegmentationClassAug'
    lines = [head]
    for r in rows:
        want = '-' if r['expected'] is None else str(r['expected'])
        line = (
            f'{dataset:<11}{r["split"]:<11}{r["labeled"]:>8}{r["unlabeled"]:>10}{r["pool"]:>7}'
            f'{want:>9}'
        )
        if voc:
            fine = r['fine']
            line += '  - (no 1464 split)' if fine is None else f'  {fine} / {r["labeled"] - fine}'
        lines.append(line)
    missing = sorted(set(EXPECTED[dataset]['labeled']) - {r['split'] for r in rows})
    if missing and not custom_sizes:
        lines.append(f'not in the source folder (not converted): {", ".join(missing)}')
    return '\n'.join(lines)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert UniMatch split lists (IMAGE LABEL lines) into mmseg stem lists'
    )
    parser.add_argument('src_dir', help="UniMatch's splits folder, or its pascal/cityscapes one")
    parser.add_argument('out_dir', help='output folder; lists go to OUT_DIR/<dataset>/')
    parser.add_argument(
        '--dataset', choices=('auto', *LAYOUTS), default='auto', help='dataset(s) to convert'
    )
    parser.add_argument(
        '--custom-sizes',
        action='store_true',
        help='your own subsets: do not compare pool, val and labeled sizes with the published '
        'ones (every other check stays)',
    )
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, List[dict]]:
    """Convert, print a table a dataset and return the rows by dataset."""
    args = parse_args(argv)
    results = {}
    for dataset, src in find_sources(args.src_dir, args.dataset).items():
        results[dataset] = convert_dataset(
            src, osp.join(args.out_dir, dataset), dataset, custom_sizes=args.custom_sizes
        )
        print(format_table(dataset, results[dataset], args.custom_sizes))
        print(f'wrote {osp.join(args.out_dir, dataset)}\n')
    return results


if __name__ == '__main__':
    try:
        main()
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f'error: {e}')
