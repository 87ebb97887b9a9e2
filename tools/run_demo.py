"""The README's demo: supervised-only, FARCLUSS and the oracle on the synthetic demo data.

    python tools/run_demo.py [--out demo_results] [--retrain]

1. makes the demo dataset (tools/make_demo_data.py; skipped when it is already there),
2. trains the supervised baseline and FARCLUSS on the 1/16 labeled split, and the oracle (the
   supervised baseline on the labels of every train image), with tools/train.py (same model,
   iterations, labeled batch and seed; a finished run is reused unless --retrain). FARCLUSS
   trains beside the two supervised runs (one after the other), each process on half the CPU
   cores: on 2 cores two one-thread trainings get more done than one two-thread training at a
   time. Each run's output goes to ``train_stdout.log`` in its work dir,
3. evaluates the three on the val set (FARCLUSS with its teacher),
4. prints one table (mIoU, the share of the supervised -> oracle mIoU gap that FARCLUSS
   recovers, and per-class IoU, the rare class marked) and writes it to
   ``<out>/demo_table.md`` and ``<out>/demo_metrics.json``,
5. writes ``<out>/demo_panel.png``: val images, ground truth, teacher prediction, the normalised
   entropy of the teacher (paper Fig. 2) and where the fuzzy top-2 label is ambiguous.
"""

import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Optional, Tuple

import numpy as np
from mmengine.config import Config
from mmengine.runner import Runner

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tools'))
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis_tools'))

from compare_methods import gap_share  # noqa: E402
from make_demo_data import RARE_CLASS, make_demo_data  # noqa: E402

from farcluss_mmseg.datasets import FarclussDemoDataset  # noqa: E402
from farcluss_mmseg.models.losses import fuzzy_pseudo_labels, normalized_entropy  # noqa: E402

DATA_ROOT = 'data/farcluss_demo'
SUPERVISED, FARCLUSS, ORACLE = 'Supervised only', 'FARCLUSS (teacher)', 'Oracle (all labels)'
# 500 iterations, so that the three trainings fit in 10 minutes on 2 CPU cores; compare_methods.py
# trains the 600-iteration demo configs, which the oracle needs to learn every class.
RUNS = {
    SUPERVISED: 'configs/baselines/deeplabv3plus_r18-w32-d8_1xb8-500it_farcluss-demo-1-16-96x96.py',
    FARCLUSS: 'configs/farcluss/'
    'farcluss_deeplabv3plus_r18-w32-d8_1xb8+8-500it_farcluss-demo-1-16-96x96.py',
    ORACLE: 'configs/baselines/deeplabv3plus_r18-w32-d8_1xb8-500it_farcluss-demo-oracle-96x96.py',
}


def checkpoint_to_train(config: str, work_dir: str, retrain: bool) -> Tuple[str, Optional[str]]:
    """The final checkpoint of a run, and the config text to train it with; None instead of the
    text when this exact config already finished in work_dir (and not ``retrain``)."""
    cfg = Config.fromfile(config)
    ckpt = osp.join(work_dir, f'iter_{cfg.train_cfg.max_iters}.pth')
    stamp = osp.join(work_dir, 'demo_config.py')
    if not retrain and osp.isfile(ckpt) and osp.isfile(stamp):
        with open(stamp) as f:
            if f.read() == cfg.pretty_text:
                print(f'[demo] reusing {ckpt} (same config; --retrain to train again)')
                return ckpt, None
    return ckpt, cfg.pretty_text


