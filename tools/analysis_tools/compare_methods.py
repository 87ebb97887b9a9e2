"""Accuracy of semi-supervised methods on the demo data against the supervised and oracle bounds.

    python tools/analysis_tools/compare_methods.py [--seeds 0 1 2 3 4] [--ablation-seeds 0 1 2]
        [--iters N] [--methods NAME ...] [--out work_dirs/compare_methods] [--data-root DIR]
        [--threads 2] [--smoke]

A method is a config and ``--cfg-options`` (:data:`METHODS`). For every method (default: all of
:data:`DEFAULT_METHODS`) and seed, with the same iterations:

1. trains with ``tools/train.py`` in a subprocess (one after the other, ``OMP_NUM_THREADS`` =
   ``--threads``), with the method's options plus the seed (``randomness.seed``), the
   iterations (and the schedulers' end), no validation during training, one checkpoint at the
   end, and a log line every ``iters / 100`` iterations averaged over exactly those
   iterations. A run whose final checkpoint exists with the same config and options is reused;
2. evaluates the final checkpoint on the val set (the teacher for mean-teacher methods) and
   reads mIoU and the rare class's IoU (``PerClassIoUMetric``'s ``IoU.<rare class>``), then on
   the unlabeled images of the split against their hidden labels (:data:`FINAL_PL`: the final
   pseudo-labels, whole images, argmax, no threshold: pixel accuracy and the rare class's
   precision and recall);
3. reads the pseudo-label statistics of :data:`PL_KEYS` (the teacher's pseudo-labels of the
   weak views during training vs the hidden labels: accuracy, share used, accuracy of the used
   ones) from
   ``<run>/<timestamp>/vis_data/scalars.json``, averaged over the last 10 % of the iterations;
   a key a method does not log is n/a.

Then it prints one table and writes ``<out>/compare_methods.md``, ``compare_methods.json`` (the
per-seed values too), ``compare_methods.png`` (bars with error bars and every seed's value;
every seed's paired difference to FARCLUSS) and ``training_curves.png`` (pseudo-label accuracy,
used share and rare-class precision and recall against iteration of :data:`CURVE_METHODS`, mean
over seeds; also a table in the ``.md``). Columns: mean ± sample std over seeds (std 0 for one
seed), the share of the supervised -> oracle mIoU gap a method recovers (:func:`gap_recovered`),
and the per-seed paired mIoU difference to FARCLUSS with the count of seeds where FARCLUSS is
ahead (:func:`paired_differences`); per seed also the training's wall time. The demo data is
generated first if missing. ``--smoke`` (for the tests): :data:`SMOKE`, a tiny network.
"""

import argparse
import datetime
import glob
import json
import math
import os
import os.path as osp
import platform
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools'))

from make_demo_data import RARE_CLASS  # noqa: E402

