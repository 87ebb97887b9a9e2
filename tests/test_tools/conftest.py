"""End-to-end helpers: run the tools as subprocesses on the demo data with a tiny model.

Training is the slow part (about 7 s a run, mostly imports), so each run is made once per
session: :func:`trained` keeps its work dir under pytest's session temp dir and reuses it, and
the session fixtures ``baseline_run`` and ``farcluss_run`` serve every test that needs a
checkpoint. ``tests/test_apis/test_inference.py`` loads this module by path for the same runs.
"""

import glob
import json
import os
import os.path as osp
import subprocess
import sys
from dataclasses import dataclass
from typing import Dict, List, Sequence

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BASELINE = 'configs/baselines/deeplabv3plus_r18-w32-d8_1xb8-600it_farcluss-demo-1-16-96x96.py'
FARCLUSS = (
    'configs/farcluss/farcluss_deeplabv3plus_r18-w32-d8_1xb8+8-600it_farcluss-demo-1-16-96x96.py'
)
CLASSES = ('sky', 'ground', 'building', 'tree', 'water', 'rock', 'vehicle', 'pole')
MAX_ITERS = 4  # checkpoints at 2 and 4, both kept
TIMEOUT = 300  # seconds per tool run


@dataclass
class Run:
    """A finished ``tools/train.py`` run.

    Attributes:
        work_dir (str): Its work dir.
        config (str): The config it dumped there (every ``--cfg-options`` merged in), usable
            by the other tools and ``mmseg.apis``.
        checkpoint (str): The last checkpoint.
    """

    work_dir: str
    config: str
    checkpoint: str


def tiny_options(config: str, data_root: str) -> List[str]:
    """``--cfg-options`` that make ``config`` tiny and fast on ``data_root``.

    A 8-channel ResNet-18 and a 16-channel head, 2 labeled (+ 2 unlabeled for FARCLUSS) crops
    a batch, no validation, a checkpoint every 2 iterations (the last 2 kept) and a log line
    every iteration. The semi-supervised methods keep every pixel in their unsupervised losses
    (FARCLUSS: ``entropy_threshold=None``, ``confidence_threshold=0``; the hard-label methods:
    ``confidence_threshold=0``): with the published thresholds an untrained model passes no
    pixel, the losses are 0, and the random draws (CutMix, channel dropout) would never reach
    the weights, so a resume test could not see them.

    Args:
        config (str): A config path relative to the repository root (``configs/baselines/``
            for supervised ones).
        data_root (str): The demo dataset.

    Returns:
        list[str]: ``key=value`` items for ``--cfg-options``.
    """
    semi = not config.startswith('configs/baselines/')
    model = 'model.segmentor' if semi else 'model'
    options = [
        f'{model}.backbone.base_channels=8',
        f'{model}.backbone.stem_channels=8',
        f'{model}.decode_head.in_channels=64',
        f'{model}.decode_head.c1_in_channels=8',
        f'{model}.decode_head.channels=16',
        f'{model}.decode_head.c1_channels=8',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        'train_cfg.val_begin=1000000',
        'default_hooks.checkpoint.interval=2',
        'default_hooks.checkpoint.max_keep_ckpts=2',
        'default_hooks.logger.interval=1',
    ]
    if semi:
        options += [
            f'train_dataloader.dataset.datasets.0.data_root={data_root}',
            f'train_dataloader.dataset.datasets.1.data_root={data_root}',
            'train_dataloader.batch_size=4',
            'train_dataloader.sampler.batch_size=4',
            'model.semi_train_cfg.burn_in_iters=0',  # the demo's burn-in outlasts these runs
        ]
    if config.startswith('configs/farcluss/'):
        options += [
            'model.semi_train_cfg.entropy_threshold=None',
            'model.contrast_loss.confidence_threshold=0.0',
        ]
    elif semi:  # the hard-label methods: every pixel passes the confidence threshold
        options.append('model.semi_train_cfg.confidence_threshold=0.0')
    else:
        options += [
            f'train_dataloader.dataset.data_root={data_root}',
            'train_dataloader.batch_size=2',
        ]
    return options


