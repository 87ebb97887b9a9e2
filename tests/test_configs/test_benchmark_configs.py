"""The paper's benchmark configs, and every config under configs/, against tiny datasets.

Datasets are tests/fixtures_layouts.py's VOC and Cityscapes layouts (and the generated demo data);
models are built on the ``meta`` device (no memory, no init), with pretrained weights off since
nothing can be downloaded. The schedule's formula inputs below are the published split sizes
(METHOD.md, configs/farcluss/README.md), written here independently of the generator.
"""

import copy
import functools
import importlib.util
import math
import os
import os.path as osp
import re
import shlex
import textwrap
from typing import Callable, Dict, List

import numpy as np
import pytest
import torch
from mmengine import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmengine.utils import import_modules_from_strings
from mmseg.registry import DATA_SAMPLERS, DATASETS, MODELS
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(REPO, 'configs')
init_default_scope('mmseg')


def _load(path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


layouts = _load('tests/fixtures_layouts.py', 'fixtures_layouts')
generator = _load('tools/misc/gen_benchmark_configs.py', 'gen_benchmark_configs')

ALL_CONFIGS = sorted(
    osp.relpath(osp.join(folder, name), CONFIGS)
    for folder, _, names in os.walk(CONFIGS)
    if not osp.relpath(folder, CONFIGS).startswith('_base_')
    for name in names
    if name.endswith('.py')
)
BENCHMARK = re.compile(
    r'(?P<method>farcluss_)?deeplabv3plus_(?P<backbone>r50-d16|r101-d16|convnext-t)_'
    r'(?P<gpus>\d+)xb(?P<labeled>\d+)(\+(?P<unlabeled>\d+))?-(?P<k>\d+)k_'
    r'(?P<dataset>voc-classic|voc-blended|cityscapes)-(?P<split>[\w-]+)-(?P<crop>\d+)x(?P=crop)\.py'
)
BENCHMARKS = [p for p in ALL_CONFIGS if BENCHMARK.fullmatch(osp.basename(p))]
FARCLUSS_BENCHMARKS = [p for p in BENCHMARKS if osp.basename(p).startswith('farcluss_')]

# Formula inputs: epochs (paper §4.1), train pool and labeled images of each split (published).
EPOCHS = {'voc': 80, 'cityscapes': 240}
POOL = {'voc': 10582, 'cityscapes': 2975}
LABELED = {
    ('voc-classic', '92'): 92,
    ('voc-classic', '183'): 183,
    ('voc-classic', '366'): 366,
    ('voc-classic', '732'): 732,
    ('voc-classic', '1464'): 1464,
    ('voc-blended', '1-16'): 662,
    ('voc-blended', '1-8'): 1323,
    ('voc-blended', '1-4'): 2646,
    ('voc-blended', 'u2pl-1-16'): 662,
    ('voc-blended', 'u2pl-1-8'): 1323,
    ('voc-blended', 'u2pl-1-4'): 2646,
    ('cityscapes', '1-16'): 186,
    ('cityscapes', '1-8'): 372,
    ('cityscapes', '1-4'): 744,
    ('cityscapes', '1-2'): 1488,
}


_get_cfg_path = Config._get_cfg_path


@functools.lru_cache(maxsize=None)
def _external_cfg_path(cfg_path: str):
    return _get_cfg_path(cfg_path, '')


def _cached_get_cfg_path(cfg_path: str, filename: str):
    """mmengine looks up ``mmseg::`` bases by reading mmseg's 53 metafiles, 0.2 s a config."""
    if '::' in cfg_path:
        return _external_cfg_path(cfg_path)
    return _get_cfg_path(cfg_path, filename)


@pytest.fixture(autouse=True, scope='module')
def fast_external_bases():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Config, '_get_cfg_path', staticmethod(_cached_get_cfg_path))
        yield


@functools.lru_cache(maxsize=None)
def _config(rel: str) -> Config:
    return Config.fromfile(osp.join(CONFIGS, rel))


def config(rel: str) -> Config:
    """A fresh copy of a config (the cache keeps the parsed one)."""
    return copy.deepcopy(_config(rel))


def _walk(node, fn: Callable[[dict], None]) -> None:
    if isinstance(node, dict):
        fn(node)
        for value in node.values():
            _walk(value, fn)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _walk(value, fn)


