import math
from typing import Optional

from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stop training with a clear error as soon as a loss is NaN or infinite.

    It reads the loss values the model returned for the log, after mmengine's
    ``RuntimeInfoHook`` has already copied them to the host, so it adds no synchronisation. Its
    priority is above ``MeanTeacherHook``'s so that a broken student is never averaged into the
    teacher. Works for any model and under DDP (it does not rely on the model's ``train_step``).
    """

    priority = 'VERY_HIGH'

    def after_train_iter(
        self,
        runner,
        batch_idx: int,
        data_batch: Optional[dict] = None,
        outputs: Optional[dict] = None,
    ) -> None:
        bad = {}
        for name in outputs or {}:
            if 'loss' in name:
                # RuntimeInfoHook (same priority, registered first) has already copied the
                # value to the host; reading it back costs no synchronisation.
                value = runner.message_hub.get_scalar(f'train/{name}').current()
                if not math.isfinite(value):
                    bad[name] = float(value)
        if bad:
            raise FloatingPointError(
                f'{", ".join(bad)} became {bad} at iteration {runner.iter + 1}. Training '
                'stopped: lower the learning rate or check the data for bad labels. '
                + self._where_to_resume(runner)
            )

    @staticmethod
    def _where_to_resume(runner) -> str:
        """Set aside the checkpoints saved after the last good one and name it."""
        from .safe_checkpoint_hook import SafeCheckpointHook

        hook = next((h for h in runner.hooks if isinstance(h, SafeCheckpointHook)), None)
        if hook is None:
            return 'Resume from a checkpoint saved before the losses grew.'
        good = hook.set_aside_diverged(runner)
        if good is None:
            return (
                'No checkpoint of this run passed the check (finite losses at its iteration and '
                'the next, no jump): start again with a lower learning rate.'
            )
        return (
            f'The last good checkpoint (finite losses at its iteration and the next, no jump) '
            f'is {good}; `tools/train.py --resume` continues from it (with the same settings it '
            'will diverge again).'
        )
