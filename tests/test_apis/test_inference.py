"""mmseg's inference APIs (init_model, inference_model, MMSegInferencer) on trained checkpoints."""

import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmseg.apis import MMSegInferencer, inference_model, init_model
from PIL import Image


def _load_helpers():
    """tests/test_tools/conftest.py, which trains each demo run once per session."""
    path = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'test_tools', 'conftest.py')
    spec = importlib.util.spec_from_file_location('e2e_helpers', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


e2e = _load_helpers()
# Its fixtures, registered here: the runs are trained once per session whichever module asks.
baseline_run, farcluss_run, one_torch_thread = (
    e2e.baseline_run,
    e2e.farcluss_run,
    e2e.one_torch_thread,
)
pytestmark = pytest.mark.usefixtures('one_torch_thread')
NUM_CLASSES = len(e2e.CLASSES)


@pytest.fixture(scope='module')
def image(demo_data_root, tmp_path_factory) -> str:
    """A val image resized to 72x120 (H x W): not the 96x96 training crop, not square."""
    src = Image.open(osp.join(demo_data_root, 'JPEGImages', 'demo_000048.jpg'))
    path = str(tmp_path_factory.mktemp('inference') / 'wide.png')
    src.resize((120, 72), Image.BILINEAR).save(path)
    return path


def _predict(model, image: str) -> torch.Tensor:
    result = inference_model(model, image)
    return result.pred_sem_seg.data


def _boost(model, cls: int) -> None:
    """Make ``model`` (a segmentor) predict class ``cls`` everywhere."""
    with torch.no_grad():
        model.decode_head.conv_seg.bias[cls] += 1e4


def test_baseline_prediction_has_the_image_size(baseline_run, image):
    model = init_model(baseline_run.config, baseline_run.checkpoint, device='cpu')
    assert model.dataset_meta['classes'] == e2e.CLASSES  # from the checkpoint's meta
    pred = _predict(model, image)
    assert pred.shape == (1, 72, 120)
    assert pred.dtype == torch.int64 and 0 <= pred.min() and pred.max() < NUM_CLASSES
    _boost(model, 6)
    assert torch.equal(_predict(model, image), torch.full_like(pred, 6))


def test_farcluss_predicts_with_the_teacher(farcluss_run, image):
    model = init_model(farcluss_run.config, farcluss_run.checkpoint, device='cpu')
    assert type(model).__name__ == 'FARCLUSS' and model.predict_on == 'teacher'
    pred = _predict(model, image)
    assert pred.shape == (1, 72, 120)
    assert 0 <= pred.min() and pred.max() < NUM_CLASSES
    _boost(model.student, 3)  # the student's change does not show
    assert torch.equal(_predict(model, image), pred)
    _boost(model.teacher, 5)  # the teacher's does
    assert torch.equal(_predict(model, image), torch.full_like(pred, 5))


def test_farcluss_predict_on_student(farcluss_run, image):
    cfg = Config.fromfile(farcluss_run.config)
    cfg.model.semi_test_cfg.predict_on = 'student'
    model = init_model(cfg, farcluss_run.checkpoint, device='cpu')
    assert model.predict_on == 'student'
    pred = _predict(model, image)
    _boost(model.teacher, 5)  # the teacher's change does not show
    assert torch.equal(_predict(model, image), pred)
    _boost(model.student, 3)  # the student's does
    assert torch.equal(_predict(model, image), torch.full_like(pred, 3))


def test_mmseg_inferencer_on_farcluss(farcluss_run, image, tmp_path):
    inferencer = MMSegInferencer(
        model=farcluss_run.config, weights=farcluss_run.checkpoint, device='cpu'
    )
    expected = _predict(
        init_model(farcluss_run.config, farcluss_run.checkpoint, device='cpu'), image
    )
    sample = inferencer(image, return_datasamples=True)
    assert torch.equal(sample.pred_sem_seg.data, expected)
    out = inferencer(image, out_dir=str(tmp_path))
    assert np.array_equal(out['predictions'], expected[0].numpy())
    assert sorted(p.name for p in (tmp_path / 'pred').iterdir()) == ['00000000_pred.png']
    saved = np.array(Image.open(tmp_path / 'pred' / '00000000_pred.png'))
    assert np.array_equal(saved, expected[0].numpy())
    painted = Image.open(tmp_path / 'vis' / 'wide.png')
    assert painted.size == (120, 72)


def test_plain_checkpoint_fills_student_and_teacher(baseline_run, farcluss_run, image):
    model = init_model(farcluss_run.config, baseline_run.checkpoint, device='cpu')
    plain = torch.load(baseline_run.checkpoint, map_location='cpu', weights_only=False)
    plain = plain['state_dict']
    for part in ('student', 'teacher'):
        state = getattr(model, part).state_dict()
        assert state.keys() == plain.keys()
        for name, value in plain.items():
            assert torch.equal(state[name], value), f'{part}.{name}'
    baseline = init_model(baseline_run.config, baseline_run.checkpoint, device='cpu')
    assert torch.equal(_predict(model, image), _predict(baseline, image))
