"""Check the built runner against its config before a run, naming the key to change."""

import logging
import math
from typing import Any, Dict, List, Optional, Tuple

from mmengine.dataset import ConcatDataset as MMEConcatDataset
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop
from mmseg.registry import HOOKS
from torch.utils.data import ConcatDataset

from ...datasets.samplers import MultiSourceSampler
from ...datasets.transforms import PackSemiInputs
from ...models.data_preprocessors import SemiSegDataPreProcessor
from ...utils.pretrained import check_pretrained_checkpoints

__all__ = ['ConfigCheckHook', 'check_batch_sizes', 'check_crop_sizes', 'check_model_keys']

Size = Tuple[int, int]


def _size(value: Any) -> Optional[Size]:
    if value is None:
        return None
    if isinstance(value, int):
        return (value, value)
    return tuple(int(v) for v in value)


def check_model_keys(model_cfg: Any) -> None:
    """Refuse ``model.pretrained`` / ``model.train_cfg`` on a model built from ``segmentor``.

    A mean-teacher model takes both from ``model.segmentor``; at the top level they can only
    come from the user (``--cfg-options model.pretrained=None``) and would do nothing.

    Args:
        model_cfg (dict): ``runner.cfg.model``.

    Raises:
        ValueError: Naming the key given and the key to set instead.
    """
    if not isinstance(model_cfg, dict) or 'segmentor' not in model_cfg:
        return
    for key in ('pretrained', 'train_cfg'):
        if key in model_cfg:
            current = model_cfg['segmentor'].get(key)
            raise ValueError(
                f'model.{key}={model_cfg[key]!r} cannot take effect: {model_cfg.get("type")} '
                f'builds its student and teacher from model.segmentor; set '
                f'model.segmentor.{key} instead (now {current!r}), e.g. --cfg-options '
                f'model.segmentor.{key}=None, and remove model.{key}'
            )


def check_batch_sizes(dataloader: Any, key: str = 'train_dataloader') -> None:
    """Refuse a ``MultiSourceSampler`` whose ``batch_size`` is not the dataloader's.

    The sampler lays out its indices in chunks of its own ``batch_size``; the dataloader cuts
    them into batches of its ``batch_size``. When they differ, batches mix the sources in the
    wrong proportion and mmengine's ``pseudo_collate`` fails at the first batch that starts
    with an unlabeled sample.

    Args:
        dataloader (DataLoader): The built dataloader.
        key (str): Its config key. Defaults to 'train_dataloader'.

    Raises:
        ValueError: Naming both keys and their values.
    """
    sampler = getattr(dataloader, 'sampler', None)
    if not isinstance(sampler, MultiSourceSampler):
        return
    batch_size = dataloader.batch_size
    if batch_size != sampler.batch_size:
        raise ValueError(
            f'{key}.batch_size ({batch_size}) and {key}.sampler.batch_size '
            f'({sampler.batch_size}) differ: MultiSourceSampler fills batches of its own '
            'batch_size with the sources in the ratio source_ratio; give both keys the same '
            f'value, e.g. --cfg-options {key}.batch_size={sampler.batch_size} '
            f'{key}.sampler.batch_size={sampler.batch_size}'
        )


def _leaf_datasets(dataset: Any, key: str) -> List[Tuple[str, Any]]:
    """``(config key, dataset)`` of every dataset below concatenation / repeat wrappers."""
    if isinstance(dataset, (MMEConcatDataset, ConcatDataset)):
        return [
            leaf
            for i, child in enumerate(dataset.datasets)
            for leaf in _leaf_datasets(child, f'{key}.datasets.{i}')
        ]
    if hasattr(dataset, 'dataset') and not hasattr(dataset, 'pipeline'):
        return _leaf_datasets(dataset.dataset, f'{key}.dataset')
    return [(key, dataset)]


