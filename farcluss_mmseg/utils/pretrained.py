"""Pretrained weights named by a model: where mmengine reads them, and a clear error offline.

mmengine loads a module's ``init_cfg=dict(type='Pretrained', checkpoint=...)`` (mmseg's
``model.pretrained`` becomes the backbone's) inside ``init_weights``; offline that ends the run
with a bare ``URLError`` after the datasets were built. :func:`check_pretrained_checkpoints`
resolves every such checkpoint the way mmengine does, fetches a missing one into the same cache
(so mmengine then finds it there) and otherwise raises an error naming the file, the cache path
and the config key to change.
"""

import os
import os.path as osp
from typing import Any, List, Optional, Tuple
from urllib.parse import urlparse

import torch
from mmengine.dist import broadcast_object_list, get_dist_info
from mmengine.runner import checkpoint as mme_checkpoint
from torch import nn

__all__ = [
    'resolve_checkpoint',
    'find_pretrained',
    'find_config_keys',
    'pretrained_error',
    'check_pretrained_checkpoints',
]

PRETRAINED_TYPES = ('Pretrained', 'PretrainedInit')


def _zoo_url(checkpoint: str, scheme: str, name: str) -> str:
    """The URL that mmengine's loader of ``scheme`` reads for the model ``name``."""
    if scheme in ('open-mmlab', 'openmmlab'):
        name = mme_checkpoint.get_deprecated_model_names().get(name, name)
        urls = mme_checkpoint.get_external_models()
    elif scheme in ('torchvision', 'modelzoo'):
        urls = mme_checkpoint.get_torchvision_models()
    else:  # mmcls
        urls = mme_checkpoint.get_mmcls_models()
    if name not in urls:
        raise ValueError(
            f'pretrained checkpoint {checkpoint}: mmengine knows no model named {name!r} under '
            f'{scheme}:// (see mmengine/hub/*.json); check the spelling or give a file path'
        )
    return urls[name]


def resolve_checkpoint(checkpoint: str) -> Tuple[Optional[str], Optional[str]]:
    """Where mmengine's ``CheckpointLoader`` reads ``checkpoint`` from.

    ``open-mmlab://``, ``torchvision://`` and ``mmcls://`` names are looked up in mmengine's
    model lists; an ``http(s)://`` file is read from torch's hub cache,
    ``<torch.hub.get_dir()>/checkpoints/<file name>``, and downloaded there when missing.

    Args:
        checkpoint (str): The ``checkpoint`` of an ``init_cfg`` or a model's ``pretrained``.

    Returns:
        tuple[str | None, str | None]: ``(url, path)``: the URL it is downloaded from (None for
        a local file) and the local file read. ``(None, None)`` for other storage backends
        (``s3://``, ``pavi://``, ...), which are not checked.

    Raises:
        ValueError: If a model-zoo name is unknown to mmengine.
    """
    scheme, sep, rest = checkpoint.partition('://')
    if not sep:
        return None, checkpoint
    if scheme in ('open-mmlab', 'openmmlab', 'torchvision', 'modelzoo', 'mmcls'):
        url = _zoo_url(checkpoint, scheme, rest)
        if not url.startswith(('http://', 'https://')):
            # mmengine's own list may name a file below its home folder instead of a URL.
            return None, osp.join(mme_checkpoint._get_mmengine_home(), url)
    elif scheme in ('http', 'https'):
        url = checkpoint
    else:
        return None, None
    return url, osp.join(torch.hub.get_dir(), 'checkpoints', osp.basename(urlparse(url).path))


def find_pretrained(model: nn.Module) -> List[Tuple[str, str]]:
    """The pretrained checkpoints that ``model.init_weights()`` would load.

    Args:
        model (nn.Module): A built model (before ``init_weights``).

    Returns:
        list[tuple[str, str]]: ``(checkpoint, module names)`` once per checkpoint, in module
        order; the names are comma-separated (e.g. ``'student.backbone, teacher.backbone'``).
    """
    found: dict = {}
    for name, module in model.named_modules():
        if getattr(module, 'is_init', False):
            continue
        init_cfg = getattr(module, 'init_cfg', None)
        cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
        for cfg in cfgs:
            if isinstance(cfg, dict) and cfg.get('type') in PRETRAINED_TYPES:
                checkpoint = cfg.get('checkpoint')
                if isinstance(checkpoint, str) and checkpoint:
                    found.setdefault(checkpoint, []).append(name or '<model>')
    return [(ckpt, ', '.join(names)) for ckpt, names in found.items()]


