"""The AMP config switch: AmpOptimWrapper in bf16 reaches the FARCLUSS model (CPU autocast)."""

import copy
import importlib.util
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.optim.optimizer import amp_optimizer_wrapper
from mmengine.registry import init_default_scope

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
AMP = (
    'configs/farcluss/'
    'farcluss_deeplabv3plus_r101-d16_4xb2+2-amp-bf16-99k_voc-blended-1-16-513x513.py'
)
FP32 = AMP.replace('-amp-bf16', '')


def _load_segmentor_tests():
    """The tiny FARCLUSS model and batch of the segmentor tests."""
    path = osp.join(REPO, 'tests/test_models/test_segmentors/conftest.py')
    spec = importlib.util.spec_from_file_location('segmentor_conftest', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_amp_leaf_changes_only_the_wrapper_type_and_dtype():
    amp = Config.fromfile(osp.join(REPO, AMP)).to_dict()
    fp32 = Config.fromfile(osp.join(REPO, FP32)).to_dict()
    assert fp32['optim_wrapper']['type'] == 'OptimWrapper' and 'dtype' not in fp32['optim_wrapper']
    assert amp['optim_wrapper'] == dict(
        fp32['optim_wrapper'], type='AmpOptimWrapper', dtype='bfloat16'
    )
    amp.pop('optim_wrapper'), fp32.pop('optim_wrapper')
    assert amp == fp32


def test_bf16_train_step_on_cpu(monkeypatch):
    """Two FARCLUSS train steps through the leaf's optimizer wrapper. mmengine's AmpOptimWrapper
    asserts a GPU; on the CPU its GradScaler disables itself and autocast runs in bf16, which is
    enough to check that the switch reaches the model: the network computes in bf16, the losses
    come out in fp32 and finite, and the student's weights move."""
    monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available', lambda: True)
    init_default_scope('mmseg')
    tiny = _load_segmentor_tests()
    model = tiny.build_model()
    model.train()
    wrapper_cfg = copy.deepcopy(Config.fromfile(osp.join(REPO, AMP)).optim_wrapper)
    wrapper_cfg.pop('paramwise_cfg')  # custom keys name the projector's lr; not needed here
    wrapper = build_optim_wrapper(model, wrapper_cfg)
    assert type(wrapper).__name__ == 'AmpOptimWrapper' and wrapper.cast_dtype == torch.bfloat16

    dtypes = []
    model.student.decode_head.conv_seg.register_forward_hook(
        lambda _m, _i, out: dtypes.append(out.dtype)
    )
    losses = {}
    real_loss = model.loss

    def loss(*args):
        losses.update(real_loss(*args))
        return losses

    model.loss = loss
    before = [p.detach().clone() for p in model.student.parameters()]
    for _ in range(2):
        log_vars = model.train_step(tiny.make_semi_batch(), wrapper)
    assert dtypes == [torch.bfloat16] * 2
    for key in ('decode.loss_ce', 'loss_u', 'loss_c'):
        assert losses[key].dtype == torch.float32, key
        assert torch.isfinite(log_vars[key]), key
    moved = [not torch.equal(a, b) for a, b in zip(before, model.student.parameters())]
    assert sum(moved) > len(moved) // 2
