"""Checkpoint files: atomic writes, checksums, load errors, the resume choice, the work_dir lock.

Real files and real subprocesses; the training runs that use these live in
tests/test_tools/test_train_reliability.py.
"""

import hashlib
import io
import logging
import os
import signal
import subprocess
import sys

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import _load_checkpoint

from farcluss_mmseg.engine.checkpoint import (
    CheckpointIntegrityError,
    CheckpointLoadError,
    find_resume_checkpoint,
    save_checkpoint,
    tensor_checksum,
)
from farcluss_mmseg.utils.work_dir_lock import WorkDirBusyError, WorkDirLock


@pytest.fixture
def log(tmp_path, capsys):
    """What mmengine's logger and ``print`` write during the test (one string, both kinds).

    mmengine's loader prints; our notes go to the current MMLogger, a new one (the current
    instance from then on) that also writes to a buffer.
    """
    buffer = io.StringIO()
    logger = MMLogger.get_instance(f'test-{tmp_path.name}', log_level='INFO')
    logger.addHandler(logging.StreamHandler(buffer))
    return lambda: capsys.readouterr().out + buffer.getvalue()


def _ckpt(value: float = 1.0) -> dict:
    return {'meta': {'iter': 2}, 'state_dict': {'w': torch.tensor([value]), 'b': torch.zeros(2)}}


# --- atomic writes -----------------------------------------------------------------------------
def test_write_beyond_ulimit_leaves_the_old_file_and_no_temporary(tmp_path):
    # A full disk: the process may write at most 1000 bytes per file (RLIMIT_FSIZE).
    path = tmp_path / 'iter_2.pth'
    path.write_bytes(b'old')
    code = (
        'import resource; resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000)); '
        'from farcluss_mmseg.engine.checkpoint import atomic_write_bytes; '
        f'atomic_write_bytes({str(path)!r}, bytes(5000))'
    )
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert proc.returncode == 1
    assert f'OSError: [Errno 27] could not write {path} (File too large); the file that was ' in (
        proc.stderr
    )
    assert path.read_bytes() == b'old'
    assert sorted(os.listdir(tmp_path)) == ['iter_2.pth']


# --- checksum ----------------------------------------------------------------------------------
def test_checksum_hashes_the_tensor_bytes_in_order():
    ckpt = {'meta': {}, 'state_dict': {'w': torch.tensor([1.0]), 'n': torch.tensor(3)}}
    got = tensor_checksum(ckpt)
    # float32 1.0 is 00 00 80 3f, int64 3 is 03 and seven zero bytes (little endian).
    data = hashlib.sha256(b'\x00\x00\x80\x3f' + b'\x03' + bytes(7)).hexdigest()
    layout = hashlib.sha256(
        b'state_dict/w|torch.float32|(1,);state_dict/n|torch.int64|();'
    ).hexdigest()
    assert got == dict(algorithm='sha256', tensors=2, layout=layout, data=data)


def test_flipped_bit_in_a_tensor_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / 'iter_2.pth'
    save_checkpoint(_ckpt(1.0), str(path))
    raw = path.read_bytes()
    at = raw.index(b'\x00\x00\x80\x3f')  # the bytes of w = [1.0]
    path.write_bytes(raw[:at] + b'\x00\x00\x81\x3f' + raw[at + 4 :])
    with pytest.raises(
        CheckpointIntegrityError, match=rf'^{path} is corrupted: the checksum of its 2 tensors'
    ):
        _load_checkpoint(str(path), map_location='cpu')


def test_checkpoint_with_its_checksum_loads(tmp_path):
    path = tmp_path / 'iter_2.pth'
    save_checkpoint(_ckpt(1.0), str(path))
    loaded = _load_checkpoint(str(path), map_location='cpu')
    assert loaded['state_dict']['w'].tolist() == [1.0]
    assert loaded['meta']['tensor_checksum']['tensors'] == 2


def test_checkpoint_without_checksum_loads_with_a_note(tmp_path, log):
    path = tmp_path / 'third_party.pth'
    torch.save(_ckpt(), path)
    assert _load_checkpoint(str(path), map_location='cpu')['state_dict']['w'].tolist() == [1.0]
    assert (
        f'{path} carries no tensor checksum (saved by another tool or an older version): '
        'loaded without an integrity check.' in log()
    )


def test_meta_copied_from_another_checkpoint_is_not_called_corrupt(tmp_path, log):
    # A tool that keeps `meta` but saves other tensors (a subset of the weights).
    source = _ckpt()
    save_checkpoint(source, str(tmp_path / 'a.pth'))
    path = tmp_path / 'subset.pth'
    torch.save({'meta': source['meta'], 'state_dict': {'w': torch.tensor([1.0])}}, path)
    _load_checkpoint(str(path), map_location='cpu')
    assert (
        f'{path}: the tensor checksum in its meta describes other tensors (the meta was copied '
        'from another checkpoint): loaded without an integrity check.' in log()
    )


