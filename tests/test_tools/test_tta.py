"""tools/test.py --tta on the demo FARCLUSS run: mmseg's SegTTAModel over the predicting model."""

import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmseg.registry import DATASETS, MODELS


def _load_helpers():
    """This folder's conftest.py as a module (pytest's importlib mode puts no test dir on
    sys.path); its fixtures reach the tests through pytest, its functions through this."""
    spec = importlib.util.spec_from_file_location(
        'e2e_helpers', osp.join(osp.dirname(osp.abspath(__file__)), 'conftest.py')
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


e2e = _load_helpers()
pytestmark = pytest.mark.usefixtures('one_torch_thread')
NUM_AUGS = 12  # 6 scales x (no flip, flip)


def test_tools_test_tta_on_the_demo_config(farcluss_run, demo_data_root, tmp_path):
    e2e.run_tool(  # fails the test, showing stderr, if it exits non-zero
        [
            'tools/test.py',
            farcluss_run.config,
            farcluss_run.checkpoint,
            '--tta',
            '--work-dir',
            str(tmp_path),
            '--cfg-options',
            f'test_dataloader.dataset.data_root={demo_data_root}',
            'test_dataloader.dataset.indices=1',  # the first val image
        ]
    )
    (run_dir,) = e2e.run_dirs(str(tmp_path))
    log = e2e.read_log(run_dir)
    assert 'Iter(test) [1/1]' in log
    assert 'mIoU:' in log
    assert "type='TestTimeAug'" in log and "type='SegTTAModel'" in log  # the config it ran


@pytest.fixture
def tta(farcluss_run, demo_data_root):
    """The TTA model and one TTA sample, built as tools/test.py --tta builds them."""
    init_default_scope('mmseg')
    cfg = Config.fromfile(farcluss_run.config)
    cfg.tta_model.module = cfg.model
    model = MODELS.build(cfg.tta_model)
    load_checkpoint(model.module, farcluss_run.checkpoint, map_location='cpu')
    model.eval()
    dataset = dict(cfg.test_dataloader.dataset, data_root=demo_data_root, indices=1)
    dataset['pipeline'] = cfg.tta_pipeline
    sample = DATASETS.build(dataset)[0]
    return model, pseudo_collate([sample])


def _predict(model, batch) -> torch.Tensor:
    with torch.no_grad():
        (result,) = model.test_step(batch)
    return result.pred_sem_seg.data


def _boost(segmentor, cls: int) -> None:
    with torch.no_grad():
        segmentor.decode_head.conv_seg.bias[cls] += 1e4


def test_tta_runs_the_teacher(tta):
    model, batch = tta
    assert type(model.module).__name__ == 'FARCLUSS' and model.module.predict_on == 'teacher'
    assert len(batch['inputs']) == NUM_AUGS
    sizes = sorted({tuple(x[0].shape[-2:]) for x in batch['inputs']})
    assert sizes == [(48, 48), (72, 72), (96, 96), (120, 120), (144, 144), (168, 168)]
    pred = _predict(model, batch)
    assert pred.shape == (1, 96, 96)  # the original image's size
    _boost(model.module.student, 3)  # the student's change does not show
    assert torch.equal(_predict(model, batch), pred)
    _boost(model.module.teacher, 5)  # the teacher's does, in all 12 views
    assert torch.equal(_predict(model, batch), torch.full_like(pred, 5))


def test_tta_averages_the_softmax_of_the_teacher_views(tta):
    model, batch = tta
    views = [{k: list(v[i]) for k, v in batch.items()} for i in range(NUM_AUGS)]
    with torch.no_grad():
        probs = [model.module.test_step(v)[0].seg_logits.data.softmax(0) for v in views]
    expected = (sum(probs) / NUM_AUGS).argmax(0, keepdim=True)
    assert torch.equal(_predict(model, batch), expected)
