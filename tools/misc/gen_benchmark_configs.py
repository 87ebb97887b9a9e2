"""Write the benchmark leaf configs and the README results table from one list of settings.

Every row of the paper's Tables 1-3 gets a FARCLUSS config in ``configs/farcluss/`` and a
supervised-only twin in ``configs/baselines/``, for ResNet-50 and ResNet-101. A leaf only names
its split lists and its iterations; everything else comes from the intermediate bases in
``configs/_base_/benchmarks/`` (one per method, backbone, dataset setting and crop), which are
written by hand. The iterations follow the paper's schedule, an epoch being one pass over the
unlabeled set at the paper's 8 unlabeled images a step::

    max_iters = epochs * ceil(N_unlabeled / 8)      (VOC 80 epochs, Cityscapes 240)

The supervised twin runs as many iterations of 8 labeled images. The README table between the
``<!-- benchmark-table -->`` markers of ``configs/farcluss/README.md`` and ``README.md`` is
written too.

Usage::

    python tools/misc/gen_benchmark_configs.py          # (re)write the files
    python tools/misc/gen_benchmark_configs.py --check  # exit 1 if a file is not up to date

``tests/test_configs/test_benchmark_configs.py`` runs the check.
"""

import argparse
import math
import os.path as osp
import re
import sys
import textwrap
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# The READMEs holding the table, with the prefix of the links from each to configs/farcluss/.
READMES = {osp.join('configs', 'farcluss', 'README.md'): '', 'README.md': 'configs/farcluss/'}
TABLE_BEGIN = '<!-- benchmark-table: begin (tools/misc/gen_benchmark_configs.py) -->'
TABLE_END = '<!-- benchmark-table: end -->'

