"""tools/analysis_tools/compare_methods.py: aggregation by hand and one smoke comparison."""

import importlib.util
import json
import math
import os
import os.path as osp
import re
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
    dict(seed=0, mIoU=50.0, rare_iou=10.0, pl_acc=80.0, final_pl_rare_recall=30.0),
    dict(seed=1, mIoU=52.0, rare_iou=14.0, pl_acc=90.0, final_pl_rare_recall=33.0),
    dict(seed=2, mIoU=54.0, rare_iou=12.0, pl_acc=70.0, final_pl_rare_recall=36.0),
]


def test_aggregate_by_hand():
    stats = cmp.aggregate(SEEDS)
    # mIoU: mean 52, sample std sqrt((4 + 0 + 4) / 2) = 2; rare IoU: 12, sqrt((4 + 4 + 0) / 2) = 2;
    # pl_acc (logged in %): 80, sqrt((0 + 100 + 100) / 2) = 10.
    assert stats['mIoU'] == dict(mean=52.0, std=2.0, n=3)
    assert stats['rare_iou'] == dict(mean=12.0, std=2.0, n=3)
    assert stats['pl_acc']['mean'] == pytest.approx(80.0)
    assert stats['pl_acc']['std'] == pytest.approx(10.0)
    one = cmp.aggregate(SEEDS[:1])
    assert one['mIoU'] == dict(mean=50.0, std=0.0, n=1)
    supervised = cmp.aggregate([dict(s, pl_acc=None) for s in SEEDS])
    assert supervised['pl_acc'] is None and supervised['mIoU']['mean'] == 52.0
    # A value undefined on one seed (None) leaves that seed out: pl_acc of seeds 0, 2 only.
    partial = cmp.aggregate([SEEDS[0], dict(SEEDS[1], pl_acc=None), SEEDS[2]])
    assert partial['pl_acc'] == dict(mean=75.0, std=pytest.approx(math.sqrt(50)), n=2)
    assert cmp._cell(partial['pl_acc'], 3) == '75.00 ± 7.07 (n=2)'
    assert cmp._cell(partial['mIoU'], 3) == '52.00 ± 2.00'


def _row(*mious, **extra):
    per_seed = [dict(seed=i, mIoU=v, rare_iou=1.0, **extra) for i, v in enumerate(mious)]
    return dict(per_seed=per_seed, aggregate=cmp.aggregate(per_seed))


def test_markdown_rows():
    result = dict(
        methods={
            'farcluss': dict(per_seed=SEEDS, aggregate=cmp.aggregate(SEEDS)),
            'supervised': _row(40.0, 45.0, 50.0, pl_acc=None),  # mean 45
            'oracle': _row(60.0, 61.0, 62.0, pl_acc=None),  # mean 61
        },
        meta=dict(
            iters=20,
            seeds=[0, 1, 2],
            command='cmd',
            machine='m',
            date='d',
            seconds=5,
            methods={'farcluss': dict(config='f.py', options={'a.b': 1})},
        ),
    )
    lines = cmp.markdown(result).splitlines()
    # farcluss recovers (52 - 45) / (61 - 45) = 43.75 % of the gap; final PL recall 33 ± 3;
    # PL used, used PL acc, final PL acc and precision not given
    assert (
        '| farcluss | 52.00 ± 2.00 | 12.00 ± 2.00 | 43.8 | 80.00 ± 10.00 | n/a | n/a | n/a | n/a '
        '| 33.00 ± 3.00 | reference |  | 3 |'
    ) in lines
    # supervised - farcluss per seed: -10, -7, -4: mean -7, sample std 3, farcluss ahead on 3/3
    assert (
        '| supervised | 45.00 ± 5.00 | 1.00 ± 0.00 | 0.0 | n/a | n/a | n/a | n/a | n/a | n/a '
        '| -7.00 ± 3.00 | 3/3 | 3 |'
    ) in lines
    assert (
        '| oracle | 61.00 ± 1.00 | 1.00 ± 0.00 | 100.0 | n/a | n/a | n/a | n/a | n/a | n/a '
        '| 9.00 ± 1.00 | 0/3 | 3 |'
    ) in lines
    # per seed, and no training log: no training time
    assert '| farcluss | 1 | 52.00 | 14.00 | 90.00 | n/a | n/a | n/a | n/a | 33.00 | n/a |' in lines
    assert lines[-1] == "Methods (config and --cfg-options): farcluss: `f.py` {'a.b': 1}"