def train(config: str, work_dir: str, config_text: str, threads: int) -> None:
    """tools/train.py on ``threads`` CPU threads, its output in ``work_dir/train_stdout.log``;
    then stamps work_dir with ``config_text``."""
    start = time.time()
    cmd = [sys.executable, osp.join(ROOT, 'tools/train.py'), config, '--work-dir', work_dir]
    os.makedirs(work_dir, exist_ok=True)
    log = osp.join(work_dir, 'train_stdout.log')
    print(f'[demo] {" ".join(cmd)} ({threads} thread(s); log: {log})', flush=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    with open(log, 'w') as out:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode:  # said now: the other lane may train for minutes before this is raised
        message = f'training {config} failed (exit {proc.returncode}); see {log}'
        print(f'[demo] {message}', flush=True)
        raise RuntimeError(message)
    with open(osp.join(work_dir, 'demo_config.py'), 'w') as f:
        f.write(config_text)
    print(f'[demo] trained {osp.basename(work_dir)} in {time.time() - start:.0f} s', flush=True)


def train_all(work_dirs: dict, retrain: bool) -> dict:
    """FARCLUSS in one lane, the supervised baseline then the oracle in the other, each lane on
    half the CPU cores; the checkpoint of each run."""
    configs = {name: osp.join(ROOT, config) for name, config in RUNS.items()}
    # Parsed here, before the lanes start: mmengine's config loader is not thread-safe.
    plans = {name: checkpoint_to_train(configs[name], work_dirs[name], retrain) for name in RUNS}
    threads = max(1, (os.cpu_count() or 2) // 2)

    def lane(names):
        for name in names:
            if plans[name][1] is not None:
                train(configs[name], work_dirs[name], plans[name][1], threads)

    with ThreadPoolExecutor(2) as pool:
        lanes = [pool.submit(lane, names) for names in ([FARCLUSS], [SUPERVISED, ORACLE])]
        for done in lanes:
            done.result()
    return {name: plan[0] for name, plan in plans.items()}


def evaluate(config: str, ckpt: str, work_dir: str) -> dict:
    """What tools/test.py does, in this process, returning the metrics."""
    cfg = Config.fromfile(config)
    cfg.work_dir = osp.join(work_dir, 'test')
    cfg.load_from = ckpt
    cfg.default_hooks.logger.interval = 10**6
    return Runner.from_cfg(cfg).test()


def table(results: dict, classes: list) -> str:
    """IoU (%) per run: mIoU, the share of the supervised -> oracle mIoU gap recovered (n/a if
    the oracle is not above the supervised run), then every class.

    Args:
        results (dict): ``{run name: {'mIoU': float, 'IoU.<class>': float, ...}}`` with the
            runs :data:`SUPERVISED` and :data:`ORACLE`.
        classes (list): The class names, in table order.

    Returns:
        str: The markdown table.
    """
    names = list(results)
    lines = ['| class | ' + ' | '.join(names) + ' |', '|---|' + '---:|' * len(names)]
    lines.append(
        '| **mIoU** | ' + ' | '.join(f'**{results[n]["mIoU"]:.2f}**' for n in names) + ' |'
    )
    low, high = results[SUPERVISED]['mIoU'], results[ORACLE]['mIoU']
    gaps = [gap_share(results[n]['mIoU'], low, high) for n in names]
    lines.append(
        '| gap recovered (%) | '
        + ' | '.join('n/a' if g is None else f'{g:.1f}' for g in gaps)
        + ' |'
    )
    for c in classes:
        label = f'{c} (rare)' if c == RARE_CLASS else c
        lines.append(
            f'| {label} | ' + ' | '.join(f'{results[n][f"IoU.{c}"]:.2f}' for n in names) + ' |'
        )
    return '\n'.join(lines)


def panel(config: str, ckpt: str, out: str, num_images: int = 4) -> None:
    """Image | ground truth | teacher prediction | normalised entropy | fuzzy top-2 ambiguity."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from mmseg.apis import inference_model, init_model
    from PIL import Image

    model = init_model(config, ckpt, device='cpu')
    palette = np.array(model.dataset_meta['palette'] + [[255, 255, 255]] * 256, np.uint8)
    stems = open(osp.join(DATA_ROOT, 'splits/val.txt')).read().split()[:num_images]
    fig, axes = plt.subplots(num_images, 5, figsize=(12.5, 2.6 * num_images))
    titles = [
        'image',
        'ground truth',
        'teacher prediction',
        'normalised entropy H',
        'top-2 ambiguity p2/(p1+p2)',
    ]
    for row, stem in enumerate(stems):
        img_path = osp.join(DATA_ROOT, 'JPEGImages', f'{stem}.jpg')
        gt = np.array(Image.open(osp.join(DATA_ROOT, 'SegmentationClass', f'{stem}.png')))
        result = inference_model(model, img_path)
        probs = result.seg_logits.data.softmax(0)[None]
        top2 = fuzzy_pseudo_labels(probs, 2)[0][0]  # (2, H, W), renormalised top-2
        cells = [
            np.array(Image.open(img_path).convert('RGB')),
            palette[gt],
            palette[result.pred_sem_seg.data[0].numpy()],
            normalized_entropy(probs)[0].numpy(),
            (top2[1] / top2.sum(0)).numpy(),
        ]
        for col, cell in enumerate(cells):
            ax = axes[row, col]
            kw = dict(cmap='magma', vmin=0, vmax=1 if col == 3 else 0.5) if col >= 3 else {}
            ax.imshow(cell, **kw)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(titles[col], fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default='demo_results')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--retrain', action='store_true')
    args = parser.parse_args()
    start = time.time()
    make_demo_data(osp.join(ROOT, DATA_ROOT))
    work_dirs = {
        name: osp.join(args.work_dir, osp.splitext(osp.basename(config))[0])
        for name, config in RUNS.items()
    }
    ckpts = train_all(work_dirs, args.retrain)
    results = {}
    for name, config in RUNS.items():
        metrics = evaluate(osp.join(ROOT, config), ckpts[name], work_dirs[name])
        results[name] = {k: float(v) for k, v in metrics.items()}
    text = table(results, list(FarclussDemoDataset.METAINFO['classes']))
    os.makedirs(args.out, exist_ok=True)
    with open(osp.join(args.out, 'demo_table.md'), 'w') as f:
        f.write(text + '\n')
    with open(osp.join(args.out, 'demo_metrics.json'), 'w') as f:
        json.dump(results, f, indent=2)
    panel(osp.join(ROOT, RUNS[FARCLUSS]), ckpts[FARCLUSS], osp.join(args.out, 'demo_panel.png'))
    print('\nDemo data 1/16 split, val set, IoU (%):\n' + text)
    print(
        f'\n[demo] wrote {args.out}/demo_table.md, demo_metrics.json, demo_panel.png '
        f'({time.time() - start:.0f} s in all)'
    )


if __name__ == '__main__':
    main()
