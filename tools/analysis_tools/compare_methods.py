"""Accuracy of FARCLUSS, its ablations and two baselines on the demo data, over seeds (issue 5).

    python tools/analysis_tools/compare_methods.py [--seeds 0 1 2] [--iters 600]
        [--methods NAME ...] [--out work_dirs/compare_methods] [--data-root DIR] [--threads 2]
        [--smoke]

For every method of :data:`METHODS` (default: all but ``mean-teacher-ce``) and seed, on the demo's
1/16 split with the same iterations:

1. trains with ``tools/train.py`` in a subprocess (one after the other, ``OMP_NUM_THREADS`` =
   ``--threads``), with ``--cfg-options`` for the seed (``randomness.seed``), the iterations (and
   the poly schedule's end), no validation during training, one checkpoint at the end, and a log
   line every ``iters / 100`` iterations averaged over exactly those iterations. A run whose
   final checkpoint exists with the same options is reused;
2. evaluates the final checkpoint on the val set (the teacher for mean-teacher methods) and
   reads mIoU and the rare class's IoU (``PerClassIoUMetric``'s ``IoU.wire``);
3. reads the pseudo-label accuracy ``pl_acc`` (teacher argmax vs the hidden labels of the
   unlabeled images) from ``<run>/<timestamp>/vis_data/scalars.json``, averaged over the last
   10 % of the iterations.

Then it prints mean +- std over the seeds (sample std; 0 for one seed), the paired per-seed
mIoU difference of every method to FARCLUSS (:func:`paired_differences`), and writes
``<out>/compare_methods.md``, ``compare_methods.png`` (bar charts with error bars) and
``compare_methods.json`` (per-seed values too). The demo data is generated first if missing.
``--smoke`` (for the tests): supervised and FARCLUSS, seed 0, 2 iterations, a tiny network.
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
DATA_ROOT = 'data/farcluss_demo'
RARE_CLASS = 'wire'  # tools/make_demo_data.py's rare class
_DEMO = 'farcluss_deeplabv3plus_r18-w32-d8_1xb8+8-600it_farcluss-demo-1-16-96x96'
_ABLATION = f'configs/farcluss/ablations/{_DEMO}_'
METHODS = {  # the one list of compared methods: name -> config
    'supervised': (
        'configs/baselines/deeplabv3plus_r18-w32-d8_1xb8-600it_farcluss-demo-1-16-96x96.py'
    ),
    'hard-threshold': f'{_ABLATION}hard-threshold.py',
    'farcluss': f'configs/farcluss/{_DEMO}.py',
    'no-entropy-weight': f'{_ABLATION}no-entropy-weight.py',
    'no-rebalance': f'{_ABLATION}no-rebalance.py',
    'no-contrast': f'{_ABLATION}no-contrast.py',
    'no-feature-perturbation': f'{_ABLATION}no-feature-perturbation.py',
    'k1': f'{_ABLATION}k1.py',
    'no-entropy-threshold': f'{_ABLATION}no-entropy-threshold.py',
    'mean-teacher-ce': f'{_ABLATION}mean-teacher-ce.py',
}
DEFAULT_METHODS = [m for m in METHODS if m != 'mean-teacher-ce']
SMOKE = dict(methods=['supervised', 'farcluss'], seeds=[0], iters=2)
TINY = {  # --smoke: ResNetV1c-18 with 8 base channels, a 16-channel head
    'backbone.base_channels': 8,
    'backbone.stem_channels': 8,
    'decode_head.in_channels': 64,
    'decode_head.c1_in_channels': 8,
    'decode_head.channels': 16,
    'decode_head.c1_channels': 8,
}
METRICS = (('mIoU', 'mIoU'), ('rare_iou', f'IoU ({RARE_CLASS})'), ('pl_acc', 'pseudo-label acc'))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--iters', type=int, default=None, help="default: the configs' 600")
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


def run_options(cfg, seed: int, iters: int, data_root: Optional[str], tiny: bool) -> dict:
    """The ``--cfg-options`` of one run, as Python values."""
    log_interval = max(1, iters // 100)
    options = {
        'randomness.seed': seed,
        'train_cfg.max_iters': iters,
        'train_cfg.val_begin': iters + 1,  # evaluated afterwards, from the checkpoint
        'default_hooks.checkpoint.interval': iters,
        'default_hooks.logger.interval': log_interval,
        'log_processor.window_size': log_interval,  # each log line averages its interval
    }
    for i, scheduler in enumerate(cfg.get('param_scheduler', [])):
        if 'end' in scheduler:
            options[f'param_scheduler.{i}.end'] = iters
    if data_root:
        options.update({key: data_root for key in _data_root_keys(cfg.to_dict())})
    if tiny:
        model = 'model.segmentor' if 'segmentor' in cfg.model else 'model'
        options.update({f'{model}.{k}': v for k, v in TINY.items()})
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


def evaluate(config: str, options: dict, checkpoint: str, work_dir: str) -> dict:
    """Val metrics of a checkpoint (as tools/test.py computes them), cached beside it."""
    cache = osp.join(work_dir, 'val_metrics.json')
    if osp.isfile(cache) and osp.getmtime(cache) >= osp.getmtime(checkpoint):
        with open(cache) as f:
            return json.load(f)
    from mmengine.config import Config
    from mmengine.runner import Runner

    import farcluss_mmseg  # noqa: F401

    cfg = Config.fromfile(config)
    cfg.merge_from_dict(options)
    cfg.work_dir = osp.join(work_dir, 'test')
    cfg.load_from = checkpoint
    cfg.experiment_name = f'test_{osp.basename(work_dir)}_{time.time_ns()}'
    cfg.default_hooks.logger.interval = 10**6
    metrics = {k: float(v) for k, v in Runner.from_cfg(cfg).test().items()}
    with open(cache, 'w') as f:
        json.dump(metrics, f, indent=2)
    return metrics


def pseudo_label_accuracy(work_dir: str, iters: int) -> Optional[float]:
    """Mean ``pl_acc`` of the log lines over the last 10 % of the iterations (None if the
    method logs none, e.g. supervised-only)."""
    entries = {}
    for path in sorted(glob.glob(osp.join(work_dir, '2*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                entry = json.loads(line)
                if 'pl_acc' in entry:
                    entries[entry['step']] = entry['pl_acc']  # a later run overrides
    last = [v for step, v in entries.items() if step > iters - iters / 10]
    return statistics.fmean(last) if last else None


# ---------------------------------------------------------------------------- aggregation
def aggregate(per_seed: List[Dict[str, Optional[float]]]) -> Dict[str, dict]:
    """Mean and sample standard deviation over seeds of every metric of :data:`METRICS`.

    Args:
        per_seed (list[dict]): One dict per seed with the keys of :data:`METRICS`; a value
            may be None (not logged), then the metric is None.

    Returns:
        dict: ``{metric: {'mean': float, 'std': float, 'n': int} or None}``; std is 0.0 for
        a single seed.
    """
    out = {}
    for key, _ in METRICS:
        values = [run[key] for run in per_seed]
        if not values or any(v is None for v in values):
            out[key] = None
            continue
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        out[key] = dict(mean=statistics.fmean(values), std=std, n=len(values))
    return out


def paired_differences(
    methods: Dict[str, dict], reference: str = 'farcluss', key: str = 'mIoU'
) -> Dict[str, Optional[dict]]:
    """Per method, mean and sample std over the shared seeds of ``method - reference``.

    Runs with the same seed share the initial weights and the order of the data, and the seeds
    move all methods together (a hard seed is hard for every method), so the paired
    differences show what the unpaired means and stds hide.

    Returns:
        dict: ``{method: {'mean', 'std', 'n'} or None}``, None for the reference itself or
        when the reference was not run.
    """
    out: Dict[str, Optional[dict]] = {name: None for name in methods}
    if reference not in methods:
        return out
    ref = {run['seed']: run[key] for run in methods[reference]['per_seed']}
    for name, row in methods.items():
        diffs = [run[key] - ref[run['seed']] for run in row['per_seed'] if run['seed'] in ref]
        if name != reference and diffs:
            std = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
            out[name] = dict(mean=statistics.fmean(diffs), std=std, n=len(diffs))
    return out


def _cell(stat: Optional[dict], scale: float = 1.0) -> str:
    if stat is None:
        return 'n/a'
    return f'{stat["mean"] * scale:.2f} ± {stat["std"] * scale:.2f}'


def markdown(result: dict) -> str:
    """The comparison table, the per-seed values and how they were made."""
    meta = result['meta']
    lines = [
        f'Demo data 1/16 split, val set; {meta["iters"]} iterations, seeds '
        f'{meta["seeds"]}; mean ± sample std over seeds. IoU and accuracy in %. '
        'Paired: the per-seed difference of mIoU to FARCLUSS (same seed), mean ± std.',
        '',
        '| method | '
        + ' | '.join(label for _, label in METRICS)
        + ' | mIoU - FARCLUSS, paired | seeds |',
        '|---|' + '---:|' * (len(METRICS) + 2),
    ]
    paired = paired_differences(result['methods'])
    for name, row in result['methods'].items():
        stats = row['aggregate']
        scales = {'pl_acc': 100.0}
        cells = [_cell(stats[key], scales.get(key, 1.0)) for key, _ in METRICS]
        cells.append('reference' if name == 'farcluss' else _cell(paired[name]))
        lines.append(f'| {name} | {" | ".join(cells)} | {len(row["per_seed"])} |')
    lines += ['', '| method | seed | ' + ' | '.join(label for _, label in METRICS) + ' |']
    lines.append('|---|---:|' + '---:|' * len(METRICS))
    for name, row in result['methods'].items():
        for run in row['per_seed']:
            values = [
                'n/a' if run[k] is None else f'{run[k] * (100 if k == "pl_acc" else 1):.2f}'
                for k, _ in METRICS
            ]
            lines.append(f'| {name} | {run["seed"]} | {" | ".join(values)} |')
    lines += [
        '',
        f'Command: `{meta["command"]}`',
        f'Machine: {meta["machine"]}; {meta["date"]}.',
        'Configs: ' + ', '.join(f'{n}: `{c}`' for n, c in meta['configs'].items()),
    ]
    return '\n'.join(lines)


def bar_chart(result: dict, path: str) -> None:
    """One panel per metric, one bar per method, error bars = std over seeds."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    names = list(result['methods'])
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.5 * len(METRICS), 4.2))
    for ax, (key, label) in zip(axes, METRICS):
        stats = [result['methods'][n]['aggregate'][key] for n in names]
        scale = 100.0 if key == 'pl_acc' else 1.0
        means = [s['mean'] * scale if s else math.nan for s in stats]
        stds = [s['std'] * scale if s else 0.0 for s in stats]
        ax.bar(range(len(names)), means, yerr=stds, capsize=3, color='tab:blue')
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=45, ha='right', fontsize=8)
        ax.set_title(label + ' (%)')
        ax.grid(axis='y', alpha=0.3)
    fig.suptitle(
        f'Demo 1/16 split, {result["meta"]["iters"]} iterations, seeds {result["meta"]["seeds"]}'
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def machine() -> str:
    name = platform.processor() or platform.machine()
    if osp.isfile('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as f:
            names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
        name = names[0] if names else name
    return f'{name}, {os.cpu_count()} cores, Python {platform.python_version()}'


# ---------------------------------------------------------------------------- main
def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    from mmengine.config import Config

    data_root = args.data_root
    if data_root is None and not osp.isdir(osp.join(ROOT, DATA_ROOT)):
        sys.path.insert(0, osp.join(ROOT, 'tools'))
        from make_demo_data import make_demo_data

        make_demo_data(osp.join(ROOT, DATA_ROOT))
    import torch

    torch.set_num_threads(args.threads)
    start = time.time()
    result = dict(methods={})
    for name in args.methods:
        config = osp.join(ROOT, METHODS[name])
        cfg = Config.fromfile(config)
        iters = args.iters or cfg.train_cfg.max_iters
        per_seed = []
        for seed in args.seeds:
            options = run_options(cfg, seed, iters, data_root, args.smoke)
            tag = f'seed{seed}_it{iters}' + ('_tiny' if args.smoke else '')
            work_dir = osp.abspath(osp.join(args.out, 'runs', name, tag))
            checkpoint = train(config, options, work_dir, args.threads)
            metrics = evaluate(config, options, checkpoint, work_dir)
            per_seed.append(
                dict(
                    seed=seed,
                    mIoU=metrics['mIoU'],
                    rare_iou=metrics[f'IoU.{RARE_CLASS}'],
                    pl_acc=pseudo_label_accuracy(work_dir, iters),
                    work_dir=work_dir,
                )
            )
        result['methods'][name] = dict(
            config=METHODS[name], iters=iters, per_seed=per_seed, aggregate=aggregate(per_seed)
        )
    for name, stat in paired_differences(result['methods']).items():
        result['methods'][name]['paired_miou_vs_farcluss'] = stat
    result['meta'] = dict(
        iters=iters,
        seeds=list(args.seeds),
        command=' '.join(
            [
                'python tools/analysis_tools/compare_methods.py',
                *(sys.argv[1:] if argv is None else argv),
            ]
        ),
        machine=machine(),
        date=datetime.datetime.now().strftime('%Y-%m-%d %H:%M'),
        seconds=round(time.time() - start),
        configs={n: METHODS[n] for n in args.methods},
    )
    os.makedirs(args.out, exist_ok=True)
    text = markdown(result)
    with open(osp.join(args.out, 'compare_methods.md'), 'w') as f:
        f.write(text + '\n')
    with open(osp.join(args.out, 'compare_methods.json'), 'w') as f:
        json.dump(result, f, indent=2)
    bar_chart(result, osp.join(args.out, 'compare_methods.png'))
    print('\n' + text)
    print(f'\n[compare] wrote {args.out}/compare_methods.{{md,png,json}}', flush=True)
    return result


if __name__ == '__main__':
    main()
