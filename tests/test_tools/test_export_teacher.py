"""tools/export_teacher.py on a trained FARCLUSS checkpoint, in stock mmseg, and bad inputs."""

import importlib.util
import os
import os.path as osp
import re
import site
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.apis import inference_model, init_model
from mmseg.registry import DATASETS


def _load(path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# This folder's conftest.py as a module (pytest's importlib mode puts no test dir on sys.path).
e2e = _load(osp.join(osp.dirname(osp.abspath(__file__)), 'conftest.py'), 'e2e_helpers')
tool = _load(osp.join(e2e.REPO, 'tools', 'export_teacher.py'), 'export_teacher')
layouts = _load(osp.join(e2e.REPO, 'tests', 'fixtures_layouts.py'), 'fixtures_layouts')
pytestmark = pytest.mark.usefixtures('one_torch_thread')
IMAGE = 'demo_000048.jpg'


def _state_dict(path: str) -> dict:
    return torch.load(path, map_location='cpu', weights_only=False)['state_dict']


@pytest.fixture(scope='module')
def exported(farcluss_run, tmp_path_factory) -> str:
    """``OUT.pth`` written by the command line tool from the FARCLUSS run."""
    out = str(tmp_path_factory.mktemp('export') / 'teacher.pth')
    proc = e2e.run_tool(
        ['tools/export_teacher.py', farcluss_run.config, farcluss_run.checkpoint, out]
    )
    left_out, wrote = proc.stdout.splitlines()[-2:]
    assert wrote == f'wrote {out} and {out[:-4]}.py'
    prefix = 'left out (training-only variables with plugin types): '
    assert left_out.startswith(prefix)
    assert set(left_out[len(prefix) :].split(', ')) == {
        'labeled_dataset',
        'unlabeled_dataset',
        'unlabeled_pipeline',
        'method',
        'method_hooks',
    }
    return out


def test_export_holds_exactly_the_teacher_weights(exported, farcluss_run):
    source = _state_dict(farcluss_run.checkpoint)
    teacher = {k[len('teacher.') :]: v for k, v in source.items() if k.startswith('teacher.')}
    weights = _state_dict(exported)
    assert weights.keys() == teacher.keys()
    assert len(weights) == len([k for k in source if k.startswith('student.')]) > 0
    for name, value in weights.items():
        assert torch.equal(value, teacher[name]), name
    # Plain Python values only: stock mmengine loads with weights_only=True and no allow-list.
    meta = torch.load(exported, map_location='cpu', weights_only=True)['meta']
    assert meta['iter'] == 4
    assert (
        meta['dataset_meta']['classes'] == DATASETS.get('FarclussDemoDataset').METAINFO['classes']
    )
    assert meta['exported_from'] == dict(checkpoint=farcluss_run.checkpoint, model='teacher')
    assert 'hook_msgs' not in meta
    # Its own checksum (the source's covers other tensors), verified when the plugin loads it.
    assert meta['tensor_checksum']['tensors'] == len(weights)


def _types(obj) -> set:
    """Every ``type`` value in a nested config."""
    if isinstance(obj, dict):
        own = {obj['type']} if isinstance(obj.get('type'), str) else set()
        return own.union(*(_types(v) for v in obj.values()))
    if isinstance(obj, (list, tuple)):
        return set().union(*(_types(v) for v in obj)) if obj else set()
    return set()


def test_export_config_is_stock_mmseg(exported):
    cfg = Config.fromfile(exported[: -len('.pth')] + '.py', import_custom_modules=False)
    assert cfg.model.type == 'EncoderDecoder'
    assert cfg.model.backbone.base_channels == 8  # the trained (tiny) segmentor, not the default
    assert cfg.data_preprocessor.type == 'SegDataPreProcessor'
    for key in (
        'train_dataloader',
        'train_cfg',
        'optim_wrapper',
        'param_scheduler',
        'custom_imports',
        'custom_hooks',
        'unlabeled_dataset',
        'unlabeled_pipeline',
        'labeled_dataset',
        'train_pipeline',
        'method',
        'method_hooks',
    ):
        assert key not in cfg, key
    assert not _types(cfg.to_dict()) & set(tool.plugin_types())
    assert 'farcluss_mmseg' not in cfg.pretty_text.replace('farcluss_demo', '')
    dataset = cfg.test_dataloader.dataset
    assert (dataset.type, dataset.ann_file, dataset.img_suffix, dataset.seg_map_suffix) == (
        'BaseSegDataset',
        'splits/val.txt',
        '.jpg',
        '.png',
    )
    assert dataset.data_prefix == dict(img_path='JPEGImages', seg_map_path='SegmentationClass')
    demo_meta = DATASETS.get('FarclussDemoDataset').METAINFO
    assert tuple(dataset.metainfo.classes) == demo_meta['classes']
    assert [tuple(c) for c in dataset.metainfo.palette] == list(map(tuple, demo_meta['palette']))
    assert [t['type'] for t in cfg.test_pipeline] == [
        'LoadImageFromFile',
        'LoadAnnotations',
        'PackSegInputs',
    ]
    assert cfg.test_evaluator == dict(type='IoUMetric', iou_metrics=['mIoU'])
    assert cfg.tta_pipeline[1].transforms[2] == [dict(type='LoadAnnotations')]
    assert cfg.dataset_type == 'BaseSegDataset'


# Run in a separate interpreter with `python -S` (no .pth files: neither the plugin's editable
# install nor its start-up hook) and a `farcluss_mmseg` that fails to import first on the path.
# mmseg 1.2.2 cannot import mmcv.ops from mmcv-lite at all; the lines below stand in for the full
# mmcv's compiled extension, as a stock GPU environment has it. They come from this test, not
# from the plugin, and do nothing where a compiled mmcv._ext exists.
STOCK_SCRIPT = r"""
import importlib.machinery, importlib.util, sys, types

def _compiled_op(name):
    if name.startswith('__'):
        raise AttributeError(name)
    def op(*args, **kwargs):
        raise RuntimeError(f'test stand-in for compiled op {name}')
    return op

mmcv = importlib.util.find_spec('mmcv')
if importlib.machinery.PathFinder.find_spec('mmcv._ext', mmcv.submodule_search_locations) is None:
    ext = types.ModuleType('mmcv._ext')
    ext.__spec__ = importlib.machinery.ModuleSpec('mmcv._ext', None)
    ext.__getattr__ = _compiled_op
    sys.modules['mmcv._ext'] = ext

import numpy as np
import torch
from mmseg.apis import inference_model, init_model

try:
    import farcluss_mmseg
except ImportError as err:
    print('plugin:', err)
config, checkpoint, image, out = sys.argv[1:]
model = init_model(config, checkpoint, device='cpu')
torch.set_num_threads(1)
result = inference_model(model, image)
np.save(out, result.seg_logits.data.numpy())
print('model:', type(model).__name__, 'loaded:', sorted(m for m in sys.modules if 'farcluss' in m))
"""


def test_exported_pair_predicts_in_stock_mmseg(exported, farcluss_run, demo_data_root, tmp_path):
    fake = tmp_path / 'no_plugin' / 'farcluss_mmseg'
    fake.mkdir(parents=True)
    (fake / '__init__.py').write_text("raise ImportError('farcluss_mmseg is not installed here')\n")
    script = tmp_path / 'stock_mmseg.py'
    script.write_text(STOCK_SCRIPT)
    paths = [str(fake.parent)] + [p for p in site.getsitepackages() if osp.isdir(p)]
    image = osp.join(demo_data_root, 'JPEGImages', IMAGE)
    logits_file = str(tmp_path / 'logits.npy')
    config = exported[: -len('.pth')] + '.py'
    proc = subprocess.run(
        [sys.executable, '-S', str(script), config, exported, image, logits_file],
        cwd=str(tmp_path),
        env=e2e.tool_env(PYTHONPATH=os.pathsep.join(paths)),
        capture_output=True,
        text=True,
        timeout=e2e.TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert 'plugin: farcluss_mmseg is not installed here' in lines
    assert lines[-1] == 'model: EncoderDecoder loaded: []'

    farcluss = init_model(farcluss_run.config, farcluss_run.checkpoint, device='cpu')
    assert type(farcluss).__name__ == 'FARCLUSS' and farcluss.predict_on == 'teacher'
    theirs = inference_model(farcluss, image).seg_logits.data
    ours = torch.from_numpy(np.load(logits_file))
    assert ours.shape == theirs.shape == (8, 96, 96)
    assert torch.equal(ours.argmax(0), theirs.argmax(0))
    assert torch.equal(ours, theirs)


def test_exported_model_predicts_like_the_farcluss_teacher(exported, farcluss_run, demo_data_root):
    image = osp.join(demo_data_root, 'JPEGImages', IMAGE)
    plain = init_model(exported[: -len('.pth')] + '.py', exported, device='cpu')
    farcluss = init_model(farcluss_run.config, farcluss_run.checkpoint, device='cpu')
    assert (type(plain).__name__, type(farcluss).__name__) == ('EncoderDecoder', 'FARCLUSS')
    ours, theirs = inference_model(plain, image), inference_model(farcluss, image)
    assert torch.equal(ours.seg_logits.data, theirs.seg_logits.data)
    assert torch.equal(ours.pred_sem_seg.data, theirs.pred_sem_seg.data)


def test_export_student(farcluss_run, tmp_path):
    out = str(tmp_path / 'student.pth')
    tool.export(farcluss_run.config, farcluss_run.checkpoint, out, which='student')
    source = _state_dict(farcluss_run.checkpoint)
    weights = _state_dict(out)
    assert weights.keys() == {k[len('student.') :] for k in source if k.startswith('student.')}
    assert all(torch.equal(v, source[f'student.{k}']) for k, v in weights.items())


def test_export_bad_inputs(farcluss_run, baseline_run, tmp_path):
    out = str(tmp_path / 'out.pth')
    config = osp.join(e2e.REPO, e2e.BASELINE)
    with pytest.raises(
        ValueError,
        match=(
            rf"^{re.escape(config)}: model.type='EncoderDecoder' has no `segmentor` to export; "
            r'this tool is for mean-teacher models such as FARCLUSS\.$'
        ),
    ):
        tool.export(config, baseline_run.checkpoint, out)
    with pytest.raises(ValueError, match=r"^OUT must end with \.pth, got '.*/out\.pt'$"):
        tool.export(farcluss_run.config, farcluss_run.checkpoint, out[:-1])
    with pytest.raises(KeyError, match=r'holds no `teacher\.\*` weights: is it a checkpoint of'):
        tool.export(farcluss_run.config, baseline_run.checkpoint, out)
    assert os.listdir(tmp_path) == []  # nothing written, no temporary file left


def _copy_run(run, folder) -> tuple:
    """The run's config and checkpoint copied into ``folder`` (the tool may then be pointed
    at them as OUT without touching the session's run)."""
    folder.mkdir()
    paths = []
    for src in (run.config, run.checkpoint):
        dst = folder / osp.basename(src)
        dst.write_bytes(open(src, 'rb').read())
        paths.append(str(dst))
    return tuple(paths)


def test_export_refuses_to_write_over_its_inputs(farcluss_run, tmp_path):
    config, checkpoint = _copy_run(farcluss_run, tmp_path / 'run')
    before = {p: open(p, 'rb').read() for p in (config, checkpoint)}
    with pytest.raises(
        ValueError,
        match=rf'^OUT {re.escape(checkpoint)} is the checkpoint being exported; choose another '
        r'path for the export\.$',
    ):
        tool.export(config, checkpoint, checkpoint)
    same_stem = config[: -len('.py')] + '.pth'
    with pytest.raises(
        ValueError,
        match=rf'^OUT {re.escape(same_stem)} would write its config to {re.escape(config)}, '
        r'which is the config being exported; choose another name for the export\.$',
    ):
        tool.export(config, checkpoint, same_stem)
    # The same file by another name (a symlink) is refused too.
    link = tmp_path / 'link.pth'
    os.symlink(checkpoint, link)
    with pytest.raises(ValueError, match=r'is the checkpoint being exported'):
        tool.export(config, checkpoint, str(link))
    assert {p: open(p, 'rb').read() for p in (config, checkpoint)} == before
    assert sorted(os.listdir(tmp_path / 'run')) == sorted(map(osp.basename, before))
    # The command line says so and exits with status 1.
    proc = e2e.run_tool(['tools/export_teacher.py', config, checkpoint, checkpoint], check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f'export_teacher.py: error: OUT {checkpoint} is the checkpoint being exported; choose '
        'another path for the export.'
    )


def test_export_replaces_an_old_export_whole(farcluss_run, tmp_path):
    out = tmp_path / 'teacher.pth'
    out.write_bytes(b'an older export')
    (tmp_path / 'teacher.py').write_text('# an older config\n')
    written, _ = tool.export(farcluss_run.config, farcluss_run.checkpoint, str(out))
    assert written == [str(out), str(tmp_path / 'teacher.py')]
    assert sorted(os.listdir(tmp_path)) == ['teacher.pth', 'teacher.py']  # no temporary files
    source = _state_dict(farcluss_run.checkpoint)
    teacher = {k[len('teacher.') :] for k in source if k.startswith('teacher.')}
    assert _state_dict(str(out)).keys() == teacher
    assert Config.fromfile(str(tmp_path / 'teacher.py')).model.type == 'EncoderDecoder'


# A shipped config of each dataset family; the exported stock dataset must read the same files.
FAMILIES = {
    'voc-classic': 'farcluss_deeplabv3plus_r101-d16_4xb2+2-105k_voc-classic-92-321x321.py',
    'voc-blended': 'farcluss_deeplabv3plus_r101-d16_4xb2+2-99k_voc-blended-1-16-321x321.py',
    'cityscapes': 'farcluss_deeplabv3plus_r101-d16_4xb2+2-84k_cityscapes-1-16-801x801.py',
    'demo': osp.basename(e2e.FARCLUSS),
}


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_exported_test_dataset_reads_the_same_files(family, demo_data_root, tmp_path):
    cfg = Config.fromfile(osp.join(e2e.REPO, 'configs', 'farcluss', FAMILIES[family]))
    if family.startswith('voc'):
        data_root = layouts.make_voc(str(tmp_path))
    elif family == 'cityscapes':
        data_root = layouts.make_cityscapes(str(tmp_path))
    else:
        data_root = demo_data_root
    cfg.test_dataloader.dataset.data_root = data_root
    plain, _ = tool.plain_config(cfg)
    ours, stock = cfg.test_dataloader.dataset, plain.test_dataloader.dataset
    assert stock.type == {'demo': 'BaseSegDataset', 'cityscapes': 'CityscapesDataset'}.get(
        family, 'PascalVOCDataset'
    )
    init_default_scope('mmseg')
    ours, stock = DATASETS.build(ours), DATASETS.build(stock)
    assert type(stock).__module__.startswith('mmseg.')
    assert len(stock) == len(ours) > 0
    for a, b in zip(ours.data_list, stock.data_list):
        assert (a['img_path'], a['seg_map_path'], a['reduce_zero_label']) == (
            b['img_path'],
            b['seg_map_path'],
            b['reduce_zero_label'],
        )
    assert tuple(stock.metainfo['classes']) == tuple(ours.metainfo['classes'])
    assert [list(c) for c in stock.metainfo['palette']] == [
        list(c) for c in ours.metainfo['palette']
    ]
    sample = stock[0]['data_samples']  # the converted test pipeline loads the label
    assert sample.gt_sem_seg.data.shape[-2:] == sample.ori_shape


def test_export_names_a_plugin_type_it_cannot_convert(farcluss_run, tmp_path):
    cfg = Config.fromfile(farcluss_run.config)
    cfg.test_pipeline.insert(1, dict(type='AddValidMask'))
    with pytest.raises(
        ValueError,
        match=r"^test_pipeline\[1\] is the plugin's 'AddValidMask' \(transform registry\), which "
        r'has no stock mmseg equivalent: replace it in the config before exporting\.$',
    ):
        tool.plain_config(cfg)
