"""tools/export_teacher.py on a trained FARCLUSS checkpoint, and its bad inputs."""

import importlib.util
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmseg.apis import inference_model, init_model


def _load(path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# This folder's conftest.py as a module (pytest's importlib mode puts no test dir on sys.path).
e2e = _load(osp.join(osp.dirname(osp.abspath(__file__)), 'conftest.py'), 'e2e_helpers')
tool = _load(osp.join(e2e.REPO, 'tools', 'export_teacher.py'), 'export_teacher')
pytestmark = pytest.mark.usefixtures('one_torch_thread')


def _state_dict(path: str) -> dict:
    return torch.load(path, map_location='cpu', weights_only=False)['state_dict']


@pytest.fixture(scope='module')
def exported(farcluss_run, tmp_path_factory) -> str:
    """``OUT.pth`` written by the command line tool from the FARCLUSS run."""
    out = str(tmp_path_factory.mktemp('export') / 'teacher.pth')
    proc = e2e.run_tool(
        ['tools/export_teacher.py', farcluss_run.config, farcluss_run.checkpoint, out]
    )
    assert proc.stdout.splitlines()[-1] == f'wrote {out} and {out[:-4]}.py'
    return out


def test_export_holds_exactly_the_teacher_weights(exported, farcluss_run):
    source = _state_dict(farcluss_run.checkpoint)
    teacher = {k[len('teacher.') :]: v for k, v in source.items() if k.startswith('teacher.')}
    weights = _state_dict(exported)
    assert weights.keys() == teacher.keys()
    assert len(weights) == len([k for k in source if k.startswith('student.')]) > 0
    for name, value in weights.items():
        assert torch.equal(value, teacher[name]), name
    meta = torch.load(exported, map_location='cpu', weights_only=False)['meta']
    assert meta['iter'] == 4
    assert meta['dataset_meta']['classes'] == e2e.CLASSES


def test_export_config_is_a_plain_segmentor(exported):
    cfg = Config.fromfile(exported[: -len('.pth')] + '.py')
    assert cfg.model.type == 'EncoderDecoder'
    assert cfg.model.backbone.base_channels == 8  # the trained (tiny) segmentor, not the default
    for key in ('train_dataloader', 'train_cfg', 'optim_wrapper', 'param_scheduler'):
        assert key not in cfg
    assert [h['type'] for h in cfg.custom_hooks] == [
        'FiniteLossHook',
        'NumClassesCheckHook',
        'RandomStateHook',
    ]


def test_exported_model_predicts_like_the_farcluss_teacher(exported, farcluss_run, demo_data_root):
    image = osp.join(demo_data_root, 'JPEGImages', 'demo_000048.jpg')
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
    assert not osp.exists(out) and not osp.exists(out[:-4] + '.py')