def _no_download(node: dict) -> None:
    if 'pretrained' in node:
        node['pretrained'] = None
    if isinstance(node.get('init_cfg'), dict) and node['init_cfg'].get('type') == 'Pretrained':
        node['init_cfg'] = None


def build_model(cfg: Config):
    """Build ``cfg.model`` with pretrained weights off, on the meta device where the model
    allows it (no memory, no init)."""
    model = cfg.model.to_dict()
    _walk(model, _no_download)
    import_modules_from_strings(list(cfg.get('custom_imports', {}).get('imports', [])))
    try:
        with torch.device('meta'):
            return MODELS.build(model)
    except RuntimeError as err:  # e.g. mmpretrain's ConvNeXt calls .item() when built
        if 'meta' not in str(err):
            raise
        return MODELS.build(model)


_NUM_CLASSES: Dict[str, int] = {}


def num_classes_of_model(cfg: Config) -> int:
    """Build ``cfg.model`` once per distinct model config; keep only its number of classes."""
    key = repr((cfg.model.to_dict(), cfg.get('custom_imports')))
    if key not in _NUM_CLASSES:
        model = build_model(cfg)
        segmentor = model.student if hasattr(model, 'student') else model
        _NUM_CLASSES[key] = segmentor.decode_head.num_classes
    return _NUM_CLASSES[key]


def parse(rel: str) -> Dict[str, str]:
    return BENCHMARK.fullmatch(osp.basename(rel)).groupdict()


# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def roots(tmp_path_factory, demo_data_root) -> Dict[str, str]:
    """Data roots by dataset type."""
    base = str(tmp_path_factory.mktemp('data'))
    return {
        'PascalVOCSemiDataset': layouts.make_voc(base),
        'CityscapesSemiDataset': layouts.make_cityscapes(base),
        'FarclussDemoDataset': demo_data_root,
    }


def _point_to(roots: Dict[str, str]) -> Callable[[dict], None]:
    """Point dataset configs to the fixtures (and skip mmengine's slow serialisation)."""

    def fn(node: dict) -> None:
        if 'data_root' in node:
            if node.get('type') not in roots:
                raise KeyError(f'no test fixture for dataset type {node.get("type")!r}')
            node.update(data_root=roots[node['type']], serialize_data=False)

    return fn


def _expected_len(ds: dict) -> int:
    """The fixture's size of one (leaf) dataset config."""
    ann_file = ds.get('ann_file', '')
    match = re.fullmatch(r'splits/(pascal|cityscapes)/(\w+)/(labeled|unlabeled)\.txt', ann_file)
    if match:
        name, split, part = match.groups()
        splits, pool = (
            (layouts.VOC_SPLITS, layouts.VOC_POOL)
            if name == 'pascal'
            else (layouts.CITY_SPLITS, layouts.CITY_TRAIN)
        )
        return len(splits[split]) if part == 'labeled' else len(pool) - len(splits[split])
    if ds['type'] == 'PascalVOCSemiDataset' and ann_file == 'ImageSets/Segmentation/val.txt':
        return len(layouts.VOC_VAL)
    if ds['type'] == 'CityscapesSemiDataset' and not ann_file:
        assert ds['data_prefix']['img_path'] == 'leftImg8bit/val'
        return len(layouts.CITY_VAL)
    with open(osp.join(ds['data_root'], ann_file)) as f:  # the demo data's lists
        return sum(1 for line in f if line.strip())


def _leaves(ds: dict) -> List[dict]:
    return [leaf for sub in ds['datasets'] for leaf in _leaves(sub)] if 'datasets' in ds else [ds]


# ---------------------------------------------------------------------------------------------
def test_generated_configs_and_table_are_in_sync():
    assert generator.stale_files() == []