# --- load errors -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    'content, message',
    [
        (b'', r'is empty \(0 bytes\): it was cut off while being written'),
        (
            b'version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 9\n',
            r'is a git-LFS pointer \(63 bytes of text\), not the checkpoint: fetch the real file '
            r'with `git lfs pull`',
        ),
        (
            b'\x13\x37' + bytes(200),
            r'is not a PyTorch checkpoint: it is neither a zip archive \(torch.save\) nor a '
            r"pickle \(it starts with b'\\x137\\x00",
        ),
    ],
    ids=['empty', 'lfs-pointer', 'random-bytes'],
)
def test_unreadable_file_says_what_it_is(tmp_path, content, message):
    path = tmp_path / 'iter_2.pth'
    path.write_bytes(content)
    with pytest.raises(CheckpointLoadError, match=rf'^{path} {message}'):
        _load_checkpoint(str(path), map_location='cpu')


def test_cut_off_checkpoint_is_called_damaged(tmp_path):
    path = tmp_path / 'iter_2.pth'
    save_checkpoint(_ckpt(), str(path))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(
        CheckpointLoadError,
        match=rf'^{path} is a damaged PyTorch checkpoint \({len(raw) // 2} bytes, cut off: its '
        r'zip directory is missing\); torch said "PytorchStreamReader failed',
    ):
        _load_checkpoint(str(path), map_location='cpu')


def test_plain_and_model_key_state_dicts_get_a_state_dict(tmp_path):
    sd = {'w': torch.tensor([2.0])}
    torch.save(sd, tmp_path / 'plain.pth')
    torch.save({'model': sd, 'epoch': 3}, tmp_path / 'model_key.pth')
    plain = _load_checkpoint(str(tmp_path / 'plain.pth'), map_location='cpu')
    assert set(plain) == {'state_dict', 'meta'} and plain['meta'] == {}
    assert plain['state_dict']['w'].tolist() == [2.0]
    wrapped = _load_checkpoint(str(tmp_path / 'model_key.pth'), map_location='cpu')
    assert set(wrapped) == {'model', 'epoch', 'state_dict', 'meta'}
    assert wrapped['state_dict']['w'].tolist() == [2.0]


def test_log_names_the_local_backend(tmp_path, log):
    path = tmp_path / 'iter_2.pth'
    save_checkpoint(_ckpt(), str(path))
    _load_checkpoint(str(path), map_location='cpu')
    assert f'Loads checkpoint by local backend from path: {path}' in log()


# --- the checkpoint --resume takes -------------------------------------------------------------
def _work_dir(tmp_path, record=None):
    wd = tmp_path / 'work'
    wd.mkdir()
    for step in (2, 4):
        save_checkpoint(_ckpt(float(step)), str(wd / f'iter_{step}.pth'))
    if record is not None:
        (wd / 'last_checkpoint').write_text(record)
    return wd


def test_resume_uses_last_checkpoint(tmp_path):
    wd = _work_dir(tmp_path, record=str(tmp_path / 'work' / 'iter_2.pth'))
    assert find_resume_checkpoint(str(wd)) == (str(wd / 'iter_2.pth'), [])


@pytest.mark.parametrize('record', [None, '', 'garbage'], ids=['missing', 'empty', 'garbage'])
def test_resume_falls_back_to_the_newest_loadable_checkpoint(tmp_path, record):
    wd = _work_dir(tmp_path, record=record)
    (wd / 'iter_6.pth').write_bytes(b'')  # a save cut off by a crash
    path, notes = find_resume_checkpoint(str(wd))
    assert path == str(wd / 'iter_4.pth')
    first = {
        None: f'{wd}/last_checkpoint does not exist',
        '': f'{wd}/last_checkpoint is empty',
        'garbage': f'{wd}/garbage does not exist',
    }[record]
    assert notes == [
        first,
        f'{wd}/iter_6.pth cannot be loaded: {wd}/iter_6.pth is empty (0 bytes): it was cut off '
        'while being written (a crash or a full disk). Use an earlier checkpoint; '
        '`tools/train.py --resume` picks the newest loadable one in the work_dir.',
        f'falling back to {wd}/iter_4.pth, the newest loadable checkpoint in {wd}',
    ]


def test_copied_work_dir_resumes_from_its_own_file(tmp_path):
    original = tmp_path / 'original'
    original.mkdir()
    wd = _work_dir(tmp_path, record=str(original / 'iter_4.pth'))
    assert find_resume_checkpoint(str(wd)) == (
        str(wd / 'iter_4.pth'),
        [
            f'{wd}/last_checkpoint names {original}/iter_4.pth, outside this work_dir (was the '
            'work_dir copied or moved?)',
            f'using {wd}/iter_4.pth, the file of that name in this work_dir',
        ],
    )


# --- the work_dir lock -------------------------------------------------------------------------
def test_lock_names_the_holder_and_dies_with_it(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            '-c',
            'import sys, time; from farcluss_mmseg.utils.work_dir_lock import WorkDirLock; '
            f'lock = WorkDirLock({str(tmp_path)!r}).acquire(); print("locked", flush=True); '
            'time.sleep(60)',
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == 'locked\n'
        with pytest.raises(
            WorkDirBusyError,
            match=rf'^work_dir {tmp_path} is in use by another training run \(PID {holder.pid} '
            r'on .*, started .*\)\. Wait for it to finish, stop it, or pass another --work-dir\.',
        ):
            WorkDirLock(str(tmp_path)).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    lock = WorkDirLock(str(tmp_path)).acquire()  # kill -9 released it
    assert (tmp_path / '.train.lock').read_text().startswith(f'PID {os.getpid()} on ')
    lock.release()
