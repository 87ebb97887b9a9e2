"""Each semi-supervised method trains through tools/train.py (2 iterations, demo data)."""

import importlib.util
import os.path as osp

import pytest
import torch

# This folder's conftest.py as a module (the importlib import mode puts no test dir on sys.path).
_spec = importlib.util.spec_from_file_location(
    'e2e_helpers', osp.join(osp.dirname(osp.abspath(__file__)), 'conftest.py')
)
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)

DEMO = 'deeplabv3plus_r18-w32-d8_1xb8+8-600it_farcluss-demo-1-16-96x96.py'
METHODS = {
    'configs/farcluss/farcluss_': ('FARCLUSS', {'loss_u', 'loss_c'}),
    'configs/mean_teacher/mean-teacher-hard_': ('HardLabelMeanTeacher', {'loss_u'}),
    'configs/unimatch/unimatch_': ('UniMatch', {'loss_u_s', 'loss_u_fp'}),
}


@pytest.mark.parametrize('prefix', sorted(METHODS))
def test_method_trains_two_iterations(prefix, tmp_path, demo_data_root):
    model_type, unsup_keys = METHODS[prefix]
    work_dir = str(tmp_path / 'run')
    e2e.train(prefix + DEMO, work_dir, demo_data_root, max_iters=2)
    (run_dir,) = e2e.run_dirs(work_dir)
    scalars = e2e.read_scalars(run_dir)
    assert [s['iter'] for s in scalars] == [1, 2]
    for entry in scalars:
        assert {'decode.loss_ce', 'decode.acc_seg', 'pl_acc', *unsup_keys} <= set(entry)
        assert all(entry[k] > 0 for k in unsup_keys)  # the unsupervised losses act
    checkpoint = torch.load(
        osp.join(work_dir, 'iter_2.pth'), map_location='cpu', weights_only=False
    )
    prefixes = {k.split('.', 1)[0] for k in checkpoint['state_dict']}
    expected = {'student', 'teacher'} if model_type != 'UniMatch' else {'student'}
    if model_type == 'FARCLUSS':
        expected.add('projector')
    assert prefixes == expected