def test_config_matrix():
    names = {osp.basename(p) for p in FARCLUSS_BENCHMARKS}
    expected = set()
    for (dataset, split), _ in LABELED.items():
        crops = {'voc-classic': (321,), 'voc-blended': (321, 513), 'cityscapes': (801,)}[dataset]
        for backbone in ('r50', 'r101'):
            for crop in crops:
                expected.add((backbone, dataset, split, crop))
    got = {
        (parse(p)['backbone'][:-4], parse(p)['dataset'], parse(p)['split'], int(parse(p)['crop']))
        for p in FARCLUSS_BENCHMARKS
        if parse(p)['backbone'] != 'convnext-t'
    }
    assert got == expected and len(expected) == 42
    assert 'farcluss_deeplabv3plus_convnext-t_4xb2+2-99k_voc-blended-1-16-321x321.py' in names
    assert len(FARCLUSS_BENCHMARKS) == 43 and len(BENCHMARKS) == 86  # + a twin each


def test_alias_is_the_r101_voc_classic_1_16_config():
    alias = config('farcluss/deeplabv3plus_r101_voc_1-16.py')
    target = config(
        'farcluss/farcluss_deeplabv3plus_r101-d16_4xb2+2-105k_voc-classic-92-321x321.py'
    )
    assert alias.to_dict() == target.to_dict()
    assert alias.model.segmentor.pretrained == 'open-mmlab://resnet101_v1c'
    assert alias.train_dataloader.dataset.datasets[0].ann_file == 'splits/pascal/92/labeled.txt'


@pytest.mark.parametrize('rel', BENCHMARKS)
def test_schedule_follows_the_formula(rel):
    cfg, name = config(rel), parse(rel)
    dataset = 'voc' if name['dataset'].startswith('voc') else 'cityscapes'
    gpus, per_gpu_u = int(name['gpus']), int(name['unlabeled'] or 2)
    assert (gpus, int(name['labeled']), per_gpu_u) == (4, 2, 2)  # the paper's 8 + 8 in total
    num_unlabeled = POOL[dataset] - LABELED[name['dataset'], name['split']]
    iters = EPOCHS[dataset] * math.ceil(num_unlabeled / (gpus * per_gpu_u))
    assert cfg.train_cfg.max_iters == iters
    assert int(name['k']) == round(iters / 1000)
    (poly,) = cfg.param_scheduler
    assert (poly.type, poly.begin, poly.end, poly.power, poly.eta_min) == (
        'PolyLR',
        0,
        iters,
        0.9,
        0,
    )
    assert poly.by_epoch is False
    assert cfg.optim_wrapper.optimizer == dict(
        type='SGD', lr=0.001, momentum=0.9, weight_decay=1e-4
    )
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys['decode_head'] == dict(lr_mult=10.0)
    per_gpu = int(name['labeled']) + (per_gpu_u if name['method'] else 0)
    assert cfg.train_dataloader.batch_size == per_gpu
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=gpus * per_gpu)
    if name['method']:
        assert cfg.train_dataloader.sampler == dict(
            type='MultiSourceSampler', batch_size=per_gpu, source_ratio=[1, 1]
        )
        assert cfg.optim_wrapper.paramwise_cfg.custom_keys['projector'] == dict(lr_mult=10.0)


@pytest.mark.parametrize('rel', FARCLUSS_BENCHMARKS)
def test_supervised_twin_has_the_same_model_labeled_data_and_iterations(rel):
    cfg = config(rel)
    twin = config(osp.join('baselines', osp.basename(rel)[9:].replace('4xb2+2', '4xb2')))
    assert twin.model.to_dict() == cfg.model.segmentor.to_dict()
    labeled, unlabeled = cfg.train_dataloader.dataset.datasets
    assert twin.train_dataloader.dataset.to_dict() == labeled.to_dict()
    assert twin.train_cfg.max_iters == cfg.train_cfg.max_iters
    assert twin.param_scheduler == cfg.param_scheduler
    split_dir = osp.dirname(labeled.ann_file)
    assert (unlabeled.ann_file, unlabeled.overlap_with) == (
        f'{split_dir}/unlabeled.txt',
        f'{split_dir}/labeled.txt',
    )
    assert unlabeled.labels == 'optional'
    assert cfg.model.type == 'FARCLUSS'
    assert cfg.custom_hooks[-1] == dict(type='MeanTeacherHook', momentum=0.01)


