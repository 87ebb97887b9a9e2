"""Export the teacher (or student) of a mean-teacher checkpoint as a plain mmseg model.

    python tools/export_teacher.py CONFIG CHECKPOINT OUT.pth [--model teacher|student]

Writes ``OUT.pth`` (the segmentor's weights, keys without ``teacher.``, with the checkpoint's
``dataset_meta``) and ``OUT.py``, a config of stock mmseg: the plain segmentor, the test and
TTA pipelines, the val/test dataloaders and evaluators, the runtime. Nothing in it needs this
plugin: its datasets, transforms and metric become their mmseg counterparts (below), its hooks
and ``custom_imports`` are removed, and so are the training-only parts (train dataloader and
pipelines, the unlabeled data, optimizer, schedule). ``init_model``/``inference_model``,
``MMSegInferencer`` and mmseg's ``tools/test.py`` use the pair like any mmseg checkpoint, in an
environment where ``farcluss_mmseg`` is not installed (mmseg needs a working mmcv there: the
full mmcv, since mmseg cannot import ``mmcv.ops`` from mmcv-lite on its own).

Both files are written under temporary names and renamed into place, so an interrupted export
leaves no half-written file; OUT may not name the checkpoint or the config it reads.
"""

import argparse
import copy
import inspect
import os.path as osp
from typing import Any, Dict, List, Tuple

from mmengine.config import Config
from mmengine.runner import CheckpointLoader

import farcluss_mmseg  # noqa: F401
from farcluss_mmseg.engine.checkpoint import CHECKSUM_KEY, atomic_write_text, save_checkpoint

# Keys of a training config that a plain evaluation/inference config does not need.
TRAIN_ONLY_KEYS = (
    'train_dataloader',
    'train_cfg',
    'optim_wrapper',
    'optimizer',
    'param_scheduler',
    'auto_scale_lr',
    'train_pipeline',
    'custom_imports',
    'load_from',
    'resume',
    'work_dir',
)
# Keys that mmengine's Runner and mmseg's APIs read. Any other top-level key is a variable of the
# bases (`method`, `unlabeled_pipeline`, `labeled_dataset`, ...): left out when it still holds a
# plugin type, while one of these holding a plugin type is an error.
RUNTIME_KEYS = (
    'model',
    'data_preprocessor',
    'test_pipeline',
    'tta_pipeline',
    'tta_model',
    'val_dataloader',
    'test_dataloader',
    'val_evaluator',
    'test_evaluator',
    'val_cfg',
    'test_cfg',
    'default_hooks',
    'custom_hooks',
    'env_cfg',
    'log_processor',
    'visualizer',
    'vis_backends',
    'model_wrapper_cfg',
    'randomness',
)
# The plugin's datasets as stock mmseg datasets, with the defaults the plugin class fills in
# itself (a config that leaves them out relies on them). The classes and palette go into
# `metainfo` where the stock type has none of its own.
STOCK_DATASETS: Dict[str, dict] = {
    'FarclussDemoDataset': dict(
        type='BaseSegDataset',
        img_suffix='.jpg',
        seg_map_suffix='.png',
        reduce_zero_label=False,
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
    ),
    'PascalVOCSemiDataset': dict(
        type='PascalVOCDataset',
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
    ),
    'CityscapesSemiDataset': dict(type='CityscapesDataset'),
}
# Arguments of the plugin datasets that only concern training splits.
SPLIT_ONLY_DATASET_ARGS = ('labels', 'overlap_with')
# The plugin's transforms and metric as stock ones, and the arguments only the plugin's take.
STOCK_TYPES: Dict[str, str] = {
    'LoadCheckedAnnotations': 'LoadAnnotations',
    'LoadOptionalAnnotations': 'LoadAnnotations',
    'PerClassIoUMetric': 'IoUMetric',
}
PLUGIN_ONLY_ARGS: Dict[str, tuple] = {
    'LoadCheckedAnnotations': ('num_classes', 'ignore_index'),
    'LoadOptionalAnnotations': ('num_classes', 'ignore_index'),
    'PerClassIoUMetric': (),
}