def find_config_keys(cfg: Any, value: str, prefix: str = 'model') -> List[str]:
    """The dotted keys of ``cfg`` (as ``--cfg-options`` writes them) whose value is ``value``.

    Args:
        cfg (Any): A (nested) config dict, e.g. ``runner.cfg.model``.
        value (str): The value looked for.
        prefix (str): The key of ``cfg`` itself. Defaults to 'model'.

    Returns:
        list[str]: E.g. ``['model.segmentor.pretrained']``; list items appear as ``.0.``.
    """
    if isinstance(cfg, str):
        return [prefix] if cfg == value else []
    if isinstance(cfg, dict):
        items = cfg.items()
    elif isinstance(cfg, (list, tuple)):
        items = enumerate(cfg)
    else:
        return []
    return [key for k, v in items for key in find_config_keys(v, value, f'{prefix}.{k}')]


def _fix_hint(keys: List[str]) -> str:
    if not keys:
        return (
            "point the config key that names it (the segmentor's `pretrained`, or a module's "
            '`init_cfg.checkpoint`) at a local .pth file, or set it to None to train from scratch'
        )
    hints = []
    for key in keys:
        # A Pretrained init_cfg is switched off as a whole; `pretrained=None` is mmseg's switch.
        scratch = key.rsplit('.', 1)[0] if key.endswith('init_cfg.checkpoint') else key
        hints.append(
            f'point `{key}` at a local file (--cfg-options {key}=/path/to/file.pth), or train '
            f'from scratch with --cfg-options {scratch}=None'
        )
    return '; or '.join(hints)


def pretrained_error(
    checkpoint: str, modules: str, cfg: Any = None, prefix: str = 'model', download: bool = True
) -> Optional[str]:
    """Say why ``checkpoint`` cannot be loaded, or None when it is (or has just been) cached.

    Args:
        checkpoint (str): The checkpoint as the config names it.
        modules (str): The module(s) that load it, for the message.
        cfg (Any): The model config, to name the key that sets it. Defaults to None.
        prefix (str): The key of ``cfg``. Defaults to 'model'.
        download (bool): Fetch a missing ``http(s)`` file into the cache, as mmengine would.
            Defaults to True.

    Returns:
        str | None: The error message (three lines: what, where, how to fix).
    """
    try:
        url, path = resolve_checkpoint(checkpoint)
    except ValueError as err:
        return str(err)
    if path is None or osp.isfile(path):
        return None
    reason = 'the file does not exist'
    if url is not None:
        reason = 'it is not in the cache'
        if download:
            try:
                os.makedirs(osp.dirname(path), exist_ok=True)
                torch.hub.download_url_to_file(url, path, progress=False)
                return None
            except Exception as err:  # URLError, HTTPError, timeouts, a full disk, ...
                reason += f', and downloading {url} failed ({type(err).__name__}: {err})'
    keys = [] if cfg is None else find_config_keys(cfg, checkpoint, prefix)
    lines = [f'pretrained weights {checkpoint} (loaded by {modules}) are not available: {reason}.']
    if url is None:
        lines.append(f'Fix: {_fix_hint(keys)}.')
    else:
        lines.append(
            f'mmengine reads them from {path} (the torch hub cache, '
            '<torch.hub.get_dir()>/checkpoints; $TORCH_HOME moves it).'
        )
        lines.append(
            f'Fix: copy the file downloaded from {url} to that path, or {_fix_hint(keys)}.'
        )
    return '\n'.join(lines)


def check_pretrained_checkpoints(
    model: nn.Module, cfg: Any = None, prefix: str = 'model', download: bool = True
) -> None:
    """Raise before training when a pretrained checkpoint of ``model`` cannot be loaded.

    Call it before ``model.init_weights()``. In a distributed run rank 0 checks (and
    downloads) first and the other ranks then check their own disk, as mmengine's loader does.

    Args:
        model (nn.Module): The built model.
        cfg (Any): Its config (``runner.cfg.model``), used to name the key to change.
            Defaults to None.
        prefix (str): The key of ``cfg``. Defaults to 'model'.
        download (bool): Fetch missing ``http(s)`` files into the cache. Defaults to True.

    Raises:
        FileNotFoundError: Naming the checkpoint, the modules loading it, the local path
            mmengine reads and the config key that points at a local file or switches it off.
    """
    checkpoints = find_pretrained(model)

    def first_error() -> Optional[str]:
        for checkpoint, modules in checkpoints:
            message = pretrained_error(checkpoint, modules, cfg, prefix, download)
            if message:
                return message
        return None

    rank, world_size = get_dist_info()
    message = first_error() if rank == 0 else None
    if world_size > 1:
        shared = [message]
        broadcast_object_list(shared, src=0)
        message = shared[0]
        if message is None and rank != 0:
            message = first_error()
    if message:
        raise FileNotFoundError(message)
