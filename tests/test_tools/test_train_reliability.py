"""Nothing lost: a full disk, a NaN, a second run, a copied work_dir, a damaged or foreign file.

Each test does the user's step with ``tools/train.py`` / ``tools/test.py`` in subprocesses on
real files with real signals (the tiny demo network of conftest.py).
"""

import importlib.util
import os
import os.path as osp
import re
import resource
import shutil
import signal
import subprocess
import sys
import time

import torch


def _load_helpers():
    """This folder's conftest.py as a module (see test_train_tools.py)."""
    spec = importlib.util.spec_from_file_location(
        'e2e_helpers', osp.join(osp.dirname(osp.abspath(__file__)), 'conftest.py')
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


e2e = _load_helpers()
BASELINE = e2e.BASELINE


def _weights(path: str) -> dict:
    return torch.load(path, map_location='cpu', weights_only=False)['state_dict']


def _same_weights(a: str, b: str) -> bool:
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def _files(work_dir) -> list:
    return sorted(f for f in os.listdir(work_dir) if '.pth' in f)


def _resumable_copy(run, tmp_path, name: str, step: int):
    """A work_dir holding ``run``'s iter_<step>.pth and a last_checkpoint naming it."""
    work_dir = tmp_path / name
    work_dir.mkdir()
    shutil.copy(osp.join(run.work_dir, f'iter_{step}.pth'), work_dir)
    (work_dir / 'last_checkpoint').write_text(str(work_dir / f'iter_{step}.pth'))
    return work_dir


def test_full_disk_during_a_save_keeps_the_previous_checkpoint(
    baseline_run, demo_data_root, tmp_path
):
    work_dir = _resumable_copy(baseline_run, tmp_path, 'full', 2)
    limit = osp.getsize(work_dir / 'iter_2.pth') // 2  # the next checkpoint does not fit

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    args = ['tools/train.py', BASELINE, '--work-dir', str(work_dir), '--resume', '--cfg-options']
    args += e2e.tiny_options(BASELINE, demo_data_root) + ['train_cfg.max_iters=4']
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=e2e.REPO,
        env=e2e.tool_env(),
        capture_output=True,
        text=True,
        timeout=e2e.TIMEOUT,
        preexec_fn=small_files,
    )
    assert proc.returncode == 1
    assert f'could not write {work_dir}/iter_4.pth (File too large); the file that was there ' in (
        proc.stderr
    )
    assert _files(work_dir) == ['iter_2.pth']  # no half-written file, no temporary
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir / 'iter_2.pth')

    # With room again, --resume continues from iter_2 and ends where the straight run ended.
    e2e.train(BASELINE, str(work_dir), demo_data_root, resume=True)
    assert _same_weights(work_dir / 'iter_4.pth', baseline_run.checkpoint)


def test_nan_keeps_the_last_good_checkpoint(demo_data_root, tmp_path):
    # PolyLR with power -20 ending at 13: the lr grows from 0.01 to 3 at iteration 4 and 1e4 at
    # 7; the loss jumps a few iterations in and becomes NaN a few iterations later.
    work_dir = tmp_path / 'nan'
    options = [
        'param_scheduler.0.end=13',
        'param_scheduler.0.power=-20',
        'default_hooks.checkpoint.interval=1',
        'default_hooks.checkpoint.max_keep_ckpts=1',
    ]
    proc = e2e.train(BASELINE, str(work_dir), demo_data_root, *options, max_iters=12, check=False)
    assert proc.returncode == 1
    # Where exactly the loss jumps and overflows depends on the data and on rounding; the
    # structure does not: some early checkpoint is good, each later one failed the rule and was
    # deleted as usual (max_keep_ckpts=1), except the one right before the NaN, set aside.
    nan_at = int(proc.stderr.split("'decode.loss_ce': nan} at iteration ")[1].split('.')[0])
    good = (work_dir / 'last_checkpoint').read_text()
    step = int(osp.basename(good)[len('iter_') : -len('.pth')])
    assert 2 <= step < nan_at - 1
    out = proc.stdout + proc.stderr
    for later in range(step + 1, nan_at - 1):
        assert f'{work_dir}/iter_{later}.pth is not marked good: at iteration {later + 1}, ' in out
    assert f'{work_dir}/iter_{step}.pth is not marked good' not in out
    assert re.search(
        rf'iter_{step + 1}\.pth is not marked good: at iteration {step + 2}, the first computed '
        rf'from its weights, the loss [0-9.e+]+ is more than 10 times the median of the '
        rf'{step + 1} iterations before \([0-9.]+\)\.',
        out,
    )
    assert _files(work_dir) == sorted([f'iter_{step}.pth', f'iter_{nan_at - 1}.pth.diverged'])
    assert (
        "FloatingPointError: loss, decode.loss_ce became {'loss': nan, 'decode.loss_ce': nan} at "
        f'iteration {nan_at}. Training stopped: lower the learning rate or check the data for bad '
        'labels. The last good checkpoint (finite losses at its iteration and the next, no '
        f'jump) is {good}; `tools/train.py --resume` continues from it' in proc.stderr
    )
    weights = _weights(good).values()
    assert all(torch.isfinite(v).all() for v in weights if v.is_floating_point())


