"""tools/analysis_tools/compare_methods.py: aggregation by hand and one smoke comparison."""

import importlib.util
import json
import math
import os
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load_tool():
    path = osp.join(REPO, 'tools', 'analysis_tools', 'compare_methods.py')
    spec = importlib.util.spec_from_file_location('compare_methods', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cmp = _load_tool()

SEEDS = [
    dict(seed=0, mIoU=50.0, rare_iou=10.0, pl_acc=0.8),
    dict(seed=1, mIoU=52.0, rare_iou=14.0, pl_acc=0.9),
    dict(seed=2, mIoU=54.0, rare_iou=12.0, pl_acc=0.7),
]


def test_aggregate_by_hand():
    stats = cmp.aggregate(SEEDS)
    # mIoU: mean 52, sample std sqrt((4 + 0 + 4) / 2) = 2; wire: 12, sqrt((4 + 4 + 0) / 2) = 2;
    # pl_acc: 0.8, sqrt((0 + 0.01 + 0.01) / 2) = 0.1.
    assert stats['mIoU'] == dict(mean=52.0, std=2.0, n=3)
    assert stats['rare_iou'] == dict(mean=12.0, std=2.0, n=3)
    assert stats['pl_acc']['mean'] == pytest.approx(0.8)
    assert stats['pl_acc']['std'] == pytest.approx(0.1)
    one = cmp.aggregate(SEEDS[:1])
    assert one['mIoU'] == dict(mean=50.0, std=0.0, n=1)
    supervised = cmp.aggregate([dict(s, pl_acc=None) for s in SEEDS])
    assert supervised['pl_acc'] is None and supervised['mIoU']['mean'] == 52.0


def test_markdown_rows():
    result = dict(
        methods={
            'farcluss': dict(per_seed=SEEDS, aggregate=cmp.aggregate(SEEDS)),
            'supervised': dict(
                per_seed=[dict(SEEDS[0], pl_acc=None)],
                aggregate=cmp.aggregate([dict(SEEDS[0], pl_acc=None)]),
            ),
        },
        meta=dict(iters=20, seeds=[0, 1, 2], command='cmd', machine='m', date='d', configs={}),
    )
    lines = cmp.markdown(result).splitlines()
    assert '| farcluss | 52.00 ± 2.00 | 12.00 ± 2.00 | 80.00 ± 10.00 | reference | 3 |' in lines
    # supervised ran seed 0 only: 50 - 50 = 0 on that seed
    assert '| supervised | 50.00 ± 0.00 | 10.00 ± 0.00 | n/a | 0.00 ± 0.00 | 1 |' in lines
    assert '| farcluss | 1 | 52.00 | 14.00 | 90.00 |' in lines


def test_paired_differences_by_hand():
    def runs(*values):
        return dict(per_seed=[dict(seed=i, mIoU=v) for i, v in enumerate(values)])

    methods = {
        'farcluss': runs(40.0, 42.0, 36.0),
        'supervised': runs(38.0, 41.0, 35.0),  # differences -2, -1, -1
        'partial': dict(per_seed=[dict(seed=2, mIoU=39.0), dict(seed=7, mIoU=1.0)]),
    }
    paired = cmp.paired_differences(methods)
    assert paired['farcluss'] is None
    assert paired['supervised']['mean'] == pytest.approx(-4 / 3) and paired['supervised']['n'] == 3
    # sample std of (-2, -1, -1): sqrt(((2/3)^2 + 2 (1/3)^2) / 2) = sqrt(1/3)
    assert paired['supervised']['std'] == pytest.approx(math.sqrt(1 / 3))
    assert paired['partial'] == dict(mean=3.0, std=0.0, n=1)  # seed 7 has no partner
    assert cmp.paired_differences({'supervised': runs(1.0)}) == {'supervised': None}


def test_pseudo_label_accuracy_last_tenth(tmp_path):
    vis = tmp_path / '20260101_000000' / 'vis_data'
    vis.mkdir(parents=True)
    lines = [dict(step=s, loss=1.0, pl_acc=s / 100) for s in range(1, 21)]
    lines.insert(5, dict(step=5, mIoU=3.0))  # a val line without pl_acc
    vis.joinpath('scalars.json').write_text(''.join(json.dumps(x) + '\n' for x in lines))
    # 20 iterations: the last 10 % are steps 19 and 20 -> (0.19 + 0.20) / 2.
    assert cmp.pseudo_label_accuracy(str(tmp_path), 20) == pytest.approx(0.195)
    assert cmp.pseudo_label_accuracy(str(tmp_path / 'none'), 20) is None


def test_run_options_for_a_semi_config():
    cfg = Config.fromfile(osp.join(REPO, cmp.METHODS['farcluss']))
    options = cmp.run_options(cfg, seed=3, iters=200, data_root='/d', tiny=True)
    assert options['randomness.seed'] == 3
    assert options['train_cfg.max_iters'] == 200 and options['param_scheduler.0.end'] == 200
    assert options['train_cfg.val_begin'] == 201
    assert options['default_hooks.logger.interval'] == options['log_processor.window_size'] == 2
    data_roots = sorted(k for k, v in options.items() if v == '/d')
    assert data_roots == [  # the config's variables too: harmless, and complete
        'data_root',
        'labeled_dataset.data_root',
        'test_dataloader.dataset.data_root',
        'train_dataloader.dataset.datasets.0.data_root',
        'train_dataloader.dataset.datasets.1.data_root',
        'unlabeled_dataset.data_root',
        'val_dataloader.dataset.data_root',
    ]
    assert options['model.segmentor.backbone.base_channels'] == 8


def test_every_method_config_exists():
    assert cmp.DEFAULT_METHODS == [
        'supervised',
        'hard-threshold',
        'farcluss',
        'no-entropy-weight',
        'no-rebalance',
        'no-contrast',
        'no-feature-perturbation',
        'k1',
        'no-entropy-threshold',
    ]
    for name, config in cmp.METHODS.items():
        assert osp.isfile(osp.join(REPO, config)), name


def test_smoke_comparison(tmp_path, demo_data_root, capsys):
    out = str(tmp_path / 'cmp')
    cmd = [sys.executable, 'tools/analysis_tools/compare_methods.py', '--smoke']
    cmd += ['--data-root', demo_data_root, '--out', out, '--threads', '1']
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    with open(osp.join(out, 'compare_methods.json')) as f:
        result = json.load(f)
    assert list(result['methods']) == ['supervised', 'farcluss']
    assert result['meta']['iters'] == 2 and result['meta']['seeds'] == [0]
    text = open(osp.join(out, 'compare_methods.md')).read()
    for name, row in result['methods'].items():
        (run,) = row['per_seed']
        with open(osp.join(run['work_dir'], 'val_metrics.json')) as f:
            metrics = json.load(f)
        assert run['mIoU'] == metrics['mIoU'] and run['rare_iou'] == metrics['IoU.wire']
        assert row['aggregate']['mIoU'] == dict(mean=run['mIoU'], std=0.0, n=1)
        assert f'| {name} | {run["mIoU"]:.2f} ± 0.00 |' in text
    assert result['methods']['supervised']['per_seed'][0]['pl_acc'] is None
    assert 0.0 <= result['methods']['farcluss']['per_seed'][0]['pl_acc'] <= 1.0
    with Image.open(osp.join(out, 'compare_methods.png')) as png:
        assert png.size == (1350, 420)  # figsize (13.5, 4.2) at 100 dpi

    # A finished run is reused, not retrained.
    run = result['methods']['farcluss']['per_seed'][0]
    with open(osp.join(run['work_dir'], 'compare_options.json')) as f:
        stamp = json.load(f)
    checkpoint = osp.join(run['work_dir'], 'iter_2.pth')
    mtime = osp.getmtime(checkpoint)
    assert stamp['config'] == cmp.METHODS['farcluss']  # relative: a moved checkout reuses runs
    config = osp.join(cmp.ROOT, stamp['config'])
    assert cmp.train(config, stamp['options'], run['work_dir'], 1) == checkpoint
    assert osp.getmtime(checkpoint) == mtime
    assert f'[compare] reusing {checkpoint}' in capsys.readouterr().out
