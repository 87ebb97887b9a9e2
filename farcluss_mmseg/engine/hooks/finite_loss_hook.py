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
                'stopped: lower the learning rate, check the data for bad labels, or resume '
                'from the last good checkpoint.'
            )