@pytest.mark.parametrize('rel', BENCHMARKS)
def test_split_crop_and_evaluation(rel):
    cfg, name = config(rel), parse(rel)
    crop = (int(name['crop']),) * 2
    kind, split = name['dataset'], name['split']
    datasets = _leaves(cfg.train_dataloader.dataset.to_dict())
    root = 'splits/cityscapes' if kind == 'cityscapes' else 'splits/pascal'
    assert datasets[0]['ann_file'] == f'{root}/{split.replace("-", "_")}/labeled.txt'
    for ds in datasets:
        ops = {t['type']: t for t in ds['pipeline']}
        assert ops['RandomCrop']['crop_size'] == crop
        assert ops.get('PackSemiInputs', dict(size=crop))['size'] == crop
    segmentor = cfg.model.get('segmentor', cfg.model)
    assert segmentor.data_preprocessor.size == crop == cfg.data_preprocessor.size
    if kind == 'cityscapes':
        assert cfg.data_root == 'data/cityscapes'
        assert segmentor.test_cfg == dict(mode='slide', crop_size=crop, stride=(534, 534))
        assert segmentor.decode_head.num_classes == 19
    else:
        assert cfg.data_root == 'data/VOCdevkit/VOC2012'
        assert segmentor.test_cfg == dict(mode='whole')
        assert segmentor.decode_head.num_classes == 21
        fallback = datasets[0].get('seg_map_fallback')
        assert fallback == (None if kind == 'voc-classic' else 'SegmentationClassAug')


@pytest.mark.parametrize('rel', ALL_CONFIGS)
def test_config_builds_its_model_and_datasets(rel, roots):
    cfg = config(rel)
    num_classes = num_classes_of_model(cfg)
    classes, built = [], {}
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ds_cfg = cfg[key].dataset.to_dict()
        _walk(ds_cfg, _point_to(roots))
        dataset = DATASETS.build(ds_cfg)
        leaves = _leaves(ds_cfg)
        built[key] = dataset.datasets if len(leaves) > 1 else [dataset]
        assert [len(d) for d in built[key]] == [_expected_len(d) for d in leaves]
        classes += [d.metainfo['classes'] for d in built[key]]
        if key == 'train_dataloader':
            train_set = dataset
    assert {len(c) for c in classes} == {num_classes}
    if cfg.train_dataloader.sampler.type == 'MultiSourceSampler':
        sampler = DATA_SAMPLERS.build(dict(cfg.train_dataloader.sampler, dataset=train_set))
        stream = iter(sampler)
        first = [next(stream) for _ in range(sampler.batch_size)]
        num_labeled, half = len(built['train_dataloader'][0]), sampler.batch_size // 2
        assert all(i < num_labeled for i in first[:half])
        assert all(i >= num_labeled for i in first[half:])


BACKBONES = sorted({(parse(p)['backbone'], parse(p)['dataset'][:3]) for p in FARCLUSS_BENCHMARKS})


@pytest.mark.parametrize('backbone,dataset', BACKBONES)
def test_benchmark_model_architecture(backbone, dataset):
    rel = next(
        p for p in FARCLUSS_BENCHMARKS if (parse(p)['backbone'], parse(p)['dataset'][:3]) == (
            backbone, dataset)
    )  # fmt: skip
    cfg = config(rel)
    model = build_model(cfg)
    student = model.student
    assert type(model).__name__ == 'FARCLUSS' and not student.with_auxiliary_head
    head = student.decode_head
    assert head.num_classes == (19 if dataset == 'cit' else 21)
    device = next(student.parameters()).device
    feats = student.backbone(torch.zeros(1, 3, 64, 64, device=device))
    if backbone == 'convnext-t':
        assert cfg.model.segmentor.backbone.type == 'mmpretrain.ConvNeXt'
        assert [f.shape[1:] for f in feats] == [(96, 16, 16), (192, 8, 8), (384, 4, 4), (768, 2, 2)]
        assert head.aspp_modules.dilations == (1, 3, 6, 9)
        return
    depth = int(backbone[1:-4])
    assert cfg.model.segmentor.pretrained == f'open-mmlab://resnet{depth}_v1c'
    assert student.backbone.depth == depth
    # Output stride 16: layer3 downsamples, layer4 is dilated (2) instead.
    assert [f.shape[1:] for f in feats] == [(256, 16, 16), (512, 8, 8), (1024, 4, 4), (2048, 4, 4)]
    assert student.backbone.layer4[1].conv2.dilation == (2, 2)
    assert head.aspp_modules.dilations == (1, 6, 12, 18)
    norms = {type(m).__name__ for m in student.modules() if 'Norm' in type(m).__name__}
    assert norms == {'SyncBatchNorm'}


