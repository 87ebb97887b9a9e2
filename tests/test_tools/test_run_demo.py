"""tools/run_demo.py: the demo table by hand, its configs, reusing a run, a failed training."""

import os.path as osp
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools'))

import run_demo  # noqa: E402

RARE = run_demo.RARE_CLASS


def _metrics(miou, rare):
    return {'mIoU': miou, 'IoU.sky': 90.0, f'IoU.{RARE}': rare}


def test_table_has_the_gap_recovered_row():
    results = {
        run_demo.SUPERVISED: _metrics(40.0, 0.0),
        run_demo.FARCLUSS: _metrics(46.0, 20.0),
        run_demo.ORACLE: _metrics(60.0, 55.5),
    }
    lines = run_demo.table(results, ['sky', RARE]).splitlines()
    assert lines == [
        '| class | Supervised only | FARCLUSS (teacher) | Oracle (all labels) |',
        '|---|---:|---:|---:|',
        '| **mIoU** | **40.00** | **46.00** | **60.00** |',
        '| gap recovered (%) | 0.0 | 30.0 | 100.0 |',  # (46 - 40) / (60 - 40)
        '| sky | 90.00 | 90.00 | 90.00 |',
        f'| {RARE} (rare) | 0.00 | 20.00 | 55.50 |',
    ]
    results[run_demo.ORACLE]['mIoU'] = 39.0  # no gap to recover
    assert '| gap recovered (%) | n/a | n/a | n/a |' in run_demo.table(results, ['sky'])


def test_a_finished_run_is_reused_only_with_the_same_config(tmp_path, capsys):
    config = osp.join(REPO, run_demo.RUNS[run_demo.SUPERVISED])
    work_dir = str(tmp_path / 'run')
    ckpt, text = run_demo.checkpoint_to_train(config, work_dir, retrain=False)
    assert ckpt == osp.join(work_dir, 'iter_500.pth') and 'max_iters=500' in text
    (tmp_path / 'run').mkdir()
    (tmp_path / 'run' / 'iter_500.pth').write_bytes(b'')
    (tmp_path / 'run' / 'demo_config.py').write_text(text)
    assert run_demo.checkpoint_to_train(config, work_dir, retrain=False) == (ckpt, None)
    assert 'reusing' in capsys.readouterr().out
    assert run_demo.checkpoint_to_train(config, work_dir, retrain=True) == (ckpt, text)
    (tmp_path / 'run' / 'demo_config.py').write_text(text.replace('500', '5000'))
    assert run_demo.checkpoint_to_train(config, work_dir, retrain=False) == (ckpt, text)


def test_demo_runs_are_the_600_iteration_configs_on_500_iterations():
    """make demo's three configs differ from compare_methods.py's only in the schedule, which
    they share (the burn-in stays 200)."""
    from mmengine.config import Config

    for name, config in run_demo.RUNS.items():
        ours = Config.fromfile(osp.join(REPO, config)).to_dict()
        theirs = Config.fromfile(osp.join(REPO, config.replace('500it', '600it'))).to_dict()
        schedule = (
            [s['end'] for s in ours['param_scheduler']],
            ours['train_cfg']['max_iters'],
            ours['train_cfg']['val_interval'],
            ours['default_hooks']['checkpoint']['interval'],
        )
        assert schedule == ([500], 500, 250, 250), name
        # the 600-iteration schedule put back: nothing else may differ
        ours['param_scheduler'][0]['end'] = 600
        ours['train_cfg'].update(max_iters=600, val_interval=300)
        ours['default_hooks']['checkpoint']['interval'] = 300
        assert ours == theirs, name
        if name == run_demo.FARCLUSS:
            assert ours['model']['semi_train_cfg']['burn_in_iters'] == 200


def test_a_failed_training_names_its_log(tmp_path, capsys):
    """A real tools/train.py run on a config that does not exist: the error and the line printed
    at once both name the log, which holds train.py's own message."""
    work_dir = str(tmp_path / 'run')
    failed = r'training .*missing\.py failed \(exit [1-9]\d*\); see '
    with pytest.raises(RuntimeError, match=failed):
        run_demo.train(str(tmp_path / 'missing.py'), work_dir, 'text', threads=1)
    log = osp.join(work_dir, 'train_stdout.log')
    assert f'see {log}' in capsys.readouterr().out
    with open(log) as f:
        assert 'missing.py' in f.read()
    assert not osp.exists(osp.join(work_dir, 'demo_config.py'))  # no stamp: trained again next time