def test_class_differences_by_hand():
    def runs(*ious):
        return dict(
            per_seed=[dict(seed=i, class_iou=dict(a=a, b=b)) for i, (a, b) in enumerate(ious)]
        )

    methods = {
        'supervised': runs((10.0, 50.0), (20.0, 40.0)),
        'farcluss': runs((13.0, 45.0), (22.0, 40.0)),
        'none': dict(per_seed=[dict(seed=0)]),  # no per-class IoU: left out
    }
    diffs = cmp.class_differences(methods)
    # a: +3, +2 -> mean 2.5, sample std sqrt(0.5), ahead 2; b: -5, 0 -> -2.5, ahead 0 (a tie)
    assert list(diffs) == ['farcluss']
    assert diffs['farcluss']['a'] == dict(mean=2.5, std=pytest.approx(math.sqrt(0.5)), n=2, ahead=2)
    assert diffs['farcluss']['b'] == dict(
        mean=-2.5, std=pytest.approx(math.sqrt(12.5)), n=2, ahead=0
    )
    assert cmp.class_differences({'farcluss': methods['farcluss']}) == {}
    result = dict(methods={n: dict(m, aggregate=cmp.aggregate([])) for n, m in methods.items()})
    result['meta'] = dict(iters=2, seeds=[0, 1], command='c', machine='m', date='d', seconds=1,
                          methods={})  # fmt: skip
    for name in methods:
        result['methods'][name]['per_seed'] = [
            dict(run, mIoU=1.0, rare_iou=1.0) for run in methods[name]['per_seed']
        ]
    lines = cmp.markdown(result).splitlines()
    assert '| method | a | b |' in lines
    assert '| farcluss | +2.50 (2/2) | -2.50 (0/2) |' in lines


def test_gap_recovered_by_hand():
    methods = {
        'supervised': _row(40.0, 42.0),  # mean 41
        'oracle': _row(60.0, 62.0),  # mean 61: gap 20
        'a': _row(44.0, 48.0),  # mean 46: 5 / 20 = 25 %
        'b': _row(38.0, 40.0),  # mean 39: -2 / 20 = -10 %
    }
    gaps = cmp.gap_recovered(methods)
    assert gaps == pytest.approx(dict(supervised=0.0, oracle=100.0, a=25.0, b=-10.0))
    assert cmp.gap_recovered({k: methods[k] for k in ('supervised', 'a')}) == dict(
        supervised=None, a=None
    )  # no oracle run
    no_gap = dict(methods, oracle=_row(41.0, 41.0))
    assert set(cmp.gap_recovered(no_gap).values()) == {None}


def test_paired_differences_by_hand():
    def runs(*values):
        return dict(per_seed=[dict(seed=i, mIoU=v) for i, v in enumerate(values)])

    methods = {
        'farcluss': runs(40.0, 42.0, 36.0),
        'supervised': runs(38.0, 41.0, 35.0),  # differences -2, -1, -1
        'tie': runs(40.0, 43.0, 36.0),  # differences 0, 1, 0: farcluss ahead on none
        'partial': dict(per_seed=[dict(seed=2, mIoU=39.0), dict(seed=7, mIoU=1.0)]),
    }
    paired = cmp.paired_differences(methods)
    assert paired['farcluss'] is None
    assert paired['supervised']['mean'] == pytest.approx(-4 / 3) and paired['supervised']['n'] == 3
    # sample std of (-2, -1, -1): sqrt(((2/3)^2 + 2 (1/3)^2) / 2) = sqrt(1/3)
    assert paired['supervised']['std'] == pytest.approx(math.sqrt(1 / 3))
    assert paired['supervised']['reference_ahead'] == 3
    assert paired['tie']['reference_ahead'] == 0
    assert paired['partial'] == dict(mean=3.0, std=0.0, n=1, reference_ahead=0)  # seed 7 alone
    assert cmp.paired_differences({'supervised': runs(1.0)}) == {'supervised': None}


