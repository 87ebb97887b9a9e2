"""Export the teacher (or student) of a mean-teacher checkpoint as a plain mmseg segmentor.

    python tools/export_teacher.py CONFIG CHECKPOINT OUT.pth [--model teacher|student]

Writes ``OUT.pth`` (the segmentor's weights, keys without ``teacher.``, with the checkpoint's
``meta`` so ``dataset_meta`` travels) and ``OUT.py`` (the config with ``model`` replaced by the
plain segmentor and the training-only parts removed), which mmseg's tools and APIs use like
any other checkpoint.
"""

import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.runner import CheckpointLoader

import farcluss_mmseg  # noqa: F401

TRAIN_ONLY_KEYS = ('train_dataloader', 'train_cfg', 'optim_wrapper', 'param_scheduler')


def export(config: str, checkpoint: str, out: str, which: str = 'teacher') -> None:
    """Write ``out`` (weights) and ``out`` with suffix ``.py`` (config); see the module doc."""
    if not out.endswith('.pth'):
        raise ValueError(f'OUT must end with .pth, got {out!r}')
    cfg = Config.fromfile(config)
    if 'segmentor' not in cfg.model:
        raise ValueError(
            f'{config}: model.type={cfg.model.type!r} has no `segmentor` to '
            'export; this tool is for mean-teacher models such as FARCLUSS.'
        )
    ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    state = ckpt.get('state_dict', ckpt)
    prefix = f'{which}.'
    weights = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    if not weights:
        raise KeyError(
            f'{checkpoint} holds no `{prefix}*` weights: is it a checkpoint of {config}?'
        )
    cfg.model = cfg.model.segmentor
    for key in TRAIN_ONLY_KEYS:
        cfg.pop(key, None)
    cfg.custom_hooks = [
        h for h in cfg.get('custom_hooks', []) if h.get('type') != 'MeanTeacherHook'
    ]
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    torch.save({'meta': ckpt.get('meta', {}), 'state_dict': weights}, out)
    cfg.dump(out[: -len('.pth')] + '.py')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('out', help='output checkpoint path (*.pth); the config goes beside it')
    parser.add_argument('--model', choices=['teacher', 'student'], default='teacher')
    args = parser.parse_args()
    export(args.config, args.checkpoint, args.out, args.model)
    print(f'wrote {args.out} and {args.out[:-4]}.py')


if __name__ == '__main__':
    main()
