"""ConfigCheckHook: crop sizes, batch sizes, model keys and pretrained files checked before a
run, each error naming the config key; the --show-dir drawing count logged before a test."""

import argparse
import copy
import glob
import importlib.util
import os.path as osp
import re
from types import SimpleNamespace

import pytest
from mmengine.config import Config, DictAction
from mmengine.dataset import ConcatDataset
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmseg.registry import DATASETS, MODELS
from torch.utils.data import DataLoader

from farcluss_mmseg.datasets.samplers import MultiSourceSampler
from farcluss_mmseg.engine.hooks.config_check_hook import (
    check_batch_sizes,
    check_crop_sizes,
    check_model_keys,
    images_drawn,
)

init_default_scope('mmseg')

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO_DATA = osp.join(REPO, 'configs', '_base_', 'datasets', 'farcluss_demo.py')


def _e2e():
    """tests/test_tools/conftest.py: the demo configs and their tiny --cfg-options."""
    path = osp.join(REPO, 'tests', 'test_tools', 'conftest.py')
    spec = importlib.util.spec_from_file_location('e2e_helpers', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


e2e = _e2e()


# ----- crop sizes -----


def _set_size(pipeline, kind, size):
    for step in pipeline:
        if step['type'] == kind:
            step['crop_size' if kind == 'RandomCrop' else 'size'] = size


@pytest.fixture
def semi_parts(demo_data_root):
    """Factory: (model, dataloader, cfg) of a semi-supervised demo setup with given sizes."""

    def make(pre=(96, 96), labeled=(96, 96), unlabeled=(96, 96), pack=(96, 96), where='top'):
        data = Config.fromfile(DEMO_DATA)
        datasets = []
        for part, crops in (('labeled', (labeled,)), ('unlabeled', (unlabeled, pack))):
            ds = copy.deepcopy(data[f'{part}_dataset'])
            ds['data_root'] = demo_data_root
            _set_size(ds['pipeline'], 'RandomCrop', crops[0])
            if len(crops) > 1:
                _set_size(ds['pipeline'], 'PackSemiInputs', crops[1])
            datasets.append(DATASETS.build(ds))
        preprocessor = dict(type='SegDataPreProcessor', size=pre, bgr_to_rgb=True)
        model = SimpleNamespace(
            data_preprocessor=MODELS.build(
                dict(type='SemiSegDataPreProcessor', data_preprocessor=preprocessor)
            )
        )
        cfg = Config(dict(model=dict(type='FARCLUSS', segmentor=dict())))
        if where == 'top':
            cfg.data_preprocessor = preprocessor
        elif where == 'model':
            cfg.model.data_preprocessor = preprocessor
        loader = SimpleNamespace(dataset=ConcatDataset(datasets))
        return model, loader, cfg

    return make


def test_equal_crop_sizes_pass(semi_parts):
    check_crop_sizes(*semi_parts())


def test_preprocessor_size_left_behind_is_named(semi_parts):
    # The user's step: both pipelines' crops changed, the top-level data_preprocessor.size not.
    model, loader, cfg = semi_parts(labeled=(80, 80), unlabeled=(80, 80), pack=(80, 80))
    key = 'train_dataloader.dataset.datasets'
    expected = (
        'crop sizes differ: `data_preprocessor.size` differs from the other crop sizes (80, 80); '
        'set it to (80, 80) (or change the others). Labeled and unlabeled crops are forwarded as '
        'one batch, so the preprocessor size and both pipelines must agree: '
        f'`data_preprocessor.size` = (96, 96), `{key}.0.pipeline.3.crop_size` = (80, 80), '
        f'`{key}.1.pipeline.4.crop_size` = (80, 80), `{key}.1.pipeline.7.size` = (80, 80)'
    )
    with pytest.raises(ValueError) as info:
        check_crop_sizes(model, loader, cfg)
    assert str(info.value) == expected


@pytest.mark.parametrize(
    'where, key',
    [
        ('model', 'model.data_preprocessor.size'),
        ('segmentor', 'model.segmentor.data_preprocessor.size'),
    ],
)
def test_preprocessor_key_follows_the_config(semi_parts, where, key):
    model, loader, cfg = semi_parts(pre=(64, 64), where=where)
    with pytest.raises(ValueError, match=re.escape(f'crop sizes differ: `{key}` differs from')):
        check_crop_sizes(model, loader, cfg)


def test_one_pipeline_key_that_differs_is_named(semi_parts):
    model, loader, cfg = semi_parts(pack=(97, 96))
    key = 'train_dataloader.dataset.datasets.1.pipeline.7.size'
    message = f'crop sizes differ: `{key}` differs from the other crop sizes (96, 96); set it to'
    with pytest.raises(ValueError, match=re.escape(message)):
        check_crop_sizes(model, loader, cfg)
    model, loader, cfg = semi_parts(pre=(80, 80), labeled=(80, 80))
    with pytest.raises(ValueError, match=re.escape('crop sizes differ; give these keys one crop')):
        check_crop_sizes(model, loader, cfg)  # two against two: no majority


def test_supervised_model_is_not_checked(semi_parts):
    _, loader, cfg = semi_parts(pack=(80, 80))
    check_crop_sizes(SimpleNamespace(data_preprocessor=None), loader, cfg)


# ----- batch sizes -----


def test_batch_size_keys_must_agree(demo_data_root):
    data = Config.fromfile(DEMO_DATA)
    sources = []
    for part in ('labeled', 'unlabeled'):
        sources.append(DATASETS.build(dict(data[f'{part}_dataset'], data_root=demo_data_root)))
    dataset = ConcatDataset(sources)
    sampler = MultiSourceSampler(dataset, batch_size=6, source_ratio=[1, 1], seed=0)
    expected = (
        'train_dataloader.batch_size (4) and train_dataloader.sampler.batch_size (6) differ: '
        'MultiSourceSampler fills batches of its own batch_size with the sources in the ratio '
        'source_ratio; give both keys the same value, e.g. --cfg-options '
        'train_dataloader.batch_size=6 train_dataloader.sampler.batch_size=6'
    )
    with pytest.raises(ValueError) as info:
        check_batch_sizes(DataLoader(dataset, batch_size=4, sampler=sampler))
    assert str(info.value) == expected
    check_batch_sizes(DataLoader(dataset, batch_size=6, sampler=sampler))
    check_batch_sizes(DataLoader(dataset, batch_size=4))  # not a MultiSourceSampler


# ----- model keys -----


def test_top_level_pretrained_of_a_mean_teacher_model_is_refused():
    model = dict(type='FARCLUSS', segmentor=dict(pretrained='open-mmlab://resnet101_v1c'))
    expected = (
        'model.pretrained=None cannot take effect: FARCLUSS builds its student and teacher from '
        "model.segmentor; set model.segmentor.pretrained instead (now 'open-mmlab://resnet101_"
        "v1c'), e.g. --cfg-options model.segmentor.pretrained=None, and remove model.pretrained"
    )
    with pytest.raises(ValueError) as info:
        check_model_keys(dict(model, pretrained=None))
    assert str(info.value) == expected
    with pytest.raises(ValueError, match=r'^model.train_cfg=\{\} cannot take effect'):
        check_model_keys(dict(model, train_cfg=dict()))
    check_model_keys(model)
    check_model_keys(dict(type='EncoderDecoder', pretrained=None))  # mmseg's own key


# ----- through mmengine's Runner, as tools/train.py and tools/test.py run it -----


def _baseline_cfg(data_root, work_dir, *options):
    """The demo baseline made tiny, with ConfigCheckHook, as ``--cfg-options`` would merge it."""
    cfg = Config.fromfile(osp.join(REPO, e2e.BASELINE))
    items = [*e2e.tiny_options(e2e.BASELINE, data_root), 'train_cfg.max_iters=1', *options]
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    cfg.merge_from_dict(parser.parse_args(['--cfg-options', *items]).cfg_options)
    if not any(h['type'] == 'ConfigCheckHook' for h in cfg.custom_hooks):
        cfg.custom_hooks = [*cfg.custom_hooks, dict(type='ConfigCheckHook')]
    cfg.work_dir = str(work_dir)
    # mmengine keeps one visualizer per name and process: a fresh one for this work dir.
    cfg.visualizer.name = f'visualizer_{work_dir}'
    return cfg


def test_train_stops_before_init_weights_on_a_missing_pretrained_file(
    demo_data_root, tmp_path, monkeypatch
):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    url = 'http://127.0.0.1:9/resnet18_v1c-tiny.pth'  # nothing listens: fails like offline
    cfg = _baseline_cfg(demo_data_root, tmp_path / 'work', f'model.pretrained={url}')
    runner = Runner.from_cfg(cfg)
    with pytest.raises(FileNotFoundError) as info:
        runner.train()
    lines = str(info.value).splitlines()
    assert lines[0].startswith(f'pretrained weights {url} (loaded by backbone) are not available')
    cached = tmp_path / 'torch' / 'hub' / 'checkpoints' / 'resnet18_v1c-tiny.pth'
    assert lines[1].startswith(f'mmengine reads them from {cached} (the torch hub cache')
    assert lines[2].endswith('train from scratch with --cfg-options model.pretrained=None.')
    assert not runner.model.backbone.is_init  # stopped before init_weights
    assert glob.glob(str(tmp_path / 'work' / '*.pth')) == []


def test_show_dir_drawing_count_is_logged(demo_data_root, tmp_path):
    # tools/test.py --show-dir sets draw=True; mmseg's hook then draws one batch in 5 here.
    cfg = _baseline_cfg(demo_data_root, tmp_path / 'work')
    cfg.default_hooks.visualization.update(draw=True, interval=5)
    runner = Runner.from_cfg(cfg)
    runner.test()
    (log,) = glob.glob(str(tmp_path / 'work' / '*' / '*.log'))
    with open(log) as f:
        text = f.read()
    assert (
        'SegVisualizationHook draws the images of every 5th test batch '
        '(default_hooks.visualization.interval=5): 3 of the 16 test images of this process will '
        'be drawn; to draw all of them add --cfg-options default_hooks.visualization.interval=1'
    ) in text
    assert len(glob.glob(str(tmp_path / 'work' / '*' / 'vis_data' / 'vis_image' / '*'))) == 3


def test_images_drawn_counts_every_nth_batch():
    assert images_drawn(120, 1, 50) == 2  # the demo val set with mmseg's default interval
    assert images_drawn(16, 1, 5) == 3
    assert images_drawn(10, 4, 3) == 2  # batches of 4, 4, 2: the third (2 images)
    assert images_drawn(10, 4, 1) == 10


def _farcluss_cfg(data_root, work_dir, *options):
    cfg = Config.fromfile(osp.join(REPO, e2e.FARCLUSS))
    items = [*e2e.tiny_options(e2e.FARCLUSS, data_root), 'train_cfg.max_iters=1', *options]
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    cfg.merge_from_dict(parser.parse_args(['--cfg-options', *items]).cfg_options)
    if not any(h['type'] == 'ConfigCheckHook' for h in cfg.custom_hooks):
        cfg.custom_hooks = [*cfg.custom_hooks, dict(type='ConfigCheckHook')]
    cfg.work_dir = str(work_dir)
    cfg.visualizer.name = f'visualizer_{work_dir}'
    return cfg


def test_farcluss_run_refuses_model_pretrained(demo_data_root, tmp_path):
    cfg = _farcluss_cfg(demo_data_root, tmp_path, 'model.pretrained=None')
    runner = Runner.from_cfg(cfg)  # builds: init_model writes the same None into any model
    with pytest.raises(ValueError, match=r'^model.pretrained=None cannot take effect: FARCLUSS '):
        runner.train()


def test_farcluss_run_names_the_preprocessor_size_left_behind(demo_data_root, tmp_path):
    cfg = Config.fromfile(osp.join(REPO, e2e.FARCLUSS))
    keys = []
    for i, dataset in enumerate(cfg.train_dataloader.dataset.datasets):
        for j, step in enumerate(dataset.pipeline):
            if step['type'] in ('RandomCrop', 'PackSemiInputs'):
                name = 'crop_size' if step['type'] == 'RandomCrop' else 'size'
                keys.append(f'train_dataloader.dataset.datasets.{i}.pipeline.{j}.{name}')
    assert len(keys) == 3  # labeled crop, unlabeled crop, unlabeled packing
    cfg = _farcluss_cfg(demo_data_root, tmp_path, *(f'{key}=(80,80)' for key in keys))
    listing = ', '.join(f'`{key}` = (80, 80)' for key in keys)
    expected = (
        'crop sizes differ: `data_preprocessor.size` differs from the other crop sizes (80, 80); '
        'set it to (80, 80) (or change the others). Labeled and unlabeled crops are forwarded as '
        'one batch, so the preprocessor size and both pipelines must agree: '
        f'`data_preprocessor.size` = (96, 96), {listing}'
    )
    with pytest.raises(ValueError) as info:
        Runner.from_cfg(cfg).train()
    assert str(info.value) == expected