DATA_ROOT = 'data/farcluss_demo'
_DEMO = 'deeplabv3plus_r18-w32-d8_1xb8+8-600it_farcluss-demo-1-16-96x96'
_ABLATION = f'configs/farcluss/ablations/farcluss_{_DEMO}_'
_BASELINE = 'configs/baselines/deeplabv3plus_r18-w32-d8_1xb8-600it_farcluss-demo-{}-96x96.py'
# The one list of compared methods: name -> config (relative to the checkout) and the
# --cfg-options that make the method from it (a variant needs no config file of its own).
METHODS: Dict[str, dict] = {
    'supervised': dict(config=_BASELINE.format('1-16'), options={}),
    'oracle': dict(config=_BASELINE.format('oracle'), options={}),
    'hard-label-mt': dict(config=f'configs/mean_teacher/mean-teacher-hard_{_DEMO}.py', options={}),
    'unimatch': dict(config=f'configs/unimatch/unimatch_{_DEMO}.py', options={}),
    'farcluss': dict(config=f'configs/farcluss/farcluss_{_DEMO}.py', options={}),
    'no-rebalance': dict(config=f'{_ABLATION}no-rebalance.py', options={}),
    'no-entropy-weight': dict(config=f'{_ABLATION}no-entropy-weight.py', options={}),
    'k1': dict(config=f'{_ABLATION}k1.py', options={}),
    'no-contrast': dict(config=f'{_ABLATION}no-contrast.py', options={}),
    'no-feature-perturbation': dict(config=f'{_ABLATION}no-feature-perturbation.py', options={}),
    'no-entropy-threshold': dict(config=f'{_ABLATION}no-entropy-threshold.py', options={}),
    'hard-label-mt-no-threshold': dict(
        config=f'configs/mean_teacher/mean-teacher-hard_{_DEMO}_no-threshold.py', options={}
    ),
}
DEFAULT_METHODS = list(METHODS)[:10]  # the list; the last two on request
# FARCLUSS with one component changed; --ablation-seeds may run them on fewer seeds.
ABLATIONS = [name for name in METHODS if name.startswith(('no-', 'k1'))]
REFERENCE = 'farcluss'  # the paired differences are taken to this method
LOWER, UPPER = 'supervised', 'oracle'  # the gap a semi-supervised method can close
CURVE_METHODS = ('farcluss', 'hard-label-mt', 'unimatch')  # training curves, those that ran
SMOKE = dict(methods=['supervised', 'farcluss'], seeds=[0, 1], iters=2)
TINY = {  # --smoke: ResNetV1c-18 with 8 base channels, a 16-channel head
    'backbone.base_channels': 8,
    'backbone.stem_channels': 8,
    'decode_head.in_channels': 64,
    'decode_head.c1_in_channels': 8,
    'decode_head.channels': 16,
    'decode_head.c1_channels': 8,
}
# Pseudo-label statistics read from the training log (logged in %): key -> column label.
PL_KEYS = {
    'pl_acc': 'PL acc (training)',
    'pl_used_ratio': 'PL used (training)',  # share of the pixels that enter L_u
    'pl_used_acc': 'used PL acc (training)',
}
# The final model's labels of the unlabeled images: column -> (PerClassIoUMetric key, label).
# Pooled over all pixels of the split; the training log's rare-class ratios are per batch (0 for
# a batch without the class), which averages absences in as zeros.
UNLABELED_SPLIT = 'splits/1_16/unlabeled.txt'
FINAL_PL = {
    'final_pl_acc': ('aAcc', 'final PL acc'),
    'final_pl_rare_precision': (f'Precision.{RARE_CLASS}', f'final PL precision ({RARE_CLASS})'),
    'final_pl_rare_recall': (f'Recall.{RARE_CLASS}', f'final PL recall ({RARE_CLASS})'),
}
METRICS = (
    ('mIoU', 'mIoU'),
    ('rare_iou', f'IoU ({RARE_CLASS})'),
    *PL_KEYS.items(),
    *((key, label) for key, (_, label) in FINAL_PL.items()),
)
CURVES = (
    ('pl_acc', 'pseudo-label accuracy'),
    ('pl_used_ratio', 'share of pixels used in L_u'),
    ('pl_rare_precision', f'PL precision ({RARE_CLASS}), per batch, 0 if none'),
    ('pl_rare_recall', f'PL recall ({RARE_CLASS}), per batch, 0 if none'),
)
CURVE_POINTS = 10  # the curves' table: mean over seeds at every tenth of the iterations
CURVE_SMOOTHING = 5  # the figure: a centred moving mean over this many log points


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4])
    parser.add_argument(
        '--ablation-seeds',
        type=int,
        nargs='+',
        default=None,
        help=f'seeds of the ablations ({", ".join(ABLATIONS)}); default: --seeds',
    )
    parser.add_argument('--iters', type=int, default=None, help="default: the configs' own")
    parser.add_argument('--methods', nargs='+', choices=list(METHODS), default=None)
    parser.add_argument(
        '--out', default='work_dirs/compare_methods', help='output and run folder (git-ignored)'
    )
    parser.add_argument('--data-root', default=None, help=f'dataset (default: {DATA_ROOT})')
    parser.add_argument('--threads', type=int, default=2, help='OMP threads of each run')
    parser.add_argument('--smoke', action='store_true', help='tiny and short, for the tests')
    args = parser.parse_args(argv)
    if args.smoke:
        args.methods = args.methods or SMOKE['methods']
        args.seeds, args.iters = SMOKE['seeds'], args.iters or SMOKE['iters']
    args.methods = args.methods or DEFAULT_METHODS
    if args.iters is not None and args.iters < 1:
        parser.error(f'--iters must be >= 1, got {args.iters}')
    for flag, seeds in (('--seeds', args.seeds), ('--ablation-seeds', args.ablation_seeds)):
        if seeds is not None and len(set(seeds)) != len(seeds):
            parser.error(f'{flag} must not repeat a seed, got {seeds}')
    return args