def test_second_run_on_a_work_dir_is_refused_and_a_killed_run_leaves_no_lock(
    demo_data_root, tmp_path
):
    work_dir = tmp_path / 'shared'
    args = ['tools/train.py', BASELINE, '--work-dir', str(work_dir), '--cfg-options']
    args += e2e.tiny_options(BASELINE, demo_data_root) + ['train_cfg.max_iters=100000']
    first = subprocess.Popen(
        [sys.executable, *args],
        cwd=e2e.REPO,
        env=e2e.tool_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + e2e.TIMEOUT
        while not (work_dir / 'iter_2.pth').exists() and time.time() < deadline:
            assert first.poll() is None, 'the first run ended early'
            time.sleep(0.1)
        second = e2e.train(BASELINE, str(work_dir), demo_data_root, check=False)
        assert second.returncode == 1
        assert (
            f'tools/train.py: work_dir {work_dir} is in use by another training run '
            f'(PID {first.pid} on '
        ) in second.stderr
        assert 'Wait for it to finish, stop it, or pass another --work-dir.' in second.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # The killed run's lock went with it: --resume continues from its last checkpoint.
    last = (work_dir / 'last_checkpoint').read_text()
    step = int(osp.basename(last)[len('iter_') : -len('.pth')])
    third = e2e.train(BASELINE, str(work_dir), demo_data_root, resume=True, max_iters=step + 1)
    assert f'--resume: resuming from {last}.' in third.stdout + third.stderr
    assert f'iter_{step + 1}.pth' in _files(work_dir)


def test_copied_work_dir_resumes_from_its_own_checkpoint(baseline_run, demo_data_root, tmp_path):
    copy = tmp_path / 'copy'
    shutil.copytree(baseline_run.work_dir, copy)
    e2e.train(BASELINE, str(copy), demo_data_root, resume=True, max_iters=5)
    log = e2e.read_log(e2e.run_dirs(str(copy))[-1])
    original = osp.join(baseline_run.work_dir, 'iter_4.pth')
    assert (
        f'--resume: {copy}/last_checkpoint names {original}, outside this work_dir (was the '
        'work_dir copied or moved?).' in log
    )
    assert f'--resume: resuming from {copy}/iter_4.pth.' in log
    assert 'resumed epoch: 0, iter: 4' in log
    assert 'iter_5.pth' in _files(copy)
    assert 'iter_5.pth' not in _files(baseline_run.work_dir)


def test_resume_after_a_cut_off_save_uses_the_newest_loadable_checkpoint(
    baseline_run, demo_data_root, tmp_path
):
    # What a crash inside a non-atomic save leaves: a truncated newest file named in
    # last_checkpoint.
    work_dir = _resumable_copy(baseline_run, tmp_path, 'cut', 2)
    raw = open(baseline_run.checkpoint, 'rb').read()
    (work_dir / 'iter_4.pth').write_bytes(raw[: len(raw) // 3])
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'iter_4.pth'))
    e2e.train(BASELINE, str(work_dir), demo_data_root, resume=True)
    log = e2e.read_log(e2e.run_dirs(str(work_dir))[-1])
    assert (
        f'--resume: {work_dir}/iter_4.pth cannot be loaded: {work_dir}/iter_4.pth is a damaged'
        in log
    )
    assert (
        f'--resume: falling back to {work_dir}/iter_2.pth, the newest loadable checkpoint in '
        f'{work_dir}.' in log
    )
    assert _same_weights(work_dir / 'iter_4.pth', baseline_run.checkpoint)


# --- tools/test.py -----------------------------------------------------------------------------
def _test_tool(config: str, checkpoint: str) -> subprocess.CompletedProcess:
    return e2e.run_tool(['tools/test.py', config, str(checkpoint)], check=False)


def test_test_tool_refuses_a_checkpoint_with_a_flipped_bit(baseline_run, tmp_path):
    path = tmp_path / 'flipped.pth'
    raw = bytearray(open(baseline_run.checkpoint, 'rb').read())
    weight = _weights(baseline_run.checkpoint)['decode_head.conv_seg.weight']
    at = bytes(raw).index(weight.numpy().tobytes()[:64])
    raw[at] ^= 0x01
    path.write_bytes(bytes(raw))
    proc = _test_tool(baseline_run.config, path)
    assert proc.returncode == 1
    assert f'CheckpointIntegrityError: {path} is corrupted: the checksum of its ' in proc.stderr


def test_test_tool_refuses_weights_of_another_model(baseline_run, tmp_path):
    path = tmp_path / 'other.pth'
    torch.save({'model': {'fc.weight': torch.zeros(2, 2)}}, path)
    proc = _test_tool(baseline_run.config, path)
    assert proc.returncode == 1
    # BN's num_batches_tracked are not counted: torch fills them in when they are missing.
    names = [k for k in _weights(baseline_run.checkpoint) if 'num_batches' not in k]
    assert (
        f'CheckpointLoadError: {path} does not fit the model: {len(names)} of its {len(names)} '
        f'weights are not in the file (e.g. {names[:3]}), 1 keys of the file are not in the '
        "model (e.g. ['fc.weight'])."
    ) in proc.stderr


def test_test_tool_evaluates_a_plain_state_dict(baseline_run, tmp_path):
    path = tmp_path / 'plain.pth'
    torch.save(_weights(baseline_run.checkpoint), path)
    options = ['--cfg-options', 'test_dataloader.dataset.indices=2']
    proc = e2e.run_tool(['tools/test.py', baseline_run.config, str(path), *options])
    assert f'{path} is a plain state dict (no meta, optimizer or checksum): loading it as the ' in (
        proc.stdout + proc.stderr
    )
    assert 'mIoU' in proc.stdout + proc.stderr


def test_init_model_loads_a_plain_state_dict(baseline_run, tmp_path, one_torch_thread):
    from mmseg.apis import init_model

    path = tmp_path / 'plain.pth'
    weights = _weights(baseline_run.checkpoint)
    torch.save(weights, path)
    model = init_model(baseline_run.config, str(path), device='cpu')
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, weights[name]), name


def test_resume_with_nothing_loadable_starts_afresh(demo_data_root, tmp_path):
    work_dir = tmp_path / 'broken'
    work_dir.mkdir()
    (work_dir / 'iter_2.pth').write_bytes(b'')
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'iter_2.pth'))
    e2e.train(BASELINE, str(work_dir), demo_data_root, resume=True, max_iters=2)
    (run_dir,) = e2e.run_dirs(str(work_dir))
    log = e2e.read_log(run_dir)
    assert (
        f'--resume: {work_dir}/iter_2.pth cannot be loaded: {work_dir}/iter_2.pth is empty' in log
    )
    assert (
        f'--resume: no loadable checkpoint in {work_dir}: training starts from the beginning.'
        in log
    )
    assert [e['iter'] for e in e2e.read_scalars(run_dir) if 'iter' in e] == [1, 2]
    assert _files(work_dir) == ['iter_2.pth']  # the empty file was replaced by a real one
    assert _weights(work_dir / 'iter_2.pth')