def test_log_series_and_last_tenth(tmp_path):
    for stamp, steps in (('20260101_000000', range(1, 21)), ('20260101_000100', (19, 20))):
        vis = tmp_path / stamp / 'vis_data'
        vis.mkdir(parents=True)
        lines = [dict(step=s, loss=1.0, pl_acc=s / 100) for s in steps]
        if stamp.endswith('100'):  # a resumed run logs steps 19 and 20 again
            lines = [dict(step=s, pl_acc=s / 10) for s in steps]
        lines.insert(1, dict(step=5, mIoU=3.0))  # a val line without pl_acc
        vis.joinpath('scalars.json').write_text(''.join(json.dumps(x) + '\n' for x in lines))
    series = cmp.log_series(str(tmp_path), 'pl_acc')
    assert list(series) == list(range(1, 21))
    assert (series[18], series[19], series[20]) == (0.18, 1.9, 2.0)
    # 20 iterations: the last 10 % are steps 19 and 20 -> (1.9 + 2.0) / 2.
    assert cmp.last_tenth_mean(series, 20) == pytest.approx(1.95)
    assert cmp.log_series(str(tmp_path), 'pl_rare_recall') == {}
    assert cmp.last_tenth_mean(cmp.log_series(str(tmp_path / 'none'), 'pl_acc'), 20) is None


def test_curve_table_by_hand():
    curves = {
        'farcluss': {'pl_acc': [[6, 12, 18], [1.0, 2.0, 3.0]]},
        'mt': {'pl_used_ratio': [[12], [5.0]], 'pl_rare_recall': [[4, 13], [7.0, 8.0]]},
    }
    # 18 iterations, 3 points: the last logged value at or before 6, 12 and 18.
    assert cmp.curve_table(curves, 18, points=3).splitlines() == [
        '| method | value | it 6 | it 12 | it 18 |',
        '|---|---|---:|---:|---:|',
        '| farcluss | pseudo-label accuracy | 1.0 | 2.0 | 3.0 |',
        '| mt | share of pixels used in L_u | n/a | 5.0 | 5.0 |',
        f'| mt | PL recall ({cmp.RARE_CLASS}), per batch, 0 if none | 7.0 | 7.0 | 8.0 |',
    ]
    # 2 iterations and 10 points: marks 0.2 ... 2 round to the distinct steps 1 and 2 (0 -> 1).
    assert cmp.curve_table(curves, 2).splitlines()[0] == '| method | value | it 1 | it 2 |'


def test_moving_mean_by_hand():
    # width 3: (1 + 2) / 2, (1 + 2 + 6) / 3, (2 + 6 + 7) / 3, (6 + 7) / 2
    assert cmp.moving_mean([1.0, 2.0, 6.0, 7.0], 3) == [1.5, 3.0, 5.0, 6.5]
    assert cmp.moving_mean([1.0, 2.0], 1) == [1.0, 2.0]


def test_train_seconds_from_the_log_timestamps(tmp_path):
    (tmp_path / 'train_stdout.log').write_text(
        '11/29 23:56:26 - mmengine - INFO - \n'
        'System environment:\n'
        '11/29 23:58:21 - mmengine - INFO - Iter(train) [342/600]\n'
        'Traceback (most recent call last):\n'
        '11/30 00:01:02 - mmengine - INFO - Saving checkpoint at 600 iterations\n'
    )
    assert cmp.train_seconds(str(tmp_path)) == 4 * 60 + 36  # 23:56:26 -> 00:01:02
    assert cmp.train_seconds(str(tmp_path / 'none')) is None