def plugin_types() -> Dict[str, str]:
    """Every type name the plugin registers in mmseg's registries, with its registry."""
    from mmengine.registry import Registry
    from mmseg import registry

    names = {}
    for reg in vars(registry).values():
        if isinstance(reg, Registry):
            for name, cls in reg.module_dict.items():
                if cls.__module__.split('.')[0] == 'farcluss_mmseg':
                    names[name] = reg.name
    return names


def _walk(obj: Any, path: str):
    """Yield ``(path, dict)`` for every dict below ``obj`` (lists and dicts, depth first)."""
    if isinstance(obj, dict):
        yield path, obj
        for key, value in obj.items():
            yield from _walk(value, f'{path}.{key}' if path else str(key))
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from _walk(value, f'{path}[{i}]')


def _stock_dataset(cfg: dict, where: str) -> dict:
    plugin_type = cfg['type']
    out = copy.deepcopy(STOCK_DATASETS[plugin_type])
    for key, value in cfg.items():  # not copied: the caller converts the pipeline in place
        if key in ('type', *SPLIT_ONLY_DATASET_ARGS):
            continue
        if key == 'seg_map_fallback':
            if value is not None:
                raise ValueError(
                    f"{where}.seg_map_fallback={value!r}: mmseg's {out['type']} has no second "
                    'label folder; point data_prefix.seg_map_path at one folder holding every '
                    'label of this split before exporting.'
                )
            continue
        out[key] = value
    if 'metainfo' not in out:
        from mmseg.registry import DATASETS

        plugin_meta = DATASETS.get(plugin_type).METAINFO
        if DATASETS.get(out['type']).METAINFO.get('classes') != plugin_meta.get('classes'):
            out['metainfo'] = dict(
                classes=list(plugin_meta['classes']),
                palette=[list(c) for c in plugin_meta['palette']],
            )
    return out


def _stock_default_hook(cfg: dict, plugin_cls: type) -> dict:
    """A plugin hook in ``default_hooks`` as its nearest stock mmengine/mmseg base class."""
    from mmseg.registry import HOOKS

    for base in plugin_cls.__mro__[1:]:
        if base.__module__.split('.')[0] != 'farcluss_mmseg' and HOOKS.get(base.__name__) is base:
            params = inspect.signature(base.__init__).parameters
            named = {
                n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            }
            return dict(type=base.__name__, **{k: v for k, v in cfg.items() if k in named})
    raise ValueError(f'default hook {cfg["type"]} has no stock base class to export it as')


def plain_config(cfg: Config) -> Tuple[Config, List[str]]:
    """The stock mmseg config for the segmentor of ``cfg`` (see the module doc).

    Args:
        cfg (Config): A mean-teacher training config (``model.segmentor`` set).

    Returns:
        tuple[Config, list[str]]: The plain config, and the top-level variables left out
        because they hold plugin types. Raises ``ValueError`` naming the key when a part of
        the config that mmseg reads uses a plugin type with no stock equivalent.
    """
    plugin = plugin_types()
    out = copy.deepcopy(cfg)
    out.model = out.model.segmentor
    for key in TRAIN_ONLY_KEYS:
        out.pop(key, None)
    if out.get('data_preprocessor') is not None:
        # mmseg's model bases keep the segmentor's preprocessor here too; mmengine's Runner
        # copies it into the model, so it must be the plain one.
        out.data_preprocessor = copy.deepcopy(out.model.data_preprocessor)
    out.custom_hooks = [h for h in out.get('custom_hooks', []) if h['type'] not in plugin]
    if not out.custom_hooks:
        out.pop('custom_hooks')
    from mmseg.registry import HOOKS

    for name, hook in list(out.get('default_hooks', {}).items()):
        if hook is not None and hook.get('type') in plugin:
            out.default_hooks[name] = _stock_default_hook(hook, HOOKS.get(hook['type']))
    if out.get('dataset_type') in STOCK_DATASETS:  # the bases' variable, kept for readers
        out.dataset_type = STOCK_DATASETS[out.dataset_type]['type']
    text_cfg = out.to_dict()

    def plugin_nodes(key: str) -> list:
        return [(w, n) for w, n in _walk(text_cfg[key], key) if n.get('type') in plugin]

    dropped = [k for k in text_cfg if k not in RUNTIME_KEYS and plugin_nodes(k)]
    for key in dropped:
        del text_cfg[key]
    for where, node in list(_walk(text_cfg, '')):
        if node.get('_scope_') == 'farcluss_mmseg':  # from a `farcluss_mmseg::` base
            node['_scope_'] = 'mmseg'
        kind = node.get('type')
        if kind in STOCK_DATASETS:
            stock = _stock_dataset(node, where)
            node.clear()
            node.update(stock)  # same child objects: the walk still reaches the pipeline
        elif kind in STOCK_TYPES:
            for arg in ('type', *PLUGIN_ONLY_ARGS[kind]):
                node.pop(arg, None)
            node['type'] = STOCK_TYPES[kind]
    for key in text_cfg:
        for where, node in plugin_nodes(key):
            raise ValueError(
                f"{where} is the plugin's {node['type']!r} ({plugin[node['type']]} registry), "
                'which has no stock mmseg equivalent: replace it in the config before exporting.'
            )
    return Config(text_cfg), dropped


