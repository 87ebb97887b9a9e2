"""tools/dist_train.sh: two CPU processes (gloo) train FARCLUSS; a killed worker resumes exactly."""

import importlib.util
import os
import os.path as osp
import signal
import socket
import subprocess
import sys
import time
from typing import Optional

import pytest
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
ITERS = 8  # checkpoints every 2 iterations; the killed run stops after iter_4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _dist_train(work_dir: str, data_root: str, resume: bool = False) -> list:
    cmd = ['bash', 'tools/dist_train.sh', e2e.FARCLUSS, '2', '--work-dir', work_dir]
    cmd += ['--resume'] if resume else []
    options = e2e.tiny_options(e2e.FARCLUSS, data_root) + [f'train_cfg.max_iters={ITERS}']
    return cmd + ['--cfg-options', *options]


def _env() -> dict:
    return e2e.tool_env(PYTHON=sys.executable, PORT=str(_free_port()))


def _run(cmd: list) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        cmd, cwd=e2e.REPO, env=_env(), capture_output=True, text=True, timeout=e2e.TIMEOUT
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def _rank_process(launcher: int, rank: int) -> Optional[int]:
    """The tools/train.py process of ``rank`` whose environment says ``launcher`` started it."""
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/environ', 'rb') as f:
                env = f.read().split(b'\0')
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                cmdline = f.read()
        except OSError:
            continue
        own = f'TEST_LAUNCHED_BY={launcher}'.encode() in env
        if own and f'RANK={rank}'.encode() in env and b'tools/train.py' in cmdline:
            return int(pid)
    return None


@pytest.fixture(scope='module')
def straight(demo_data_root, tmp_path_factory) -> str:
    """An uninterrupted 2-process FARCLUSS run of ITERS iterations."""
    work_dir = str(tmp_path_factory.mktemp('dist') / 'straight')
    _run(_dist_train(work_dir, demo_data_root))
    return work_dir


def test_dist_train_runs_two_gloo_processes(straight, farcluss_run):
    assert sorted(f for f in os.listdir(straight) if f.endswith('.pth')) == [
        f'iter_{ITERS - 2}.pth',
        f'iter_{ITERS}.pth',
    ]
    (run_dir,) = e2e.run_dirs(straight)
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
    assert [e['iter'] for e in e2e.read_scalars(run_dir) if 'iter' in e] == list(
        range(1, ITERS + 1)
    )
    # Rank 0 saved the unwrapped model: the same keys and shapes as a single-process run.
    final = osp.join(straight, f'iter_{ITERS}.pth')
    dist = torch.load(final, map_location='cpu', weights_only=False)
    single = torch.load(farcluss_run.checkpoint, map_location='cpu', weights_only=False)
    assert dist['meta']['iter'] == ITERS
    assert {k: v.shape for k, v in dist['state_dict'].items()} == {
        k: v.shape for k, v in single['state_dict'].items()
    }


def test_killed_worker_then_resume_ends_bit_identical(straight, demo_data_root, tmp_path):
    # BN running statistics (student and teacher) of rank 1 must equal rank 0's, which are the
    # ones saved: configs/_base_/default_runtime.py makes DDP broadcast them every step.
    work_dir = str(tmp_path / 'killed')
    launcher = subprocess.Popen(
        _dist_train(work_dir, demo_data_root),
        cwd=e2e.REPO,
        env={**_env(), 'TEST_LAUNCHED_BY': str(os.getpid())},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + e2e.TIMEOUT
    while not osp.exists(osp.join(work_dir, 'iter_4.pth')):
        assert launcher.poll() is None and time.time() < deadline, 'no iter_4.pth'
        time.sleep(0.01)
    worker = _rank_process(os.getpid(), 1)
    assert worker is not None
    os.kill(worker, signal.SIGKILL)
    assert launcher.wait(timeout=e2e.TIMEOUT) != 0  # torchrun stops rank 0 and fails
    saved = sorted(f for f in os.listdir(work_dir) if f.endswith('.pth'))
    assert saved[-1] in ('iter_4.pth', 'iter_6.pth') and f'iter_{ITERS}.pth' not in saved

    _run(_dist_train(work_dir, demo_data_root, resume=True))
    step = saved[-1][len('iter_') : -len('.pth')]
    assert f'resumed epoch: 0, iter: {step}' in e2e.read_log(e2e.run_dirs(work_dir)[-1])
    resumed = torch.load(
        osp.join(work_dir, f'iter_{ITERS}.pth'), map_location='cpu', weights_only=False
    )
    reference = torch.load(
        osp.join(straight, f'iter_{ITERS}.pth'), map_location='cpu', weights_only=False
    )
    names = [k for k in reference['state_dict'] if 'running_' in k]
    assert any(k.startswith('teacher.') for k in names) and any(
        k.startswith('student.') for k in names
    )
    for name, tensor in reference['state_dict'].items():
        assert torch.equal(tensor, resumed['state_dict'][name]), name
    for idx, state in reference['optimizer']['state'].items():
        assert torch.equal(
            state['momentum_buffer'], resumed['optimizer']['state'][idx]['momentum_buffer']
        )