def test_ablation_seeds():
    assert cmp.ABLATIONS == [
        'no-rebalance', 'no-entropy-weight', 'k1', 'no-contrast', 'no-feature-perturbation',
        'no-entropy-threshold',
    ]  # fmt: skip
    args = cmp.parse_args(['--seeds', '0', '1', '2', '3', '4', '--ablation-seeds', '0', '1', '2'])
    assert (args.seeds, args.ablation_seeds) == ([0, 1, 2, 3, 4], [0, 1, 2])
    meta = dict(seeds=args.seeds, ablation_seeds=args.ablation_seeds)
    assert cmp.seed_text(meta) == 'seeds [0, 1, 2, 3, 4] (ablations: [0, 1, 2])'
    assert cmp.seed_text(dict(seeds=[0, 1], ablation_seeds=[0, 1])) == 'seeds [0, 1]'
    assert cmp.parse_args([]).ablation_seeds is None  # the ablations run on --seeds


def test_repeated_seeds_are_refused(capsys):
    with pytest.raises(SystemExit):
        cmp.parse_args(['--ablation-seeds', '0', '0'])
    assert '--ablation-seeds must not repeat a seed, got [0, 0]' in capsys.readouterr().err


def test_run_options_for_a_semi_config():
    cfg = Config.fromfile(osp.join(REPO, cmp.METHODS['farcluss']['config']))
    method_options = {'model.unsup_weight': 0.5, 'randomness.seed': 99}
    options = cmp.run_options(cfg, 3, 200, '/d', True, method_options)
    assert options['model.unsup_weight'] == 0.5  # the method's own option
    assert options['randomness.seed'] == 3  # the run's seed wins over the method's
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
    assert method_options == {'model.unsup_weight': 0.5, 'randomness.seed': 99}  # not changed


def test_oracle_trains_on_every_train_label():
    cfg = Config.fromfile(osp.join(REPO, cmp.METHODS['oracle']['config']))
    supervised = Config.fromfile(osp.join(REPO, cmp.METHODS['supervised']['config']))
    assert cfg.train_dataloader.dataset.ann_file == 'splits/train.txt'
    assert supervised.train_dataloader.dataset.ann_file == 'splits/1_16/labeled.txt'
    cfg.train_dataloader.dataset.ann_file = supervised.train_dataloader.dataset.ann_file
    assert cfg.to_dict() == supervised.to_dict()  # same model, schedule and batch otherwise


def test_every_method_config_exists():
    assert cmp.DEFAULT_METHODS == [
        'supervised',
        'oracle',
        'hard-label-mt',
        'unimatch',
        'farcluss',
        'no-rebalance',
        'no-entropy-weight',
        'k1',
        'no-contrast',
        'no-feature-perturbation',
    ]
    for name, method in cmp.METHODS.items():
        assert osp.isfile(osp.join(REPO, method['config'])), name
        assert isinstance(method['options'], dict), name


def test_missing_method_config_is_named(tmp_path, monkeypatch):
    monkeypatch.setitem(cmp.METHODS, 'new', dict(config='configs/none.py', options={}))
    args = cmp.parse_args(['--methods', 'new', '--out', str(tmp_path)])
    message = f"config of method 'new' not found: {osp.join(cmp.ROOT, 'configs/none.py')}"
    with pytest.raises(FileNotFoundError, match=re.escape(message)):
        cmp.run_method('new', args, None)


