"""The compatibility layer: mmcv-lite stand-in and the checkpoint allow-list."""

import os
import pickle

import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint

from farcluss_mmseg import compat


def test_missing_compiled_op_names_the_fix():
    import mmcv.ops

    if compat.mmcv_has_compiled_ops():
        pytest.skip('full mmcv installed: its compiled ops exist')
    with pytest.raises(compat.MissingCompiledOpError, match=r'`nms`.*mmcv-lite.*mmcv==2\.1\.0'):
        mmcv.ops.nms(torch.rand(3, 4), torch.rand(3), 0.5)


def test_pure_python_mmcv_op_still_works():
    from mmcv.ops import point_sample

    # point_sample is grid_sample underneath: sampling the centre of a 2x2 map gives its mean.
    feat = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    out = point_sample(feat, torch.tensor([[[0.5, 0.5]]]), align_corners=False)
    assert out.flatten().tolist() == [1.5]


def test_mmengine_checkpoint_loads_with_weights_only(tmp_path):
    import numpy as np

    buffer = HistoryBuffer()
    buffer.update(0.5)
    ckpt = {
        'meta': {'iter': 3, 'seed': np.int64(7), 'hist': np.array([1.0, 2.0])},
        'state_dict': {'w': torch.tensor([1.0, 2.0])},
        'message_hub': {'log_scalars': {'train/loss': buffer}},
    }
    path = tmp_path / 'iter_3.pth'
    torch.save(ckpt, path)
    loaded = _load_checkpoint(str(path), map_location='cpu')
    assert loaded['meta']['iter'] == 3
    assert int(loaded['meta']['seed']) == 7
    assert loaded['meta']['hist'].tolist() == [1.0, 2.0]
    assert loaded['state_dict']['w'].tolist() == [1.0, 2.0]
    assert loaded['message_hub']['log_scalars']['train/loss'].current() == 0.5


class _Payload:
    def __reduce__(self):
        return (os.system, ('echo pwned > /dev/null',))


def test_checkpoint_with_code_payload_is_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    with open(path, 'wb') as f:
        pickle.dump({'state_dict': {}, 'x': _Payload()}, f)
    with pytest.raises(RuntimeError, match=r'Refusing to load checkpoint .*evil\.pth.*allow-list'):
        _load_checkpoint(str(path), map_location='cpu')


class _GetattrPayload:
    def __reduce__(self):
        import numpy as np

        return (getattr, (np.ndarray, 'tofile'))


def test_checkpoint_getattr_is_limited_to_history_buffer_methods(tmp_path):
    path = tmp_path / 'sneaky.pth'
    torch.save({'x': _GetattrPayload()}, path)
    with pytest.raises(RuntimeError, match=r'Refusing to load checkpoint .*sneaky\.pth'):
        _load_checkpoint(str(path), map_location='cpu')


def test_mmengine_sees_mmcv_lite_as_lite():
    # Runner.wrap_model -> revert_sync_batchnorm -> mmcv_full_available() -> find_spec(mmcv._ext)
    from mmengine.utils.dl_utils import mmcv_full_available

    assert mmcv_full_available() is compat.mmcv_has_compiled_ops()


def test_checkpoint_loads_in_a_fresh_process(tmp_path):
    # mmengine registers HistoryBuffer's statistics methods only when a first buffer is made;
    # a fresh process (tools/test.py, --resume) loads the checkpoint before that.
    import subprocess
    import sys

    buffer = HistoryBuffer()
    buffer.update(2.0)
    path = tmp_path / 'iter_1.pth'
    torch.save({'message_hub': {'log_scalars': {'train/loss': buffer}}}, path)
    code = (
        'import farcluss_mmseg; from mmengine.runner.checkpoint import _load_checkpoint; '
        f"c = _load_checkpoint({str(path)!r}); print(c['message_hub']['log_scalars']"
        "['train/loss'].mean())"
    )
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == '2.0'
