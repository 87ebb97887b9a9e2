import glob
import math
import os
import os.path as osp
from typing import List, Optional

import numpy as np
from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.runner import BaseLoop
from mmseg.registry import HOOKS

from ..checkpoint import (
    TMP_MARK,
    CheckpointLoadError,
    add_checksum,
    atomic_write_text,
)

#: The suffix given to checkpoints saved after the last good one when training diverges.
DIVERGED_SUFFIX = '.diverged'


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` that never leaves a run without a good checkpoint.

    The same arguments and files as ``CheckpointHook``, with four differences:

    * **Atomic saves.** A checkpoint is written to a temporary file in the same directory,
      flushed to disk and renamed; ``last_checkpoint`` is rewritten (atomically too) only after
      that, and older checkpoints are deleted only then. A kill or a full disk during a save
      leaves the previous checkpoint and a ``last_checkpoint`` naming it. Applies to local
      ``out_dir`` s; other storage keeps mmengine's backend.
    * **The last good checkpoint is kept.** A checkpoint saved after iteration ``k`` becomes
      *good* when iteration ``k + 1``, the first one computed from the saved weights, has every
      loss finite and a total loss at most ``max_loss_jump`` times the median total loss of the
      ``loss_window`` iterations up to ``k``. The good checkpoint is kept even when
      ``max_keep_ckpts`` would delete it, until a newer one is good. When training stops on a
      NaN (``FiniteLossHook``) :meth:`set_aside_diverged` renames the checkpoints saved after it
      to ``*.pth.diverged`` and points ``last_checkpoint`` at it. When training ends normally
      the final checkpoint (its own losses were finite) becomes the good one.
    * **A checksum** of every tensor goes into ``meta`` (see
      :func:`farcluss_mmseg.engine.checkpoint.tensor_checksum`); every local load verifies it.
    * **Loads that fill nothing are errors.** A checkpoint that has none of the model's weights
      (a file for another model, weights under an unexpected key) is refused when loaded by
      the runner; for testing, every weight of the model must come from it.

    Its priority is ``LOWEST`` (mmengine's is ``VERY_LOW``) so that the checksum is taken after
    every other hook has added its part to the checkpoint (``RandomStateHook``).

    Args:
        max_loss_jump (float): See above. Defaults to 10.
        loss_window (int): See above. Defaults to 50.
        **kwargs: ``CheckpointHook``'s arguments.
    """

    priority = 'LOWEST'

    def __init__(self, *args, max_loss_jump: float = 10.0, loss_window: int = 50, **kwargs):
        super().__init__(*args, **kwargs)
        if max_loss_jump <= 1:
            raise ValueError(
                f'default_hooks.checkpoint.max_loss_jump must be > 1, got {max_loss_jump}'
            )
        self.max_loss_jump = max_loss_jump
        self.loss_window = loss_window
        self._good: Optional[int] = None  # step of the last good checkpoint
        self._pending: Optional[List[int]] = None  # [step, iterations done] awaiting its check
        self._stale: List[int] = []  # steps whose files wait for deletion
        self._unconfirmed: List[int] = []  # steps saved by this process after the good one

    # --- set-up --------------------------------------------------------------------------------
    def before_train(self, runner) -> None:
        out_dir = self.out_dir if self.out_dir is not None else runner.work_dir
        local = '://' not in str(out_dir)
        if local and self.backend_args is None and self.file_client_args is None:
            self.backend_args = dict(backend='farcluss_local_atomic')
        super().before_train(runner)
        hub = runner.message_hub
        self._good = hub.get_info('good_ckpt_step')
        self._pending = hub.get_info('pending_ckpt')
        self._stale = list(hub.get_info('stale_ckpt_steps') or [])
        self._unconfirmed = [self._pending[0]] if self._pending else []
        if local and is_main_process():
            # A kill during a save leaves its temporary file; the work_dir lock of
            # tools/train.py guarantees no other run is writing one now.
            for tmp in glob.glob(osp.join(self.out_dir, f'.*.pth{TMP_MARK}*')):
                os.remove(tmp)
                runner.logger.info(f'Removed {tmp}, left by a save that was interrupted.')

    # --- deciding what is good -----------------------------------------------------------------
    def _loss_ok(self, runner, outputs: Optional[dict]) -> Optional[str]:
        """None if this iteration's losses confirm the pending checkpoint, else why not."""
        hub = runner.message_hub
        for name in outputs or {}:
            if 'loss' in name:
                value = hub.get_scalar(f'train/{name}').current()
                if not math.isfinite(value):
                    return f'{name} is {value}'
        if 'train/loss' not in hub.log_scalars:
            return None
        history = hub.get_scalar('train/loss').data[0]
        if len(history) < 2:
            return None
        current = float(history[-1])
        before = history[-self.loss_window - 1 : -1]
        # The median, not the maximum: a loss growing a few times a step must not raise the bar.
        reference = float(np.median(before))
        if current > self.max_loss_jump * reference:
            return (
                f'the loss {current:.4g} is more than {self.max_loss_jump:g} times the median of '
                f'the {len(before)} iterations before ({reference:.4g})'
            )
        return None

    def _path(self, step: int) -> str:
        return self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(step))

    def _sync_info(self, runner) -> None:
        hub = runner.message_hub
        hub.update_info('good_ckpt_step', self._good)
        hub.update_info('pending_ckpt', self._pending)
        hub.update_info('stale_ckpt_steps', list(self._stale))

    def _remove_stale(self) -> None:
        if self.max_keep_ckpts <= 0:  # keep every checkpoint
            self._stale = []
            return
        keep = set(self.keep_ckpt_ids)
        remaining = []
        for step in self._stale:
            if step in keep:
                continue
            if step == self._good:
                remaining.append(step)
                continue
            if is_main_process():
                path = self._path(step)
                if self.file_backend.isfile(path):
                    self.file_backend.remove(path)
        self._stale = remaining

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self._pending is not None and runner.iter + 1 > self._pending[1]:
            step = self._pending[0]
            problem = self._loss_ok(runner, outputs)
            if problem is None:
                if self._good is not None and self._good != step:
                    self._stale.append(self._good)
                self._good = step
                self._unconfirmed = [s for s in self._unconfirmed if s > step]
                self._remove_stale()
            else:
                good = self._path(self._good) if self._good is not None else 'none yet'
                runner.logger.warning(
                    f'{self._path(step)} is not marked good: at iteration {runner.iter + 1}, '
                    f'the first computed from its weights, {problem}. The last good '
                    f'checkpoint stays: {good}.'
                )
            self._pending = None
            self._sync_info(runner)
        super().after_train_iter(runner, batch_idx, data_batch, outputs)

    def after_train(self, runner) -> None:
        # Training ended normally: the final checkpoint has no next iteration to confirm it, and
        # its own losses were finite, so it replaces the last good one.
        if self._pending is not None:
            if self._good is not None and self._good != self._pending[0]:
                self._stale.append(self._good)
            self._good, self._pending, self._unconfirmed = self._pending[0], None, []
            self._remove_stale()
            self._sync_info(runner)
        super().after_train(runner)

    # --- saving ----------------------------------------------------------------------------------
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        add_checksum(checkpoint)

    def _save_checkpoint_with_step(self, runner, step, meta):
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                # Deleted after the new checkpoint is complete, and never while it is the good one.
                self._stale.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        self.last_ckpt = self._path(step)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        iters_done = meta['iter'] if 'iter' in meta else runner.iter + 1
        self._unconfirmed.append(step)
        self._pending = [step, iters_done]
        self._sync_info(runner)  # inside the checkpoint, so that a resume keeps checking it
        runner.save_checkpoint(
            self.out_dir,
            self.filename_tmpl.format(step),
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args,
        )
        if not is_main_process():
            return
        atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        self._remove_stale()
        runner.message_hub.update_info('stale_ckpt_steps', list(self._stale))

    # --- divergence ------------------------------------------------------------------------------
    def set_aside_diverged(self, runner) -> Optional[str]:
        """Rename the checkpoints saved after the last good one and point ``last_checkpoint``
        at the good one (or remove it when there is none). Call it when training diverged.

        Returns:
            str or None: The last good checkpoint.
        """
        good = self._path(self._good) if self._good is not None else None
        if not is_main_process():
            return good
        saved = set(getattr(self, 'keep_ckpt_ids', [])) | set(self._stale) | set(self._unconfirmed)
        for step in sorted(saved):
            if self._good is None or step > self._good:
                path = self._path(step)
                if self.file_backend.isfile(path):
                    os.replace(path, path + DIVERGED_SUFFIX)
                    runner.logger.warning(
                        f'{path} was saved after the last good checkpoint: renamed to '
                        f'{path}{DIVERGED_SUFFIX}.'
                    )
        record = osp.join(runner.work_dir, 'last_checkpoint')
        if good is not None:
            atomic_write_text(record, good)
        elif osp.exists(record):
            os.remove(record)
        return good

    # --- loading ---------------------------------------------------------------------------------
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        wrapped = is_model_wrapper(runner.model) or isinstance(runner.model, BaseTTAModel)
        model = runner.model.module if wrapped else runner.model  # as mmengine's loader unwraps
        state = checkpoint.get('state_dict', checkpoint)
        state = {k[len('module.') :] if k.startswith('module.') else k: v for k, v in state.items()}
        # A trial load (mmengine loads the same weights right after) so that models that rename
        # keys on loading (a plain segmentor into a mean teacher) are judged on the result.
        filename = runner.cfg.get('load_from') or 'the checkpoint'
        # Runner.test() and val() load before building a train loop, train() after.
        testing = not isinstance(getattr(runner, '_train_loop', None), BaseLoop)
        try:
            result = model.load_state_dict(state, strict=False)
        except RuntimeError as err:  # shapes differ: mmengine skips those weights with a warning
            if testing:
                raise CheckpointLoadError(
                    f'{filename} does not fit the model: {str(err).splitlines()[-1].strip()}'
                ) from err
            return
        # torch fills a missing BN `num_batches_tracked` with 0 and does not report it.
        expected = sum(not k.endswith('num_batches_tracked') for k in model.state_dict())
        missing = list(result.missing_keys)
        if len(missing) == expected or (testing and missing):
            unexpected = list(result.unexpected_keys)
            raise CheckpointLoadError(
                f'{filename} does not fit the model: {len(missing)} of its {expected} weights '
                f'are not in the file (e.g. {missing[:3]}), {len(unexpected)} keys of the file '
                f'are not in the model (e.g. {unexpected[:3]}). It was saved for another model '
                'or config; check the config and checkpoint belong together.'
            )
