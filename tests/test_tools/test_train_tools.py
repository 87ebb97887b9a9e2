"""tools/train.py and tools/test.py end to end on the demo data (tiny model, a few iterations)."""

import glob
import importlib.util
import json
import math
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from PIL import Image


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
BASELINE, FARCLUSS, CLASSES = e2e.BASELINE, e2e.FARCLUSS, e2e.CLASSES
read_log, read_scalars, run_dirs, run_tool, train = (
    e2e.read_log,
    e2e.read_scalars,
    e2e.run_dirs,
    e2e.run_tool,
    e2e.train,
)
TEST_IMAGES = 4  # tools/test.py runs on the first 4 val images


def _train_entries(work_dir: str, invocation: int = -1) -> list:
    """The logged training iterations of one training invocation (other tools, e.g.
    tools/test.py on the same work_dir, add folders without scalars)."""
    trained = [d for d in run_dirs(work_dir) if osp.isfile(osp.join(d, 'vis_data', 'scalars.json'))]
    return [e for e in read_scalars(trained[invocation]) if 'iter' in e]


def _poly_lr(it: int) -> float:
    """The demo schedule's PolyLR (lr 0.05, eta_min 1e-4, power 0.9, 600 iters) at ``it``."""
    return 1e-4 + (0.05 - 1e-4) * (1 - (it - 1) / 600) ** 0.9


def _load(path: str) -> dict:
    return torch.load(path, map_location='cpu', weights_only=False)


# --- tools/train.py ---------------------------------------------------------------------------
def test_baseline_train_writes_checkpoints_and_log(baseline_run):
    files = sorted(os.listdir(baseline_run.work_dir))
    assert [f for f in files if f.endswith('.pth')] == ['iter_2.pth', 'iter_4.pth']
    with open(osp.join(baseline_run.work_dir, 'last_checkpoint')) as f:
        assert f.read() == baseline_run.checkpoint
    log = read_log(run_dirs(baseline_run.work_dir)[0])
    assert 'Saving checkpoint at 2 iterations' in log
    assert 'Saving checkpoint at 4 iterations' in log
    assert _load(baseline_run.checkpoint)['meta']['iter'] == 4

    entries = _train_entries(baseline_run.work_dir)
    assert [e['iter'] for e in entries] == [1, 2, 3, 4]
    keys = {'lr', 'data_time', 'time', 'iter', 'step', 'loss', 'decode.loss_ce', 'decode.acc_seg'}
    for e in entries:
        assert set(e) == keys
        assert e['loss'] == e['decode.loss_ce']  # the only loss
        # mmengine applies PolyLR step by step (chained), hence a few 1e-6 of rounding.
        assert e['lr'] == pytest.approx(_poly_lr(e['iter']), rel=1e-5)
    assert entries[0]['loss'] == pytest.approx(math.log(len(CLASSES)), abs=0.3)  # untrained


def test_farcluss_train_logs_losses_and_pseudo_label_stats(farcluss_run):
    entries = _train_entries(farcluss_run.work_dir)
    assert [e['iter'] for e in entries] == [1, 2, 3, 4]
    stats = [
        'pl_weight_mean',
        'pl_used_ratio',
        'pl_num_classes_present',
        'pl_class_weight_min',
        'pl_class_weight_max',
        'pl_acc',
        'pl_used_acc',
        'pl_rare_precision',  # the demo configs monitor the rare class
        'pl_rare_recall',
    ]
    losses = ['decode.loss_ce', 'loss_u', 'loss_c']  # the supervised twin's key for L_s
    other = ['lr', 'data_time', 'time', 'iter', 'step', 'loss', 'decode.acc_seg']
    for e in entries:
        assert set(e) == set(losses + stats + other)
        assert e['loss'] == pytest.approx(sum(e[k] for k in losses), rel=1e-6)
        assert 0 <= e['pl_weight_mean'] <= 1
        assert e['pl_used_ratio'] == 100.0  # (%) entropy_threshold=None keeps every valid pixel
        assert e['pl_num_classes_present'] in range(1, len(CLASSES) + 1)
        assert 0 <= e['pl_class_weight_min'] <= e['pl_class_weight_max'] <= 10.0  # max weight
        assert 0 <= e['pl_acc'] <= 100 and 0 <= e['pl_used_acc'] <= 100  # %, as acc_seg
        assert e['loss_u'] >= 0 and e['loss_c'] > 0  # the unlabeled branch reaches the weights


def test_resume_continues_exactly_like_an_uninterrupted_run(farcluss_run, demo_data_root, tmp_path):
    # A run stopped after its iteration-2 checkpoint, then restarted with --resume.
    work_dir = tmp_path / 'interrupted'
    work_dir.mkdir()
    shutil.copy(osp.join(farcluss_run.work_dir, 'iter_2.pth'), work_dir)
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'iter_2.pth'))
    train(FARCLUSS, str(work_dir), demo_data_root, resume=True)
    log = read_log(run_dirs(str(work_dir))[0])
    assert f'--resume: resuming from {work_dir / "iter_2.pth"}.' in log
    assert 'resumed epoch: 0, iter: 2' in log
    resumed_entries = _train_entries(str(work_dir))
    assert [e['iter'] for e in resumed_entries] == [3, 4]
    for resumed, straight in zip(resumed_entries, _train_entries(farcluss_run.work_dir)[2:]):
        for key in ('loss', 'decode.loss_ce', 'loss_u', 'loss_c', 'pl_acc', 'lr'):
            assert resumed[key] == straight[key], key

    straight, resumed = _load(farcluss_run.checkpoint), _load(osp.join(work_dir, 'iter_4.pth'))
    assert straight['meta']['iter'] == resumed['meta']['iter'] == 4
    weights = straight['state_dict']
    assert weights.keys() == resumed['state_dict'].keys()
    teacher = [k for k in weights if k.startswith('teacher.')]
    student = [k for k in weights if k.startswith('student.')]
    assert len(teacher) == len(student) > 0
    for name, tensor in weights.items():  # teacher.*, student.*, projector.*
        assert torch.equal(tensor, resumed['state_dict'][name]), name
    states = straight['optimizer']['state']
    assert states.keys() == resumed['optimizer']['state'].keys()
    for idx, state in states.items():
        assert state.keys() == {'momentum_buffer'}
        assert torch.equal(
            state['momentum_buffer'], resumed['optimizer']['state'][idx]['momentum_buffer']
        )
    assert straight['optimizer']['param_groups'] == resumed['optimizer']['param_groups']
    assert straight['param_schedulers'] == resumed['param_schedulers']
    rng = straight['torch_random_state']['cpu'], resumed['torch_random_state']['cpu']
    assert torch.equal(*rng)