def _pipeline_sizes(dataset: Any, key: str) -> Tuple[bool, List[Tuple[str, Size]]]:
    """Whether the pipeline packs unlabeled samples, and its crop / pack sizes with their keys."""
    transforms = getattr(getattr(dataset, 'pipeline', None), 'transforms', [])
    unlabeled = any(isinstance(t, PackSemiInputs) for t in transforms)
    sizes = []
    for j, transform in enumerate(transforms):
        if isinstance(transform, PackSemiInputs):
            sizes.append((f'{key}.pipeline.{j}.size', _size(transform.size)))
        elif type(transform).__name__ == 'RandomCrop' and hasattr(transform, 'crop_size'):
            sizes.append((f'{key}.pipeline.{j}.crop_size', _size(transform.crop_size)))
    return unlabeled, sizes


def _preprocessor_key(cfg: Any) -> str:
    """The config key of the crop ``size`` the semi-supervised preprocessor pads to."""
    model = cfg.get('model', {})
    if 'data_preprocessor' in model:
        wrapped = model['data_preprocessor'].get('type') == 'SemiSegDataPreProcessor'
        return 'model.data_preprocessor' + ('.data_preprocessor' if wrapped else '') + '.size'
    if cfg.get('data_preprocessor') is not None:
        # mmengine's Runner gives the top-level preprocessor to a model that has none.
        return 'data_preprocessor.size'
    return 'model.segmentor.data_preprocessor.size'


def check_crop_sizes(model: Any, dataloader: Any, cfg: Any) -> None:
    """Refuse a semi-supervised run whose crop sizes differ, naming the key(s) that differ.

    Labeled and unlabeled images are forwarded as one batch, so four sizes must agree: the
    ``size`` the preprocessor pads labeled crops to, the labeled pipeline's ``RandomCrop``, the
    unlabeled pipeline's ``RandomCrop`` and its ``PackSemiInputs`` size. Nothing is checked
    unless the model has a :class:`SemiSegDataPreProcessor` and a dataset packs unlabeled
    samples.

    Args:
        model (nn.Module): The (unwrapped) model.
        dataloader (DataLoader): The built train dataloader.
        cfg (Config): The runner's config, to name the keys.

    Raises:
        ValueError: Listing every key with its size; the keys whose size differs from the
            most common one are named first.
    """
    preprocessor = getattr(model, 'data_preprocessor', None)
    if not isinstance(preprocessor, SemiSegDataPreProcessor):
        return
    entries: List[Tuple[str, Size]] = []
    size = _size(getattr(preprocessor.data_preprocessor, 'size', None))
    if size is not None:
        entries.append((_preprocessor_key(cfg), size))
    semi = False
    for key, dataset in _leaf_datasets(dataloader.dataset, 'train_dataloader.dataset'):
        unlabeled, sizes = _pipeline_sizes(dataset, key)
        semi |= unlabeled
        entries += sizes
    values = {value for _, value in entries}
    if not semi or len(values) < 2:
        return
    counts: Dict[Size, int] = {}
    for _, value in entries:
        counts[value] = counts.get(value, 0) + 1
    common = max(counts.values())
    majority = [v for v, n in counts.items() if n == common]
    listing = ', '.join(f'`{key}` = {value}' for key, value in entries)
    if len(majority) == 1:
        odd = [key for key, value in entries if value != majority[0]]
        head = (
            f'crop sizes differ: {", ".join(f"`{key}`" for key in odd)} '
            f'{"differs" if len(odd) == 1 else "differ"} from the other crop sizes '
            f'{majority[0]}; set {"it" if len(odd) == 1 else "them"} to {majority[0]} '
            '(or change the others)'
        )
    else:
        head = 'crop sizes differ; give these keys one crop size'
    raise ValueError(
        f'{head}. Labeled and unlabeled crops are forwarded as one batch, so the '
        f'preprocessor size and both pipelines must agree: {listing}'
    )