def _plain_meta(obj: Any) -> Any:
    """``obj`` with numpy scalars and arrays as Python values: stock mmengine loads the file
    with torch's ``weights_only=True`` and no allow-list."""
    import numpy as np

    if isinstance(obj, dict):
        return {k: _plain_meta(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain_meta(v) for v in obj)
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.tolist()
    return obj


def _same_file(a: str, b: str) -> bool:
    return osp.realpath(a) == osp.realpath(b) or (
        osp.exists(a) and osp.exists(b) and osp.samefile(a, b)
    )


def export(config: str, checkpoint: str, out: str, which: str = 'teacher') -> List[str]:
    """Write ``out`` (weights) and ``out`` with suffix ``.py`` (config); see the module doc.

    Args:
        config (str): The mean-teacher training config.
        checkpoint (str): A checkpoint of it.
        out (str): The weights file to write, ``*.pth``; the config goes beside it.
        which (str): ``'teacher'`` or ``'student'``. Defaults to ``'teacher'``.

    Returns:
        tuple[list[str], list[str]]: The two files written, and the config's variables left out
        (see :func:`plain_config`).
    """
    if not out.endswith('.pth'):
        raise ValueError(f'OUT must end with .pth, got {out!r}')
    out_cfg = out[: -len('.pth')] + '.py'
    if _same_file(out, checkpoint):
        raise ValueError(
            f'OUT {out} is the checkpoint being exported; choose another path for the export.'
        )
    if _same_file(out_cfg, config):
        raise ValueError(
            f'OUT {out} would write its config to {out_cfg}, which is the config being '
            'exported; choose another name for the export.'
        )
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
    plain, dropped = plain_config(cfg)
    source_meta = ckpt.get('meta', {})
    # The source's checksum and hook messages describe the source file; this one gets its own
    # checksum (verified when the plugin loads it; stock mmseg ignores it).
    meta = {k: v for k, v in source_meta.items() if k not in ('hook_msgs', CHECKSUM_KEY)}
    meta['exported_from'] = dict(checkpoint=osp.abspath(checkpoint), model=which)
    payload = {'meta': _plain_meta(meta), 'state_dict': weights}
    save_checkpoint(payload, out)  # a temporary file renamed into place, as the config below
    atomic_write_text(out_cfg, plain.pretty_text)
    return [out, out_cfg], dropped


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('out', help='output checkpoint path (*.pth); the config goes beside it')
    parser.add_argument('--model', choices=['teacher', 'student'], default='teacher')
    args = parser.parse_args()
    try:
        written, dropped = export(args.config, args.checkpoint, args.out, args.model)
    except (ValueError, KeyError) as err:
        raise SystemExit(f'export_teacher.py: error: {err.args[0]}') from None
    if dropped:
        print(f'left out (training-only variables with plugin types): {", ".join(dropped)}')
    print(f'wrote {written[0]} and {written[1]}')


if __name__ == '__main__':
    main()
