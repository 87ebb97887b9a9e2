"""Refuse to run when a head's ``num_classes`` differs from the dataset's classes."""

import logging
import re
from typing import Dict, Iterator, Tuple

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import HOOKS
from torch import nn

__all__ = ['NumClassesCheckHook']


def _leaf_datasets(dataset) -> Iterator:
    """Yield the datasets inside mmengine/torch wrappers (Concat, Repeat, ClassBalanced)."""
    if hasattr(dataset, 'datasets'):
        for sub in dataset.datasets:
            yield from _leaf_datasets(sub)
    elif hasattr(dataset, 'dataset'):
        yield from _leaf_datasets(dataset.dataset)
    else:
        yield dataset


def _config_key(module_name: str) -> str:
    """``'teacher.auxiliary_head.1'`` -> ``'model.auxiliary_head[1].num_classes'``."""
    parts = module_name.split('.')
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] in ('decode_head', 'auxiliary_head'):
            parts = parts[i:]
            break
    return 'model.' + re.sub(r'\.(\d+)', r'[\1]', '.'.join(parts)) + '.num_classes'


def head_num_classes(model: nn.Module) -> Dict[str, Tuple[int, str]]:
    """Find the decode and auxiliary heads of a model.

    Args:
        model (nn.Module): The model, possibly wrapped (DDP and other mmengine wrappers).

    Returns:
        dict: ``{config key: (num_classes, module name)}`` for every ``BaseDecodeHead`` (heads
        of a teacher copy map to the same key as the student's).
    """
    if is_model_wrapper(model):
        model = model.module
    heads = {}
    for name, module in model.named_modules():
        if isinstance(module, BaseDecodeHead):
            heads.setdefault(_config_key(name), (module.num_classes, name))
    return heads


@HOOKS.register_module()
class NumClassesCheckHook(Hook):
    """Compare every head's ``num_classes`` with ``len(metainfo['classes'])`` of the data.

    Runs before training (train data and, if configured, val data), before validation and
    before testing. Each dataset inside a ``ConcatDataset`` / ``RepeatDataset`` /
    ``ClassBalancedDataset`` is checked. A mismatch raises ``ValueError`` naming both numbers,
    the dataset class and the config key to change.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        """Check the train data and, when the run validates, the val data."""
        self._check(runner.model, runner.train_dataloader.dataset, 'train')
        if runner.val_loop is not None:
            self._check(runner.model, runner.val_dataloader.dataset, 'val')

    def before_val(self, runner) -> None:
        """Check the val data."""
        self._check(runner.model, runner.val_dataloader.dataset, 'val')

    def before_test(self, runner) -> None:
        """Check the test data."""
        self._check(runner.model, runner.test_dataloader.dataset, 'test')

    @staticmethod
    def _check(model: nn.Module, dataset, split: str) -> None:
        heads = head_num_classes(model)
        if not heads:
            print_log(
                f'NumClassesCheckHook: {type(model).__name__} has no decode head; nothing to check',
                logger='current',
                level=logging.WARNING,
            )
            return
        for leaf in _leaf_datasets(dataset):
            classes = leaf.metainfo.get('classes')
            if classes is None:
                raise ValueError(
                    f'NumClassesCheckHook: the {split} dataset {type(leaf).__name__} has no '
                    "metainfo['classes']; set metainfo=dict(classes=...) in its config"
                )
            wrong = {key: v for key, v in heads.items() if v[0] != len(classes)}
            if wrong:
                found = '; '.join(f'`{k}` is {n} (module `{m}`)' for k, (n, m) in wrong.items())
                raise ValueError(
                    f'the {split} dataset {type(leaf).__name__} has {len(classes)} classes, but '
                    f'{found}. Set {" and ".join(f"`{k}`" for k in wrong)} to {len(classes)} in '
                    "the config (or fix the dataset's metainfo['classes'])"
                )
