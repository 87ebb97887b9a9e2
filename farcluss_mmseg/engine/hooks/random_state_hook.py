from typing import Optional

import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Save torch's random state in checkpoints and restore it on resume.

    mmengine restores weights, optimizer, schedulers and iteration on ``--resume``, and replays
    the data loader up to the saved iteration (so the data pipeline's random draws, made in the
    workers or from numpy's generator, repeat by themselves), but not the main process's torch
    generator, which draws the model's randomness (CutMix boxes, feature-perturbation masks,
    dropout). This hook stores the CPU (and CUDA) generator states when a checkpoint is saved
    and puts them back just before the first iteration after resuming, i.e. after mmengine has
    replayed the data loader, so that an interrupted and resumed run takes the same steps as an
    uninterrupted one.
    """

    priority = 'VERY_LOW'
    _KEY = 'torch_random_state'

    def __init__(self) -> None:
        self._pending: Optional[dict] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        state = {'cpu': torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state['cuda'] = torch.cuda.get_rng_state_all()
        checkpoint[self._KEY] = state

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._pending = checkpoint.get(self._KEY)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self._pending is None:
            return
        torch.set_rng_state(self._pending['cpu'])
        if 'cuda' in self._pending and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(self._pending['cuda'])
        self._pending = None
