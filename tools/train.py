"""Train a segmentor: mmseg's tools/train.py command line, with the plugin loaded.

python tools/train.py CONFIG [--work-dir DIR] [--resume] [--amp] [--cfg-options k=v ...]
bash tools/dist_train.sh CONFIG NUM_PROCS [...]   # torch.distributed (nccl on GPUs, gloo on CPU)
"""

import argparse
import logging
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.runner import Runner
from mmseg.registry import RUNNERS

import farcluss_mmseg  # noqa: F401  (compat layer + registration, also for configs without it)
from farcluss_mmseg.engine.checkpoint import find_resume_checkpoint
from farcluss_mmseg.utils import setup_cpu_distributed
from farcluss_mmseg.utils.work_dir_lock import WorkDirBusyError, WorkDirLock


def parse_args():
    parser = argparse.ArgumentParser(description='Train a segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        action='store_true',
        default=False,
        help='resume from the latest checkpoint in the work_dir automatically',
    )
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training',
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, e.g. train_cfg.max_iters=100',
    )
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher',
    )
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        optim_wrapper = cfg.optim_wrapper.type
        if optim_wrapper == 'AmpOptimWrapper':
            print_log(
                'AMP training is already enabled in your config.',
                logger='current',
                level=logging.WARNING,
            )
        else:
            assert optim_wrapper == 'OptimWrapper', (
                f'`--amp` is only supported when the optimizer wrapper type is `OptimWrapper` '
                f'but got {optim_wrapper}.'
            )
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    if int(os.environ.get('RANK', '0')) == 0:
        # Held until the process ends; refuses a second run on this work_dir (rank 0 only).
        try:
            lock = WorkDirLock(cfg.work_dir).acquire()  # noqa: F841  (held while main() runs)
        except WorkDirBusyError as err:
            raise SystemExit(f'tools/train.py: {err}') from None
    cfg.resume = args.resume
    resume_notes = []
    if args.resume and cfg.get('load_from') is None:
        # mmengine trusts last_checkpoint blindly; see find_resume_checkpoint for the rules.
        cfg.load_from, resume_notes = find_resume_checkpoint(cfg.work_dir)
        # Nothing loadable: start afresh instead of letting mmengine retry last_checkpoint.
        cfg.resume = cfg.load_from is not None
    if 'find_unused_parameters' in cfg and cfg.get('model_wrapper_cfg') is not None:
        # mmengine reads the top-level key only without a model_wrapper_cfg.
        cfg.model_wrapper_cfg.find_unused_parameters = cfg.find_unused_parameters
    if args.launcher != 'none' and not torch.cuda.is_available():
        setup_cpu_distributed(cfg)  # 2 CPU processes with gloo, e.g. tools/dist_train.sh CFG 2
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    for note in resume_notes:
        runner.logger.warning(f'--resume: {note}.')
    if args.resume and cfg.load_from is not None:
        runner.logger.info(f'--resume: resuming from {cfg.load_from}.')
    runner.train()


if __name__ == '__main__':
    main()