def test_smoke_comparison(tmp_path, demo_data_root, capsys):
    out = str(tmp_path / 'cmp')
    cmd = [sys.executable, 'tools/analysis_tools/compare_methods.py', '--smoke']
    cmd += ['--data-root', demo_data_root, '--out', out, '--threads', '1']
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    with open(osp.join(out, 'compare_methods.json')) as f:
        result = json.load(f)
    methods = result['methods']
    assert list(methods) == ['supervised', 'farcluss']  # 2 methods x 2 seeds
    assert result['meta']['iters'] == 2 and result['meta']['seeds'] == [0, 1]
    text = open(osp.join(out, 'compare_methods.md')).read()
    miou = {}
    for name, row in methods.items():
        assert [run['seed'] for run in row['per_seed']] == [0, 1]
        for run in row['per_seed']:
            with open(osp.join(run['work_dir'], 'val_metrics.json')) as f:
                metrics = json.load(f)
            assert (
                run['mIoU'] == metrics['mIoU']
                and run['rare_iou'] == metrics[f'IoU.{cmp.RARE_CLASS}']
            )
            # the final pseudo-labels: the same model on the 45 unlabeled images of the split
            with open(osp.join(run['work_dir'], 'unlabeled_metrics.json')) as f:
                final = json.load(f)
            assert run['final_pl_acc'] == final['aAcc'] != metrics['aAcc']
            for key in ('Precision', 'Recall'):
                value = final[f'{key}.{cmp.RARE_CLASS}']  # NaN (0 / 0) -> None: not defined
                expected = None if math.isnan(value) else value
                assert run[f'final_pl_rare_{key.lower()}'] == expected
        miou[name] = [run['mIoU'] for run in row['per_seed']]
        assert row['aggregate']['mIoU']['mean'] == pytest.approx(sum(miou[name]) / 2)
    # Without an oracle run there is no gap to recover (the gap's arithmetic is checked on
    # known numbers above); the paired differences by hand from the per-seed mIoU.
    assert all(methods[name]['gap_recovered'] is None for name in methods)
    d0, d1 = (miou['supervised'][i] - miou['farcluss'][i] for i in (0, 1))
    paired = methods['supervised']['paired_miou_vs_farcluss']
    assert paired['mean'] == pytest.approx((d0 + d1) / 2)
    assert paired['std'] == pytest.approx(abs(d0 - d1) / math.sqrt(2))  # n = 2
    assert paired['reference_ahead'] == (d0 < 0) + (d1 < 0)
    cells = f'| {paired["mean"]:.2f} ± {paired["std"]:.2f} | {paired["reference_ahead"]}/2 |'
    assert cells in text
    assert methods['farcluss']['paired_miou_vs_farcluss'] is None
    assert all(run['pl_acc'] is None for run in methods['supervised']['per_seed'])
    assert all(0.0 <= run['pl_acc'] <= 100.0 for run in methods['farcluss']['per_seed'])
    assert all(0.0 <= run['pl_used_ratio'] <= 100.0 for run in methods['farcluss']['per_seed'])
    with Image.open(osp.join(out, 'compare_methods.png')) as png:
        assert png.size == (1350, 420)  # figsize (13.5, 4.2) at 100 dpi
    with Image.open(osp.join(out, 'training_curves.png')) as png:
        assert png.size == (1100, 760)  # 2 x 2 panels, figsize (11, 7.6)
    # The curves' table: farcluss (the only curve method that ran), mean over its two seeds.
    acc = [cmp.log_series(run['work_dir'], 'pl_acc') for run in methods['farcluss']['per_seed']]
    means = [(acc[0][t] + acc[1][t]) / 2 for t in (1, 2)]
    assert result['curves']['farcluss']['pl_acc'] == [[1, 2], means]
    row = ' | '.join(f'{m:.1f}' for m in means)
    assert f'| farcluss | pseudo-label accuracy | {row} |' in text
    assert list(result['curves']) == ['farcluss']
    assert all(run['train_seconds'] >= 0 for row in methods.values() for run in row['per_seed'])
    assert 'wrote ' + out + '/compare_methods.{md,png,json}, training_curves.png' in proc.stdout

    # A finished run is reused, not retrained.
    run = methods['farcluss']['per_seed'][0]
    with open(osp.join(run['work_dir'], 'compare_options.json')) as f:
        stamp = json.load(f)
    checkpoint = osp.join(run['work_dir'], 'iter_2.pth')
    mtime = osp.getmtime(checkpoint)
    assert stamp['config'] == cmp.METHODS['farcluss']['config']  # relative: a moved checkout
    config = osp.join(cmp.ROOT, stamp['config'])
    assert cmp.train(config, stamp['options'], run['work_dir'], 1) == checkpoint
    assert osp.getmtime(checkpoint) == mtime
    assert f'[compare] reusing {checkpoint}' in capsys.readouterr().out