def test_nan_loss_stops_training_with_the_loss_name_and_iteration(demo_data_root, tmp_path):
    work_dir = str(tmp_path / 'nan')
    proc = train(BASELINE, work_dir, demo_data_root, 'optim_wrapper.optimizer.lr=1e30', check=False)
    assert proc.returncode == 1
    assert (
        "FloatingPointError: loss, decode.loss_ce became {'loss': nan, 'decode.loss_ce': nan} "
        'at iteration 2. Training stopped: lower the learning rate or check the data for bad '
        'labels. No checkpoint of this run passed the check (finite losses at its iteration and '
        'the next, no jump): start again with a lower learning rate.' in proc.stderr
    )
    # The hook runs before the checkpoint hook: the broken iteration-2 weights are not saved.
    assert glob.glob(osp.join(work_dir, '*.pth')) == []


# --- tools/test.py ----------------------------------------------------------------------------
def _expected_ious(out_dir: str, data_root: str) -> dict:
    """mIoU and per-class IoU, precision and recall (in %, 2 decimals, NaN for 0 / 0) from the
    saved predictions and the ground truth, computed as mmseg's IoUMetric defines them."""
    intersect, union = np.zeros(len(CLASSES)), np.zeros(len(CLASSES))
    predicted, labelled = np.zeros(len(CLASSES)), np.zeros(len(CLASSES))
    for path in sorted(glob.glob(osp.join(out_dir, '*.png'))):
        stem = osp.splitext(osp.basename(path))[0]
        pred = np.array(Image.open(path)).astype(np.int64)
        gt = np.array(Image.open(osp.join(data_root, 'SegmentationClass', f'{stem}.png')))
        keep = gt != 255
        pred, gt = pred[keep], gt[keep].astype(np.int64)
        hit = np.bincount(pred[pred == gt], minlength=len(CLASSES))
        intersect += hit
        num = len(CLASSES)
        union += np.bincount(pred, minlength=num) + np.bincount(gt, minlength=num) - hit
        predicted += np.bincount(pred, minlength=num)
        labelled += np.bincount(gt, minlength=num)
    with np.errstate(invalid='ignore'):
        iou = intersect / union
        shares = dict(Precision=intersect / predicted, Recall=intersect / labelled)
    out = {f'IoU.{c}': round(v * 100, 2) for c, v in zip(CLASSES, iou)}
    for key, share in shares.items():
        out.update({f'{key}.{c}': round(v * 100, 2) for c, v in zip(CLASSES, share)})
    out['mIoU'] = round(float(np.nanmean(iou)) * 100, 2)
    return out


@pytest.mark.parametrize('which', ['farcluss', 'baseline'])
def test_test_tool_reports_miou_and_per_class_iou(which, request, demo_data_root, tmp_path):
    run = request.getfixturevalue(f'{which}_run')
    work_dir, out_dir, show_dir = (str(tmp_path / d) for d in ('test', 'out', 'show'))
    options = [
        f'test_dataloader.dataset.indices={TEST_IMAGES}',
        'default_hooks.visualization.interval=1',
    ]
    args = ['tools/test.py', run.config, run.checkpoint, '--work-dir', work_dir]
    proc = run_tool(args + ['--out', out_dir, '--show-dir', show_dir, '--cfg-options', *options])
    (run_dir,) = run_dirs(work_dir)
    (path,) = glob.glob(osp.join(run_dir, '*.json'))  # the metrics of runner.test()
    with open(path) as f:
        metrics = json.loads(f.read())
    assert list(metrics)[:11] == ['aAcc', 'mIoU', 'mAcc'] + [f'IoU.{c}' for c in CLASSES]
    expected = _expected_ious(out_dir, demo_data_root)
    assert sorted(metrics) == sorted([*expected, 'aAcc', 'mAcc', 'data_time', 'time'])
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, abs=1e-4, nan_ok=True), key
    assert f'mIoU: {expected["mIoU"]:.4f}' in proc.stdout + proc.stderr
    stems = [f'demo_{i:06d}' for i in range(48, 48 + TEST_IMAGES)]  # the first val images
    assert sorted(os.listdir(out_dir)) == [f'{s}.png' for s in stems]
    painted = sorted(glob.glob(osp.join(show_dir, 'vis_data', 'vis_image', '*.png')))
    assert [osp.basename(p) for p in painted] == [f'test_{s}.jpg_0.png' for s in stems]
    assert Image.open(painted[0]).size == (2 * 96, 96)  # ground truth | prediction