EPOCHS = {'voc': 80, 'cityscapes': 240}  # paper §4.1
UNLABELED_PER_STEP = 8  # B_u over all GPUs (paper: 8 labeled + 8 unlabeled)
GPUS, LABELED_PER_GPU, UNLABELED_PER_GPU = 4, 2, 2
POOL = {'voc': 10582, 'cityscapes': 2975}  # train images
LABELED = {  # labeled images of each published split (UniMatch's lists)
    'voc': {
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
    'cityscapes': {'1_16': 186, '1_8': 372, '1_4': 744, '1_2': 1488},
}
BACKBONES = ('r50', 'r101')


class Setting(NamedTuple):
    """One dataset setting of the paper: a table, its splits and crops."""

    kind: str  # slug prefix and intermediate-base suffix, e.g. 'voc-classic'
    dataset: str  # key of EPOCHS / POOL / LABELED
    title: str  # README dataset column
    table: str
    split_root: str  # split lists below data_root
    splits: Tuple[str, ...]
    crops: Tuple[int, ...]


SETTINGS = (
    Setting(
        'voc-classic', 'voc', 'VOC classic', 'Table 1', 'splits/pascal',
        ('92', '183', '366', '732', '1464'), (321,),
    ),
    Setting(
        'voc-blended', 'voc', 'VOC blended', 'Table 2', 'splits/pascal',
        ('1_16', '1_8', '1_4', 'u2pl_1_16', 'u2pl_1_8', 'u2pl_1_4'), (321, 513),
    ),
    Setting(
        'cityscapes', 'cityscapes', 'Cityscapes', 'Table 3', 'splits/cityscapes',
        ('1_16', '1_8', '1_4', '1_2'), (801,),
    ),
)  # fmt: skip

# The paper's mIoU (%) as printed: (FARCLUSS, supervised only); None where the table has no
# number. The blended table does not say which draw it used: its numbers are shown for both.
CLASSIC_RATIO = {'92': '1/16', '183': '1/8', '366': '1/4', '732': '1/2', '1464': 'full'}
PAPER: Dict[Tuple[str, str, str, int], Tuple[Optional[str], Optional[str]]] = {
    # Table 1, VOC classic (no crop given; UniMatch's classic setting is 321).
    ('voc-classic', '92', 'r50', 321): ('72.90', '44.00'),
    ('voc-classic', '183', 'r50', 321): ('76.18', '52.30'),
    ('voc-classic', '366', 'r50', 321): ('76.50', '61.70'),
    ('voc-classic', '732', 'r50', 321): ('77.69', '66.70'),
    ('voc-classic', '1464', 'r50', 321): ('78.90', None),
    ('voc-classic', '92', 'r101', 321): ('76.4', '45.1'),
    ('voc-classic', '183', 'r101', 321): ('78.2', '55.3'),
    ('voc-classic', '366', 'r101', 321): ('79.0', '64.8'),
    ('voc-classic', '732', 'r101', 321): ('80.3', '69.7'),
    ('voc-classic', '1464', 'r101', 321): (None, None),
    # Table 2, VOC blended.
    ('voc-blended', '1_16', 'r50', 321): ('74.9', '61.2'),
    ('voc-blended', '1_8', 'r50', 321): ('76.3', '67.3'),
    ('voc-blended', '1_4', 'r50', 321): ('76.4', '70.8'),
    ('voc-blended', '1_16', 'r101', 321): ('77.2', '65.6'),
    ('voc-blended', '1_8', 'r101', 321): ('77.8', '70.4'),
    ('voc-blended', '1_4', 'r101', 321): ('78.4', '72.8'),
    ('voc-blended', '1_16', 'r50', 513): ('76.1', '62.4'),
    ('voc-blended', '1_8', 'r50', 513): ('77.3', '68.2'),
    ('voc-blended', '1_4', 'r50', 513): ('77.5', '72.3'),
    ('voc-blended', '1_16', 'r101', 513): ('78.5', '67.5'),
    ('voc-blended', '1_8', 'r101', 513): ('79.0', '71.1'),
    ('voc-blended', '1_4', 'r101', 513): ('79.8', '74.2'),
    # Table 3, Cityscapes.
    ('cityscapes', '1_16', 'r50', 801): ('75.20', '63.34'),
    ('cityscapes', '1_8', 'r50', 801): ('77.50', '68.73'),
    ('cityscapes', '1_4', 'r50', 801): ('78.00', '74.14'),
    ('cityscapes', '1_2', 'r50', 801): ('79.60', '76.62'),
    ('cityscapes', '1_16', 'r101', 801): ('77.2', '66.3'),
    ('cityscapes', '1_8', 'r101', 801): ('78.5', '72.8'),
    ('cityscapes', '1_4', 'r101', 801): ('80.0', '75.0'),
    ('cityscapes', '1_2', 'r101', 801): ('81.0', '78.0'),
}


class Row(NamedTuple):
    """One benchmark: a FARCLUSS config and its supervised twin."""

    setting: Setting
    split: str
    backbone: str
    crop: int
    num_labeled: int
    num_unlabeled: int
    max_iters: int

    @property
    def slug(self) -> str:
        """Dataset and split part of the file name, e.g. ``voc-blended-u2pl-1-16``."""
        return f'{self.setting.kind}-{self.split.replace("_", "-")}'

    def base(self, farcluss: bool) -> str:
        """The intermediate base, relative to the leaf."""
        prefix, batch = ('farcluss_', '+2') if farcluss else ('', '')
        return (
            f'../_base_/benchmarks/{prefix}deeplabv3plus_{self.backbone}-d16_4xb2{batch}_'
            f'{self.setting.kind}-{self.crop}x{self.crop}.py'
        )

    def path(self, farcluss: bool) -> str:
        """The leaf config, relative to the repository root."""
        k = f'{round(self.max_iters / 1000)}k'
        crop = f'{self.crop}x{self.crop}'
        if farcluss:
            name = f'farcluss_deeplabv3plus_{self.backbone}-d16_4xb2+2-{k}_{self.slug}-{crop}.py'
            return osp.join('configs', 'farcluss', name)
        name = f'deeplabv3plus_{self.backbone}-d16_4xb2-{k}_{self.slug}-{crop}.py'
        return osp.join('configs', 'baselines', name)

    @property
    def split_dir(self) -> str:
        return f'{self.setting.split_root}/{self.split}'

    @property
    def paper(self) -> Tuple[Optional[str], Optional[str]]:
        ratio = self.split.replace('u2pl_', '')
        return PAPER.get((self.setting.kind, ratio, self.backbone, self.crop), (None, None))


def schedule_iters(epochs: int, num_unlabeled: int, per_step: int = UNLABELED_PER_STEP) -> int:
    """Iterations of ``epochs`` passes over ``num_unlabeled`` images, ``per_step`` a step."""
    return epochs * math.ceil(num_unlabeled / per_step)


def benchmark_rows() -> List[Row]:
    """Every benchmark, in the README's order."""
    rows = []
    for setting in SETTINGS:
        for crop in setting.crops:
            for backbone in BACKBONES:
                for split in setting.splits:
                    num_labeled = LABELED[setting.dataset][split]
                    num_unlabeled = POOL[setting.dataset] - num_labeled
                    iters = schedule_iters(EPOCHS[setting.dataset], num_unlabeled)
                    rows.append(
                        Row(setting, split, backbone, crop, num_labeled, num_unlabeled, iters)
                    )
    return rows


def _describe(row: Row) -> str:
    backbone = {'r50': 'ResNet-50', 'r101': 'ResNet-101'}[row.backbone]
    split = row.split
    if row.setting.kind == 'voc-classic':
        split = f'{row.split} ({CLASSIC_RATIO[row.split]})'
    return (
        f'DeepLabV3+ {backbone} OS16, {row.setting.title} split {split}: {row.num_labeled} '
        f'labeled images, {row.crop}x{row.crop} crops (paper {row.setting.table})'
    )


def _comment(text: str) -> str:
    return ''.join(f'# {line}\n' for line in textwrap.wrap(text, 98))


GENERATED = '# Generated by tools/misc/gen_benchmark_configs.py: edit that script, not this file.\n'
# The rows that also get a UniMatch V1 config (the peer of FARCLUSS), by (kind, split, backbone).
UNIMATCH_ROWS = {('voc-classic', '92', 'r101'), ('cityscapes', '1_16', 'r101')}
# UniMatch's published Cityscapes values (its VOC ones are the method base's).
UNIMATCH_CITYSCAPES = """model = dict(
    _base_.method,
    _delete_=True,
    segmentor=_base_.model,
    semi_train_cfg=dict(_base_.method.semi_train_cfg, confidence_threshold=0.0),
)
custom_hooks = [*_base_.custom_hooks, *_base_.method_hooks]
optim_wrapper = dict(
    optimizer=dict(lr=0.005), paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=1.0)})
)
"""
UNIMATCH_VOC = """model = dict(_base_.method, _delete_=True, segmentor=_base_.model)
custom_hooks = [*_base_.custom_hooks, *_base_.method_hooks]
"""


def unimatch_path(row: Row) -> str:
    """The UniMatch leaf of a row, relative to the repository root."""
    return row.path(True).replace('farcluss', 'unimatch', 1).replace('farcluss_', 'unimatch_', 1)


def unimatch_leaf_text(row: Row) -> str:
    """The UniMatch V1 leaf of a row: the FARCLUSS leaf's data, iterations and twin, UniMatch's
    method base and, on Cityscapes, its published Cityscapes values."""
    here = osp.dirname(unimatch_path(row))
    peer = osp.relpath(row.path(True), here)
    twin = osp.relpath(row.path(False), here)
    cityscapes = row.setting.dataset == 'cityscapes'
    text = GENERATED + _comment(
        f'UniMatch V1, {_describe(row)}: the peer of {peer} with the same data, iterations and '
        f'supervised twin ({twin}).'
        + (
            " UniMatch's published Cityscapes values: every pseudo-label used (threshold 0), "
            'lr 0.005 with the decoder at 1x; its OHEM supervised loss is not used (L_s stays '
            "the twin's cross-entropy)."
            if cityscapes
            else ''
        )
    )
    semi_base = row.base(True).replace('/farcluss_', '/semi_')
    text += f"_base_ = [\n    '{semi_base}',\n    '../_base_/methods/unimatch.py',\n]\n"
    text += UNIMATCH_CITYSCAPES if cityscapes else UNIMATCH_VOC
    return text + _leaf_data(row, True)


def leaf_text(row: Row, farcluss: bool) -> str:
    """The text of one leaf config."""
    twin = osp.relpath(row.path(not farcluss), osp.dirname(row.path(farcluss)))
    epochs = EPOCHS[row.setting.dataset]
    iters = (
        f'{epochs} epochs of the {row.num_unlabeled} unlabeled images, 8 a step: {epochs} x '
        f'ceil({row.num_unlabeled} / 8) = {row.max_iters} iterations'
    )
    if farcluss:
        head = _comment(f'FARCLUSS, {_describe(row)}. {iters} of 8 labeled + 8 unlabeled images.')
        head += f'# Supervised-only twin:\n#   {twin}\n'
    else:
        head = _comment(
            f'Supervised only, {_describe(row)}. As many iterations of 8 labeled images as '
            f'FARCLUSS: {iters}.'
        )
        head += f'# FARCLUSS twin:\n#   {twin}\n'
    return GENERATED + head + f"_base_ = ['{row.base(farcluss)}']\n" + _leaf_data(row, farcluss)


def _leaf_data(row: Row, semi: bool) -> str:
    """A leaf's split lists, iterations and schedule end."""
    text = f"split_dir = '{row.split_dir}'\nmax_iters = {row.max_iters}\n"
    text += "labeled_dataset = dict(_base_.labeled_dataset, ann_file=f'{split_dir}/labeled.txt')\n"
    if semi:
        text += (
            'unlabeled_dataset = dict(\n'
            '    _base_.unlabeled_dataset,\n'
            "    ann_file=f'{split_dir}/unlabeled.txt',\n"
            "    overlap_with=f'{split_dir}/labeled.txt',\n"
            ')\n'
            'train_dataloader = dict(dataset=dict(datasets=[labeled_dataset, unlabeled_dataset]))\n'
        )
    else:
        text += 'train_dataloader = dict(dataset=labeled_dataset)\n'
    text += 'train_cfg = dict(max_iters=max_iters)\n'
    text += 'param_scheduler = [dict(_base_.param_scheduler[0], end=max_iters)]\n'
    return text


def _paper_cell(value: Optional[str], row: Row) -> str:
    if value is None:
        return ''
    return f'{value} †' if row.setting.kind == 'voc-blended' else value


def readme_table(
    rows: Sequence[Row], measured: Dict[str, Tuple[str, str]], prefix: str = ''
) -> str:
    """The README's results table, one row per FARCLUSS config and its twin.

    Args:
        rows (Sequence[Row]): The benchmarks.
        measured (dict): The measured (FARCLUSS, supervised) cells by FARCLUSS config name, kept
            from the current README.
        prefix (str): Path from the README to ``configs/farcluss/``, for the links.

    Returns:
        str: The Markdown table.
    """
    lines = [
        '| dataset | split (labeled) | backbone | crop | GPUs × batch | iterations '
        '| paper FARCLUSS | paper sup. only | measured FARCLUSS | measured sup. only '
        '| configs |',
        '|---|---|---|---|---|---|---|---|---|---|---|',
    ]
    batch = f'{GPUS} × ({LABELED_PER_GPU} + {UNLABELED_PER_GPU}); sup. {GPUS} × {LABELED_PER_GPU}'
    for row in rows:
        split = row.split.replace('_', '/')
        if row.setting.kind == 'voc-classic':
            split = f'{CLASSIC_RATIO[row.split]} ({row.num_labeled})'
        elif split.startswith('u2pl/'):
            split = f'{split[5:]} U2PL draw ({row.num_labeled})'
        else:
            split = f'{split} ({row.num_labeled})'
        name = osp.basename(row.path(True))
        ours, sup = (_paper_cell(v, row) for v in row.paper)
        got_ours, got_sup = measured.get(name, ('', ''))
        twin = osp.basename(row.path(False))
        configs = f'[FARCLUSS]({prefix}{name}), [sup. only]({prefix}../baselines/{twin})'
        cells = [
            row.setting.title, split, row.backbone.upper(), str(row.crop), batch,
            str(row.max_iters), ours, sup, got_ours, got_sup, configs,
        ]  # fmt: skip
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def measured_cells(table: str) -> Dict[str, Tuple[str, str]]:
    """The measured cells of an existing table, by FARCLUSS config name."""
    cells = {}
    for line in table.splitlines():
        match = re.search(r'\[FARCLUSS\]\(([^)]+)\)', line)
        if match:
            parts = [c.strip() for c in line.split('|')[1:-1]]
            cells[osp.basename(match.group(1))] = (parts[8], parts[9])
    return cells


def render(repo: str = REPO) -> Dict[str, str]:
    """Every generated file's text by its path relative to ``repo``.

    The README's measured columns are kept as they are.

    Raises:
        ValueError: If the README lacks the table markers.
    """
    rows = benchmark_rows()
    files = {row.path(f): leaf_text(row, f) for row in rows for f in (True, False)}
    for row in rows:
        if (row.setting.kind, row.split, row.backbone) in UNIMATCH_ROWS:
            files[unimatch_path(row)] = unimatch_leaf_text(row)
    for readme_path, prefix in READMES.items():
        with open(osp.join(repo, readme_path), encoding='utf-8') as f:
            readme = f.read()
        begin, end = readme.find(TABLE_BEGIN), readme.find(TABLE_END)
        if begin < 0 or end < begin:
            raise ValueError(f'{readme_path} must hold the lines {TABLE_BEGIN!r} and {TABLE_END!r}')
        begin += len(TABLE_BEGIN)
        table = readme_table(rows, measured_cells(readme[begin:end]), prefix)
        files[readme_path] = f'{readme[:begin]}\n{table}\n{readme[end:]}'
    return files


def stale_files(repo: str = REPO) -> List[str]:
    """Generated files that are missing or differ from what :func:`render` writes."""
    stale = []
    for path, text in render(repo).items():
        full = osp.join(repo, path)
        if not osp.isfile(full):
            stale.append(path)
            continue
        with open(full, encoding='utf-8') as f:
            if f.read() != text:
                stale.append(path)
    return stale


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--check', action='store_true', help='only report stale files')
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f'not up to date: {path}')
        if stale:
            print('run `python tools/misc/gen_benchmark_configs.py` and commit the result')
        return int(bool(stale))
    for path, text in render().items():
        with open(osp.join(REPO, path), 'w', encoding='utf-8') as f:
            f.write(text)
    print(f'wrote {len(render()) - len(READMES)} configs and the tables of {list(READMES)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
