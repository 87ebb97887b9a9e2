"""Multi-node launch: dist_train.sh on two "nodes" (NNODES/NODE_RANK/MASTER_ADDR), one CPU
process each (gloo), with auto_scale_lr; and the srun command lines of slurm_train/test.sh."""

import importlib.util
import json
import os
import os.path as osp
import socket
import stat
import subprocess
import sys

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_nodes_one_process_each_scale_the_lr(demo_data_root, tmp_path):
    work_dir = str(tmp_path / 'two_nodes')
    options = e2e.tiny_options(e2e.BASELINE, demo_data_root) + [
        'train_cfg.max_iters=2',
        'auto_scale_lr.enable=True',
        'auto_scale_lr.base_batch_size=2',  # one node's batch: lr x 2 on two nodes
    ]
    port = str(_free_port())
    nodes = []
    for node_rank in (0, 1):  # what each node of a 2-node job runs, here on one machine
        env = e2e.tool_env(
            PYTHON=sys.executable,
            NNODES='2',
            NODE_RANK=str(node_rank),
            MASTER_ADDR='127.0.0.1',
            PORT=port,
        )
        cmd = ['bash', 'tools/dist_train.sh', e2e.BASELINE, '1', '--work-dir', work_dir]
        nodes.append(
            subprocess.Popen(
                cmd + ['--cfg-options', *options],
                cwd=e2e.REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [node.communicate(timeout=e2e.TIMEOUT) for node in nodes]
    for node, (_, err) in zip(nodes, outputs):
        assert node.returncode == 0, err[-4000:]

    assert sorted(f for f in os.listdir(work_dir) if f.endswith('.pth')) == ['iter_2.pth']
    (run_dir,) = e2e.run_dirs(work_dir)
    log = e2e.read_log(run_dir)
    for line in ('Distributed training: True', 'GPU number: 2', "dist_cfg: {'backend': 'gloo'}"):
        assert line in log
    assert (
        'LR is set based on batch size of 2 and the current batch size is 4. '
        'Scaling the original LR by 2.0.'
    ) in log
    lrs = [e['lr'] for e in e2e.read_scalars(run_dir) if 'lr' in e]
    assert lrs[0] == pytest.approx(0.1, rel=1e-9)  # the config's 0.05, doubled
    ckpt = torch.load(osp.join(work_dir, 'iter_2.pth'), map_location='cpu', weights_only=False)
    assert ckpt['meta']['iter'] == 2


FAKE_SRUN = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ['SRUN_RECORD'], 'w') as f:
    json.dump({'argv': sys.argv[1:], 'cwd': os.getcwd(),
               'pythonpath': os.environ.get('PYTHONPATH', '')}, f)
"""


@pytest.fixture
def fake_srun(tmp_path):
    """A ``srun`` first on PATH that records how it was called (no cluster here)."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    srun = bin_dir / 'srun'
    srun.write_text(FAKE_SRUN)
    srun.chmod(srun.stat().st_mode | stat.S_IXUSR)
    record = tmp_path / 'srun.json'

    def run(script, *args, **env):
        proc = subprocess.run(
            ['bash', osp.join(e2e.REPO, 'tools', script), *args],
            cwd=str(tmp_path),  # the scripts cd to the repository themselves
            env=e2e.tool_env(
                PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}', SRUN_RECORD=str(record), **env
            ),
            capture_output=True,
            text=True,
            timeout=60,
        )
        return proc, (json.loads(record.read_text()) if record.exists() else None)

    return run


def test_slurm_train_sh_calls_srun_like_mmseg(fake_srun):
    proc, call = fake_srun(
        'slurm_train.sh',
        'gpu',
        'farcluss',
        e2e.FARCLUSS,
        '--work-dir',
        'work_dirs/x',
        GPUS='16',
        GPUS_PER_NODE='8',
        SRUN_ARGS='--time=1:00:00 --mem=0',
    )
    assert proc.returncode == 0, proc.stderr
    assert call['argv'] == [
        '-p',
        'gpu',
        '--job-name=farcluss',
        '--gres=gpu:8',
        '--ntasks=16',
        '--ntasks-per-node=8',
        '--cpus-per-task=5',
        '--kill-on-bad-exit=1',
        '--time=1:00:00',
        '--mem=0',
        'python',
        '-u',
        'tools/train.py',
        e2e.FARCLUSS,
        '--launcher',
        'slurm',
        '--work-dir',
        'work_dirs/x',
    ]
    assert call['cwd'] == e2e.REPO
    assert call['pythonpath'].split(os.pathsep)[0] == e2e.REPO


def test_slurm_test_sh_calls_srun_like_mmseg(fake_srun):
    proc, call = fake_srun('slurm_test.sh', 'gpu', 'eval', 'CFG.py', 'CKPT.pth')
    assert proc.returncode == 0, proc.stderr
    assert call['argv'][:8] == [
        '-p',
        'gpu',
        '--job-name=eval',
        '--gres=gpu:4',
        '--ntasks=4',
        '--ntasks-per-node=4',
        '--cpus-per-task=5',
        '--kill-on-bad-exit=1',
    ]
    assert call['argv'][8:] == [
        'python',
        '-u',
        'tools/test.py',
        'CFG.py',
        'CKPT.pth',
        '--launcher',
        'slurm',
    ]


def test_slurm_scripts_name_their_arguments(fake_srun):
    proc, call = fake_srun('slurm_train.sh', 'gpu', 'job')
    assert (proc.returncode, call) == (2, None)
    assert proc.stderr.startswith('usage: [GPUS=N] [GPUS_PER_NODE=M] bash ')
    assert proc.stderr.rstrip().endswith('slurm_train.sh PARTITION JOB_NAME CONFIG [options]')