# ---------------------------------------------------------------------------- runs
def _data_root_keys(node, prefix: str = '') -> List[str]:
    """Dotted paths (list items by index) of every ``data_root`` key in a config."""
    keys = []
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        path = f'{prefix}{key}'
        if key == 'data_root':
            keys.append(path)
        elif isinstance(value, (dict, list, tuple)):
            keys += _data_root_keys(value, f'{path}.')
    return keys


def run_options(
    cfg, seed: int, iters: int, data_root: Optional[str], tiny: bool, method_options=None
) -> dict:
    """The ``--cfg-options`` of one run, as Python values.

    Args:
        cfg (Config): The method's config, with ``method_options`` not yet merged.
        seed (int): ``randomness.seed``.
        iters (int): Training iterations; every scheduler with an ``end`` ends there.
        data_root (str, optional): Replaces every ``data_root`` of the config.
        tiny (bool): A tiny network (:data:`TINY`), for the smoke mode.
        method_options (dict, optional): The method's own options (:data:`METHODS`); they come
            first, the run's options override a key they share.

    Returns:
        dict: ``{dotted key: value}``.
    """
    log_interval = max(1, iters // 100)
    options = dict(method_options or {})
    options.update(
        {
            'randomness.seed': seed,
            'train_cfg.max_iters': iters,
            'train_cfg.val_begin': iters + 1,  # evaluated afterwards, from the checkpoint
            'default_hooks.checkpoint.interval': iters,
            'default_hooks.logger.interval': log_interval,
            'log_processor.window_size': log_interval,  # each log line averages its interval
        }
    )
    for i, scheduler in enumerate(cfg.get('param_scheduler', [])):
        if 'end' in scheduler:
            options[f'param_scheduler.{i}.end'] = iters
    if data_root:
        options.update({key: data_root for key in _data_root_keys(cfg.to_dict())})
    if tiny:
        model = 'model.segmentor' if 'segmentor' in cfg.model else 'model'
        options.update({f'{model}.{k}': v for k, v in TINY.items()})
        if 'segmentor' in cfg.model:  # the demo's burn-in outlasts a smoke run
            options['model.semi_train_cfg.burn_in_iters'] = 0
    return options


def _option_args(options: dict) -> List[str]:
    return [f'{k}={v}' for k, v in options.items()]


def train(config: str, options: dict, work_dir: str, threads: int) -> str:
    """Train with tools/train.py unless the final checkpoint exists for these options."""
    checkpoint = osp.join(work_dir, f'iter_{options["train_cfg.max_iters"]}.pth')
    stamp = osp.join(work_dir, 'compare_options.json')
    # the config relative to the checkout, so that a moved or re-cloned checkout reuses its runs
    record = dict(config=osp.relpath(config, ROOT), options=options)
    if osp.isfile(checkpoint) and osp.isfile(stamp):
        with open(stamp) as f:
            if json.load(f) == record:
                print(f'[compare] reusing {checkpoint}', flush=True)
                return checkpoint
    os.makedirs(work_dir, exist_ok=True)
    cmd = [sys.executable, osp.join(ROOT, 'tools/train.py'), config, '--work-dir', work_dir]
    cmd += ['--cfg-options', *_option_args(options)]
    env = {**os.environ, 'OMP_NUM_THREADS': str(threads), 'MKL_NUM_THREADS': str(threads)}
    log = osp.join(work_dir, 'train_stdout.log')
    start = time.time()
    print(f'[compare] training {config} -> {work_dir} (log: {log})', flush=True)
    with open(log, 'w') as f:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        with open(log) as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f'training failed ({proc.returncode}): {" ".join(cmd)}\n{tail}')
    with open(stamp, 'w') as f:
        json.dump(record, f, indent=2)
    print(f'[compare] trained in {time.time() - start:.0f} s', flush=True)
    return checkpoint


