"""tools/dist_train.sh: two CPU processes (gloo) train the baseline for 2 iterations."""

import importlib.util
import os
import os.path as osp
import socket
import subprocess
import sys

import torch


def _load_helpers():
    """This folder's conftest.py as a module (pytest's importlib mode puts no test dir on
    sys.path); its fixtures reach the tests through pytest, its functions through this."""
    spec = importlib.util.spec_from_file_location(
        'e2e_helpers', osp.join(osp.dirname(osp.abspath(__file__)), 'conftest.py')
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


e2e = _load_helpers()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_dist_train_runs_two_gloo_processes(demo_data_root, tmp_path, baseline_run):
    work_dir = str(tmp_path / 'dist')
    options = e2e.tiny_options(e2e.BASELINE, demo_data_root) + ['train_cfg.max_iters=2']
    cmd = ['bash', 'tools/dist_train.sh', e2e.BASELINE, '2', '--work-dir', work_dir]
    env = e2e.tool_env(PYTHON=sys.executable, PORT=str(_free_port()))
    proc = subprocess.run(
        cmd + ['--cfg-options', *options],
        cwd=e2e.REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=e2e.TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]

    assert sorted(f for f in os.listdir(work_dir) if f.endswith('.pth')) == ['iter_2.pth']
    (run_dir,) = e2e.run_dirs(work_dir)
    log = e2e.read_log(run_dir)
    # mmengine's environment report: the launcher, and the world size as 'GPU number'.
    for line in (
        'Distributed launcher: pytorch',
        'Distributed training: True',
        'GPU number: 2',
        "dist_cfg: {'backend': 'gloo'}",
    ):
        assert line in log
    assert 'MMDistributedDataParallel' in log  # the model wrapper of tools/train.py
    assert [e['iter'] for e in e2e.read_scalars(run_dir) if 'iter' in e] == [1, 2]

    # Rank 0 saved the unwrapped model: the same keys and shapes as a single-process run.
    dist = torch.load(osp.join(work_dir, 'iter_2.pth'), map_location='cpu', weights_only=False)
    single = torch.load(baseline_run.checkpoint, map_location='cpu', weights_only=False)
    assert dist['meta']['iter'] == 2
    assert {k: v.shape for k, v in dist['state_dict'].items()} == {
        k: v.shape for k, v in single['state_dict'].items()
    }