def images_drawn(num_images: int, batch_size: int, interval: int) -> int:
    """Images that mmseg's ``SegVisualizationHook(interval=interval)`` draws in one pass.

    It draws every image of each batch whose index ``i`` has ``(i + 1) % interval == 0``.

    Args:
        num_images (int): Images this process evaluates.
        batch_size (int): The dataloader's batch size.
        interval (int): The hook's interval.

    Returns:
        int: The number of images drawn.
    """
    num_batches = math.ceil(num_images / batch_size)
    return sum(
        min(batch_size, num_images - i * batch_size)
        for i in range(num_batches)
        if (i + 1) % interval == 0
    )


def _visualization_note(runner: Any, dataloader: Any, mode: str) -> Optional[str]:
    """Say how many images mmseg's ``SegVisualizationHook`` draws, when it draws one in N."""
    hook = next((h for h in runner.hooks if type(h).__name__ == 'SegVisualizationHook'), None)
    if hook is None or not getattr(hook, 'draw', False) or hook.interval <= 1:
        return None
    sampler = getattr(dataloader, 'sampler', None)
    num_images = len(sampler) if sampler is not None else len(dataloader.dataset)
    drawn = images_drawn(num_images, dataloader.batch_size or 1, hook.interval)
    return (
        f'SegVisualizationHook draws the images of every {hook.interval}th {mode} batch '
        f'(default_hooks.visualization.interval={hook.interval}): {drawn} of the {num_images} '
        f'{mode} images of this process will be drawn; to draw all of them add --cfg-options '
        'default_hooks.visualization.interval=1'
    )


@HOOKS.register_module()
class ConfigCheckHook(Hook):
    """Check the built runner against its config before anything runs.

    Before training (``before_run``, i.e. before ``init_weights`` loads pretrained weights):

    - every pretrained checkpoint the model will load is available (downloaded into mmengine's
      cache when missing, as mmengine would), else an error names the file, the cache path and
      the key to point at a local file or to switch off
      (:func:`~farcluss_mmseg.utils.pretrained.check_pretrained_checkpoints`);
    - a model built from ``model.segmentor`` has no ``model.pretrained`` / ``model.train_cfg``
      (:func:`check_model_keys`);
    - ``train_dataloader.batch_size`` equals a ``MultiSourceSampler``'s ``batch_size``
      (:func:`check_batch_sizes`);
    - the preprocessor's crop size and both pipelines' crops agree (:func:`check_crop_sizes`).

    Before testing or validating with mmseg's ``SegVisualizationHook`` drawing (``--show-dir``)
    one image in ``interval``, it logs how many images will be drawn and the key to draw all.

    Args:
        download (bool): Fetch missing pretrained files into the cache before training.
            Defaults to True.
    """

    priority = 'VERY_HIGH'

    def __init__(self, download: bool = True) -> None:
        self.download = download
        self._noted = set()

    def before_run(self, runner) -> None:
        """Run the training checks (skipped by ``runner.test()`` / ``runner.val()``)."""
        # runner.train() builds its loop before calling before_run; the public property
        # would build it here for a test run too.
        if not isinstance(runner._train_loop, BaseLoop):
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        check_model_keys(runner.cfg.get('model'))
        check_batch_sizes(runner.train_dataloader)
        check_crop_sizes(model, runner.train_dataloader, runner.cfg)
        check_pretrained_checkpoints(model, runner.cfg.get('model'), download=self.download)

    def before_test(self, runner) -> None:
        """Log how many test images mmseg's visualization hook draws."""
        self._note(runner, runner.test_dataloader, 'test')

    def before_val(self, runner) -> None:
        """Log how many val images mmseg's visualization hook draws."""
        self._note(runner, runner.val_dataloader, 'val')

    def _note(self, runner, dataloader, mode: str) -> None:
        if mode in self._noted:
            return
        self._noted.add(mode)
        note = _visualization_note(runner, dataloader, mode)
        if note:
            print_log(note, logger='current', level=logging.WARNING)