# ---------------------------------------------------------------------------------------------
TINY_CROP = (65, 65)


def _tiny(node: dict) -> None:
    kind = node.get('type')
    if kind == 'RandomCrop':
        node['crop_size'] = TINY_CROP
    elif kind in ('PackSemiInputs', 'SegDataPreProcessor'):
        node['size'] = TINY_CROP
    elif kind in ('RandomResize', 'Resize'):
        node['scale'] = (128, 64)
    elif kind == 'EncoderDecoder' and node['test_cfg']['mode'] == 'slide':
        node['test_cfg'].update(crop_size=TINY_CROP, stride=(43, 43))


@pytest.mark.parametrize(
    'rel',
    [
        'farcluss/deeplabv3plus_r101_voc_1-16.py',
        'farcluss/farcluss_deeplabv3plus_r50-d16_4xb2+2-84k_cityscapes-1-16-801x801.py',
    ],
)
def test_one_training_iteration_on_the_fixtures(rel, roots, tmp_path):
    cfg = config(rel)
    end = cfg.param_scheduler[0].end
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        _walk(cfg[key], _point_to(roots))
    _walk(cfg.model, _no_download)
    _walk(cfg._cfg_dict, _tiny)
    seg = cfg.model.segmentor
    seg.backbone.update(depth=18, stem_channels=8, base_channels=8)
    seg.decode_head.update(in_channels=64, c1_in_channels=8, channels=16, c1_channels=8)
    cfg.train_dataloader.update(batch_size=2, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.sampler.batch_size = 2
    cfg.val_dataloader.update(num_workers=0, persistent_workers=False)
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_cfg.update(max_iters=1, val_interval=1)
    cfg.update(work_dir=str(tmp_path), log_level='ERROR', randomness=dict(seed=0))
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 1
    scalars = {k: v.current() for k, v in runner.message_hub.log_scalars.items()}
    losses = {k: v for k, v in scalars.items() if k.startswith('train/loss')}
    assert {'train/loss', 'train/loss_u', 'train/loss_c'} <= set(losses)
    assert 'train/decode.loss_ce' in scalars  # L_s under the supervised twin's key
    assert all(math.isfinite(v) for v in losses.values())
    assert 0 <= scalars['val/mIoU'] <= 100
    # After one step the poly schedule of the full run: lr * (1 - 1 / end) ** 0.9, decoder and
    # projection head at 10x.
    factor = (1 - 1 / end) ** 0.9
    lr = {id(p): g['lr'] for g in runner.optim_wrapper.param_groups for p in g['params']}
    model = runner.model
    groups = (
        (model.student.backbone, 0.001),
        (model.student.decode_head, 0.01),
        (model.projector, 0.01),
    )
    for module, base_lr in groups:
        (got,) = {lr[id(p)] for p in module.parameters()}
        assert got == pytest.approx(base_lr * factor, rel=1e-9, abs=0)


# ---------------------------------------------------------------------------------------------
README = osp.join(CONFIGS, 'farcluss', 'README.md')


def test_readme_table_holds_the_paper_headline_numbers():
    with open(README, encoding='utf-8') as f:
        text = f.read()
    rows = [line.split('|')[1:-1] for line in text.splitlines() if line.startswith('| VOC')]
    rows += [line.split('|')[1:-1] for line in text.splitlines() if line.startswith('| City')]
    assert len(rows) == 42
    by_config = {re.search(r'\]\((farcluss_[^)]+)\)', r[-1]).group(1): r for r in rows}
    assert set(by_config) == {osp.basename(p) for p in FARCLUSS_BENCHMARKS} - {
        'farcluss_deeplabv3plus_convnext-t_4xb2+2-99k_voc-blended-1-16-321x321.py'
    }
    headline = {  # METHOD.md, ResNet-101: FARCLUSS and the supervised-only number of Tables 1-3
        'r101-d16_4xb2+2-105k_voc-classic-92-321x321': ('76.4', '45.1'),
        'r101-d16_4xb2+2-99k_voc-classic-732-321x321': ('80.3', '69.7'),
        'r50-d16_4xb2+2-91k_voc-classic-1464-321x321': ('78.90', ''),
        'r101-d16_4xb2+2-99k_voc-blended-1-16-513x513': ('78.5 †', '67.5 †'),
        'r101-d16_4xb2+2-79k_voc-blended-1-4-513x513': ('79.8 †', '74.2 †'),
        'r50-d16_4xb2+2-99k_voc-blended-u2pl-1-16-321x321': ('74.9 †', '61.2 †'),
        'r101-d16_4xb2+2-84k_cityscapes-1-16-801x801': ('77.2', '66.3'),
        'r101-d16_4xb2+2-45k_cityscapes-1-2-801x801': ('81.0', '78.0'),
        'r50-d16_4xb2+2-67k_cityscapes-1-4-801x801': ('78.00', '74.14'),
    }
    for key, numbers in headline.items():
        row = by_config[f'farcluss_deeplabv3plus_{key}.py']
        assert (row[6].strip(), row[7].strip()) == numbers, key
    for section in ('## Prepare datasets', '## Your own dataset', 'github.com/LiheYoung/UniMatch'):
        assert section in text


def _readme_blocks(language: str) -> List[str]:
    with open(README, encoding='utf-8') as f:
        text = f.read()
    own = text[text.index('## Your own dataset') :]
    return [textwrap.dedent(b) for b in re.findall(rf'```{language}\n(.*?)```', own, re.S)]


def test_readme_own_dataset_recipe_runs(tmp_path):
    """The README's "Your own dataset" steps: the class, make_splits and the config."""
    class_code, config_code = _readme_blocks('python')
    if 'CracksDataset' not in DATASETS.module_dict:
        exec(class_code, {})
    root = tmp_path / 'data' / 'cracks'
    for subset, count in (('train', 32), ('val', 2)):
        for folder in ('images', 'labels'):
            os.makedirs(root / folder / subset)
        for i in range(count):
            label = np.zeros((24, 24), np.uint8)
            label[i % 24, :] = 1  # a crack
            label[0, 0] = 255
            Image.fromarray(np.full((24, 24, 3), i, np.uint8)).save(
                root / 'images' / subset / f'crack_{i:04d}.jpg'
            )
            Image.fromarray(label).save(root / 'labels' / subset / f'crack_{i:04d}.png')
    (command,) = _readme_blocks('shell')
    args = shlex.split(command.split('\n#')[0].replace('\\\n', ' '))
    assert args[:3] == ['python', 'tools/make_splits.py', 'data/cracks']
    _load('tools/make_splits.py', 'make_splits').main([str(root), *args[3:]])

    path = tmp_path / 'farcluss_cracks.py'
    path.write_text(config_code.replace("'../_base_/", f"'{CONFIGS}/_base_/"))
    cfg = Config.fromfile(str(path), import_custom_modules=False)
    assert cfg.model.segmentor.decode_head.num_classes == 2
    labeled, unlabeled = cfg.train_dataloader.dataset.datasets
    datasets = [
        DATASETS.build(dict(d.to_dict(), data_root=str(root))) for d in (labeled, unlabeled)
    ]
    assert [len(d) for d in datasets] == [2, 30]  # ceil(32 / 16) labeled
    # 24 px images rescaled to 250-1000 px (VOC's scale 500, ratio 0.5-2), cropped to <= 512:
    height, width = datasets[0][0]['inputs'].shape[-2:]
    assert 250 <= height == width <= 512
    unlabeled_inputs = datasets[1][0]['inputs']  # padded to the crop
    assert unlabeled_inputs['weak'].shape == (3, 512, 512)
    assert unlabeled_inputs['strong'].shape == (2, 3, 512, 512)
    val = DATASETS.build(dict(cfg.val_dataloader.dataset.to_dict(), data_root=str(root)))
    assert len(val) == 2 and val.metainfo['classes'] == ('background', 'crack')
    assert {tuple(t['crop_size']) for t in labeled.pipeline if t['type'] == 'RandomCrop'} == {
        (512, 512)
    }
    assert cfg.model.segmentor.data_preprocessor.size == (512, 512) == cfg.data_preprocessor.size