def tool_env(**extra: str) -> Dict[str, str]:
    """The environment of a tool run: one OpenMP thread per process.

    On a busy 2-core machine torch's default two threads spin against other processes and a
    training iteration of the tiny model takes 4 s instead of 0.1 s.
    """
    return {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1', **extra}


def run_tool(args: Sequence[str], check: bool = True) -> subprocess.CompletedProcess:
    """Run ``python ARGS`` in the repository root; with ``check``, fail showing its output."""
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    if check and proc.returncode != 0:
        pytest.fail(f'{" ".join(args[:2])} exited with {proc.returncode}:\n{proc.stderr[-4000:]}')
    return proc


def train(
    config: str,
    work_dir: str,
    data_root: str,
    *options: str,
    max_iters: int = MAX_ITERS,
    resume: bool = False,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """``tools/train.py config`` with :func:`tiny_options`, ``max_iters`` and ``options``.

    Args:
        config (str): The config, relative to the repository root.
        work_dir (str): ``--work-dir``.
        data_root (str): The demo dataset.
        *options (str): More ``--cfg-options`` items (they win over the tiny ones).
        max_iters (int): ``train_cfg.max_iters``. Defaults to :data:`MAX_ITERS`.
        resume (bool): Pass ``--resume``. Defaults to False.
        check (bool): Fail the test if the tool fails. Defaults to True.

    Returns:
        subprocess.CompletedProcess: The finished process (text stdout and stderr).
    """
    args = ['tools/train.py', config, '--work-dir', work_dir] + ['--resume'] * resume
    cfg_options = tiny_options(config, data_root) + [f'train_cfg.max_iters={max_iters}']
    return run_tool(args + ['--cfg-options', *cfg_options, *options], check=check)


def trained(tmp_path_factory, name: str, config: str, data_root: str) -> Run:
    """A :data:`MAX_ITERS`-iteration run of ``config``, trained once per session."""
    work_dir = str(tmp_path_factory.getbasetemp() / 'e2e_runs' / name)
    checkpoint = osp.join(work_dir, f'iter_{MAX_ITERS}.pth')
    if not osp.isfile(checkpoint):  # written last, so a failed run is redone
        train(config, work_dir, data_root)
    return Run(work_dir, osp.join(work_dir, osp.basename(config)), checkpoint)


def run_dirs(work_dir: str) -> List[str]:
    """The timestamped folders of a work dir, one per tool invocation, oldest first."""
    return sorted(d for d in glob.glob(osp.join(work_dir, '2*')) if osp.isdir(d))


def read_scalars(run_dir: str) -> List[dict]:
    """The entries of ``run_dir/vis_data/scalars.json`` (one JSON object a line)."""
    with open(osp.join(run_dir, 'vis_data', 'scalars.json')) as f:
        return [json.loads(line) for line in f]


def read_log(run_dir: str) -> str:
    """The text log of one invocation."""
    (path,) = glob.glob(osp.join(run_dir, '*.log'))
    with open(path) as f:
        return f.read()


@pytest.fixture(scope='module')
def one_torch_thread():
    """Run a module's in-process inference on one torch thread (see :func:`tool_env`)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope='session')
def baseline_run(tmp_path_factory, demo_data_root) -> Run:
    """The supervised baseline trained for 4 iterations."""
    return trained(tmp_path_factory, 'baseline', BASELINE, demo_data_root)


@pytest.fixture(scope='session')
def farcluss_run(tmp_path_factory, demo_data_root) -> Run:
    """FARCLUSS trained for 4 iterations without interruption."""
    return trained(tmp_path_factory, 'farcluss', FARCLUSS, demo_data_root)