def evaluate(
    config: str, options: dict, checkpoint: str, work_dir: str, split: Optional[str] = None
) -> dict:
    """Test metrics of a checkpoint (as tools/test.py computes them) on the val set, or on the
    images of ``split`` (a list file of the dataset), cached beside it."""
    name = 'val' if split is None else osp.splitext(osp.basename(split))[0]
    cache = osp.join(work_dir, f'{name}_metrics.json')
    if osp.isfile(cache) and osp.getmtime(cache) >= osp.getmtime(checkpoint):
        with open(cache) as f:
            return json.load(f)
    from mmengine.config import Config
    from mmengine.runner import Runner

    import farcluss_mmseg  # noqa: F401

    cfg = Config.fromfile(config)
    cfg.merge_from_dict(options)
    if split is not None:
        cfg.test_dataloader.dataset.ann_file = split
    cfg.work_dir = osp.join(work_dir, 'test')
    cfg.load_from = checkpoint
    cfg.experiment_name = f'test_{osp.basename(work_dir)}_{time.time_ns()}'
    cfg.default_hooks.logger.interval = 10**6
    metrics = {k: float(v) for k, v in Runner.from_cfg(cfg).test().items()}
    with open(cache, 'w') as f:
        json.dump(metrics, f, indent=2)
    return metrics


def train_seconds(work_dir: str) -> Optional[float]:
    """Wall time of a run's training, from the first to the last timestamped line of its
    ``train_stdout.log`` (None if there is no such log, e.g. a run copied without it)."""
    log = osp.join(work_dir, 'train_stdout.log')
    if not osp.isfile(log):
        return None
    stamps = []
    with open(log) as f:
        for line in f:
            try:  # mmengine's lines start with 'MM/DD HH:MM:SS - mmengine'
                stamps.append(datetime.datetime.strptime(line[:14], '%m/%d %H:%M:%S'))
            except ValueError:
                continue
    if len(stamps) < 2:
        return None
    seconds = (stamps[-1] - stamps[0]).total_seconds()
    return seconds + 86400 * 365 if seconds < 0 else seconds  # a run across new year


def log_series(work_dir: str, key: str) -> Dict[int, float]:
    """``{step: value}`` of a key in the training log lines of a run (a resumed run's later
    lines override the earlier ones of the same step); empty if the key is never logged."""
    series = {}
    for path in sorted(glob.glob(osp.join(work_dir, '2*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                entry = json.loads(line)
                if key in entry:
                    series[entry['step']] = entry[key]
    return dict(sorted(series.items()))


def last_tenth_mean(series: Dict[int, float], iters: int) -> Optional[float]:
    """Mean of the values logged over the last 10 % of ``iters`` (None if there are none)."""
    last = [v for step, v in series.items() if step > iters - iters / 10]
    return statistics.fmean(last) if last else None


# ---------------------------------------------------------------------------- aggregation
def _mean_std(values: Sequence[float]) -> dict:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return dict(mean=statistics.fmean(values), std=std, n=len(values))


def aggregate(per_seed: List[Dict[str, Optional[float]]]) -> Dict[str, Optional[dict]]:
    """Mean and sample standard deviation over seeds of every metric of :data:`METRICS`.

    Args:
        per_seed (list[dict]): One dict per seed with keys of :data:`METRICS`; a missing key or
            a None value (not logged, or undefined on that seed) leaves that seed out.

    Returns:
        dict: ``{metric: {'mean': float, 'std': float, 'n': int} or None}``: ``n`` seeds had
        a value (None if none had); std is 0.0 for a single one.
    """
    out = {}
    for key, _ in METRICS:
        values = [run[key] for run in per_seed if run.get(key) is not None]
        out[key] = _mean_std(values) if values else None
    return out


def gap_share(value: float, lower: float, upper: float) -> Optional[float]:
    """``100 * (value - lower) / (upper - lower)``: the share (%) of the gap from ``lower`` to
    ``upper`` that ``value`` closes; None when there is no gap (``upper <= lower``)."""
    return None if upper <= lower else 100.0 * (value - lower) / (upper - lower)


def gap_recovered(
    methods: Dict[str, dict], lower: str = LOWER, upper: str = UPPER, key: str = 'mIoU'
) -> Dict[str, Optional[float]]:
    """Per method, the share (%) of the ``lower`` -> ``upper`` gap of the seed means it recovers:
    ``100 * (method - lower) / (upper - lower)``.

    0 % is the supervised baseline, 100 % the oracle; negative is below the baseline. Computed on
    the means over seeds (a per-seed ratio explodes on a seed with a small gap).

    Args:
        methods (dict): ``{name: {'aggregate': {key: {'mean', ...}}}}`` as :func:`main` builds.
        lower (str): The method at 0 %. Defaults to 'supervised'.
        upper (str): The method at 100 %. Defaults to 'oracle'.
        key (str): The metric. Defaults to 'mIoU'.

    Returns:
        dict: ``{name: float or None}``; all None if ``lower`` or ``upper`` was not run or
        there is no gap (``upper <= lower``).
    """
    if lower not in methods or upper not in methods:
        return {name: None for name in methods}
    low, high = (methods[name]['aggregate'][key]['mean'] for name in (lower, upper))
    return {
        name: gap_share(row['aggregate'][key]['mean'], low, high) for name, row in methods.items()
    }


def _paired(methods: Dict[str, dict], reference: str, value) -> Dict[str, List[float]]:
    """Per method but ``reference``, ``value(run) - value(reference's run)`` on every seed both
    ran and both have a value (``value`` returns None where a run has none); methods without
    such a seed are left out."""
    ref = {run['seed']: value(run) for run in methods[reference]['per_seed']}
    out = {}
    for name, row in methods.items():
        pairs = [(value(run), ref.get(run['seed'])) for run in row['per_seed']]
        diffs = [ours - theirs for ours, theirs in pairs if None not in (ours, theirs)]
        if name != reference and diffs:
            out[name] = diffs
    return out


def paired_differences(
    methods: Dict[str, dict], reference: str = REFERENCE, key: str = 'mIoU'
) -> Dict[str, Optional[dict]]:
    """Per method, ``method - reference`` on every shared seed: mean, sample std, and the count
    of seeds where the reference is ahead.

    Runs with the same seed share the initial weights and the order of the data, and the seeds
    move all methods together (a hard seed is hard for every method), so the paired
    differences show what the unpaired means and stds hide.

    Returns:
        dict: ``{method: {'mean', 'std', 'n', 'reference_ahead'} or None}``, None for the
        reference itself, when the reference was not run, or when no seed is shared.
        ``reference_ahead`` counts the seeds with ``method < reference`` (a tie counts for
        neither).
    """
    out: Dict[str, Optional[dict]] = {name: None for name in methods}
    if reference in methods:
        for name, diffs in _paired(methods, reference, lambda run: run[key]).items():
            out[name] = dict(_mean_std(diffs), reference_ahead=sum(d < 0 for d in diffs))
    return out


def seed_text(meta: dict) -> str:
    """'seeds [0, 1]', and the ablations' seeds when they differ."""
    text = f'seeds {meta["seeds"]}'
    ablation_seeds = meta.get('ablation_seeds', meta['seeds'])
    return text if ablation_seeds == meta['seeds'] else f'{text} (ablations: {ablation_seeds})'


def class_differences(methods: Dict[str, dict], reference: str = LOWER) -> Dict[str, dict]:
    """Per method and class, the val IoU difference to ``reference`` on every shared seed:
    ``{method: {class: {'mean', 'std', 'n', 'ahead'}}}`` (``ahead``: seeds where the method's
    IoU is higher). Empty without the reference or per-class IoU (``class_iou``)."""
    runs = methods.get(reference, {}).get('per_seed', [])
    classes = next((run['class_iou'] for run in runs if run.get('class_iou')), {})
    out: Dict[str, dict] = {}
    for cls in classes:
        for name, diffs in _paired(methods, reference, _class_iou(cls)).items():
            out.setdefault(name, {})[cls] = dict(_mean_std(diffs), ahead=sum(d > 0 for d in diffs))
    return out


def _class_iou(cls: str):
    return lambda run: (run.get('class_iou') or {}).get(cls)


def _finite(value: float) -> Optional[float]:
    return None if math.isnan(value) else value


def _cell(stat: Optional[dict], seeds: Optional[int] = None) -> str:
    """``mean ± std``, with ``(n=k)`` when only k of the method's ``seeds`` had a value."""
    if stat is None:
        return 'n/a'
    text = f'{stat["mean"]:.2f} ± {stat["std"]:.2f}'
    return text if seeds is None or stat['n'] == seeds else f'{text} (n={stat["n"]})'


def markdown(result: dict) -> str:
    """The comparison table, the per-seed values and how they were made."""
    meta, methods = result['meta'], result['methods']
    labels = [label for _, label in METRICS]
    lines = [
        f'Demo data 1/16 split, val set; {meta["iters"]} iterations, {seed_text(meta)}; '
        'mean ± sample std over seeds. IoU and pseudo-label (PL) statistics in %. PL acc '
        "(training): the teacher's labels of the weak views, over the last 10 % of the "
        'iterations. Final PL: the final model (the teacher of a mean-teacher method) on the '
        f'unlabeled images of the split ({UNLABELED_SPLIT}), whole images, argmax, no '
        f'threshold, pooled over all their pixels. Gap: share of the {LOWER} -> {UPPER} mIoU gap '
        f'recovered (on the means). Paired: the per-seed mIoU difference to {REFERENCE} (same '
        f'seed), mean ± std, and on how many seeds {REFERENCE} is ahead.',
        '',
        f'| method | {labels[0]} | {labels[1]} | gap recovered (%) | '
        + ' | '.join(labels[2:])
        + f' | mIoU - {REFERENCE}, paired | {REFERENCE} ahead | seeds |',
        '|---|' + '---:|' * (len(METRICS) + 4),
    ]
    gaps = gap_recovered(methods)
    paired = paired_differences(methods)
    for name, row in methods.items():
        stats = row['aggregate']
        cells = [_cell(stats[key], len(row['per_seed'])) for key, _ in METRICS]
        cells.insert(2, 'n/a' if gaps[name] is None else f'{gaps[name]:.1f}')
        if name == REFERENCE:
            cells += ['reference', '']
        elif paired[name] is None:
            cells += ['n/a', 'n/a']
        else:
            cells += [_cell(paired[name]), f'{paired[name]["reference_ahead"]}/{paired[name]["n"]}']
        lines.append(f'| {name} | {" | ".join(cells)} | {len(row["per_seed"])} |')
    lines += ['', '| method | seed | ' + ' | '.join(labels) + ' | training (min) |']
    lines.append('|---|---:|' + '---:|' * (len(METRICS) + 1))
    for name, row in methods.items():
        for run in row['per_seed']:
            values = ['n/a' if run.get(k) is None else f'{run[k]:.2f}' for k, _ in METRICS]
            seconds = run.get('train_seconds')
            values.append('n/a' if seconds is None else f'{seconds / 60:.1f}')
            lines.append(f'| {name} | {run["seed"]} | {" | ".join(values)} |')
    per_class = class_differences(methods)
    if per_class:
        classes = list(next(iter(per_class.values())))
        lines += [
            '',
            f'Val IoU per class, paired difference to {LOWER} (mean over the shared seeds; in '
            f'brackets the seeds where the method is ahead of {LOWER}):',
            '',
            '| method | ' + ' | '.join(classes) + ' |',
            '|---|' + '---:|' * len(classes),
        ]
        for name, diffs in per_class.items():
            cells = [f'{d["mean"]:+.2f} ({d["ahead"]}/{d["n"]})' for d in diffs.values()]
            lines.append(f'| {name} | {" | ".join(cells)} |')
    if result.get('curves'):
        lines += [
            '',
            'Teacher pseudo-labels on the unlabeled images over training (%, mean over seeds, '
            'each value averaged over its log interval):',
            '',
            curve_table(result['curves'], max(row['iters'] for row in methods.values())),
        ]
    lines += [
        '',
        f'Command: `{meta["command"]}`',
        f'Machine: {meta["machine"]}; {meta["date"]}; {meta["seconds"]} s.',
        'Methods (config and --cfg-options): '
        + ', '.join(
            f'{n}: `{c["config"]}` {c["options"] or ""}'.rstrip()
            for n, c in meta['methods'].items()
        ),  # fmt: skip
    ]
    return '\n'.join(lines)


def bar_chart(result: dict, path: str) -> None:
    """mIoU and rare-class IoU: bars (mean) with error bars (std) and a dot per seed; the paired
    mIoU difference to the reference: a dot per seed and the mean."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    methods = result['methods']
    names = list(methods)
    xs = range(len(names))
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.2))
    for ax, (key, label) in zip(axes, METRICS[:2]):
        stats = [methods[n]['aggregate'][key] for n in names]
        means = [s['mean'] if s else math.nan for s in stats]
        stds = [s['std'] if s else 0.0 for s in stats]
        ax.bar(xs, means, yerr=stds, capsize=3, color='tab:blue', alpha=0.6)
        for x, name in zip(xs, names):
            values = [run[key] for run in methods[name]['per_seed'] if run.get(key) is not None]
            ax.plot([x] * len(values), values, 'k.', markersize=4)
        ax.set_title(f'{label} (%)')
    paired = paired_differences(methods)
    ax = axes[2]
    ref = {run['seed']: run['mIoU'] for run in methods.get(REFERENCE, {}).get('per_seed', [])}
    for x, name in zip(xs, names):
        if paired[name] is None:
            continue
        diffs = [run['mIoU'] - ref[run['seed']] for run in methods[name]['per_seed']
                 if run['seed'] in ref]  # fmt: skip
        ax.plot([x] * len(diffs), diffs, 'k.', markersize=4)
        ax.errorbar(x, paired[name]['mean'], yerr=paired[name]['std'], fmt='o', color='tab:red')
    ax.axhline(0, color='grey', linewidth=0.8)
    ax.set_title(f'mIoU - {REFERENCE}, per seed (paired)')
    for ax in axes:
        ax.set_xticks(list(xs))
        ax.set_xticklabels(names, rotation=45, ha='right', fontsize=8)
        ax.grid(axis='y', alpha=0.3)
    meta = result['meta']
    fig.suptitle(f'Demo 1/16 split, {meta["iters"]} iterations, {seed_text(meta)}')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def curve_means(result: dict, methods: Sequence[str] = CURVE_METHODS) -> Dict[str, dict]:
    """Per method of ``methods`` that ran, per key of :data:`CURVES` it logged: the steps
    logged by every seed and the mean over seeds at each, ``{name: {key: [steps, values]}}``."""
    out = {}
    for name in methods:
        if name not in result['methods']:
            continue
        curves = {}
        for key, _ in CURVES:
            per_seed = [
                log_series(run['work_dir'], key) for run in result['methods'][name]['per_seed']
            ]
            steps = sorted(set.intersection(*(set(s) for s in per_seed))) if per_seed else []
            if steps:
                curves[key] = [steps, [statistics.fmean(s[t] for s in per_seed) for t in steps]]
        if curves:
            out[name] = curves
    return out


def curve_table(methods: Dict[str, dict], iters: int, points: int = CURVE_POINTS) -> str:
    """The curves as a markdown table: every method and key, the mean over seeds at the last
    logged step at or before each ``iters / points`` (n/a before the first logged step)."""
    marks = sorted({max(1, round(iters * (i + 1) / points)) for i in range(points)})
    lines = [
        '| method | value | ' + ' | '.join(f'it {m}' for m in marks) + ' |',
        '|---|---|' + '---:|' * len(marks),
    ]
    for name, curves in methods.items():
        for key, label in CURVES:
            if key not in curves:
                continue
            steps, values = curves[key]
            cells = []
            for mark in marks:
                before = [v for t, v in zip(steps, values) if t <= mark]
                cells.append(f'{before[-1]:.1f}' if before else 'n/a')
            lines.append(f'| {name} | {label} | {" | ".join(cells)} |')
    return '\n'.join(lines)


def moving_mean(values: Sequence[float], width: int) -> List[float]:
    """Centred moving mean over ``width`` points, the window shrinking at both ends."""
    half = width // 2
    windows = (values[max(0, i - half) : i + half + 1] for i in range(len(values)))
    return [statistics.fmean(w) for w in windows]


def training_curves(result: dict, path: str, smoothing: int = CURVE_SMOOTHING) -> List[str]:
    """Plot ``result['curves']`` (:func:`curve_means`), one panel per key of :data:`CURVES`,
    each curve a :func:`moving_mean` over ``smoothing`` log points. Returns the methods drawn
    (nothing is written if none)."""
    drawn = result.get('curves') or {}
    if not drawn:
        return []
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, (len(CURVES) + 1) // 2, figsize=(11, 7.6))
    for ax, (key, label) in zip(axes.flat, CURVES):
        for name, curves in drawn.items():
            if key in curves:
                steps, values = curves[key]
                ax.plot(steps, moving_mean(values, smoothing), label=name)
        ax.set_xlabel('iteration')
        ax.set_title(f'{label} (%)')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f'Teacher pseudo-labels on the unlabeled images, mean over seeds '
                 f'{result["meta"]["seeds"]}, moving mean over {smoothing} log points')  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return list(drawn)


def machine() -> str:
    name = platform.processor() or platform.machine()
    if osp.isfile('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as f:
            names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
        name = names[0] if names else name
    return f'{name}, {os.cpu_count()} cores, Python {platform.python_version()}'


# ---------------------------------------------------------------------------- main
def run_method(name: str, args: argparse.Namespace, data_root: Optional[str]) -> dict:
    """Train and evaluate one method on every seed; its row of the result."""
    from mmengine.config import Config

    method = METHODS[name]
    config = osp.join(ROOT, method['config'])
    if not osp.isfile(config):
        raise FileNotFoundError(f'config of method {name!r} not found: {config} (see METHODS)')
    cfg = Config.fromfile(config)
    iters = args.iters or cfg.train_cfg.max_iters
    per_seed = []
    seeds = args.ablation_seeds if name in ABLATIONS and args.ablation_seeds else args.seeds
    for seed in seeds:
        options = run_options(cfg, seed, iters, data_root, args.smoke, method['options'])
        tag = f'seed{seed}_it{iters}' + ('_tiny' if args.smoke else '')
        work_dir = osp.abspath(osp.join(args.out, 'runs', name, tag))
        checkpoint = train(config, options, work_dir, args.threads)
        metrics = evaluate(config, options, checkpoint, work_dir)
        run = dict(seed=seed, mIoU=metrics['mIoU'], rare_iou=metrics[f'IoU.{RARE_CLASS}'])
        run['class_iou'] = {k[len('IoU.') :]: v for k, v in metrics.items() if k.startswith('IoU.')}
        final = evaluate(config, options, checkpoint, work_dir, UNLABELED_SPLIT)
        # NaN: the model predicts no pixel of the class (precision) on that seed
        run.update({k: _finite(final[metric]) for k, (metric, _) in FINAL_PL.items()})
        run.update({key: last_tenth_mean(log_series(work_dir, key), iters) for key in PL_KEYS})
        run['train_seconds'] = train_seconds(work_dir)
        per_seed.append(dict(run, work_dir=work_dir))
    return dict(
        config=method['config'],
        options=method['options'],
        iters=iters,
        per_seed=per_seed,
        aggregate=aggregate(per_seed),
    )


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    data_root = args.data_root
    if data_root is None and not osp.isdir(osp.join(ROOT, DATA_ROOT)):
        from make_demo_data import make_demo_data

        make_demo_data(osp.join(ROOT, DATA_ROOT))
    import torch

    torch.set_num_threads(args.threads)
    start = time.time()
    result = dict(methods={name: run_method(name, args, data_root) for name in args.methods})
    gaps = gap_recovered(result['methods'])
    for name, stat in paired_differences(result['methods']).items():
        result['methods'][name]['gap_recovered'] = gaps[name]
        result['methods'][name][f'paired_miou_vs_{REFERENCE}'] = stat
    iters = sorted({row['iters'] for row in result['methods'].values()})
    result['meta'] = dict(
        iters=iters[0] if len(iters) == 1 else iters,
        seeds=list(args.seeds),
        ablation_seeds=list(args.ablation_seeds or args.seeds),
        command=' '.join(
            [
                'python tools/analysis_tools/compare_methods.py',
                *(sys.argv[1:] if argv is None else argv),
            ]
        ),
        machine=machine(),
        date=datetime.datetime.now().strftime('%Y-%m-%d %H:%M'),
        seconds=round(time.time() - start),
        methods={n: METHODS[n] for n in args.methods},
    )
    result['curves'] = curve_means(result)
    os.makedirs(args.out, exist_ok=True)
    text = markdown(result)
    with open(osp.join(args.out, 'compare_methods.md'), 'w') as f:
        f.write(text + '\n')
    with open(osp.join(args.out, 'compare_methods.json'), 'w') as f:
        json.dump(result, f, indent=2)
    bar_chart(result, osp.join(args.out, 'compare_methods.png'))
    curves = training_curves(result, osp.join(args.out, 'training_curves.png'))
    print('\n' + text)
    written = 'compare_methods.{md,png,json}' + (', training_curves.png' if curves else '')
    print(f'\n[compare] wrote {args.out}/{written}', flush=True)
    return result


if __name__ == '__main__':
    main()
