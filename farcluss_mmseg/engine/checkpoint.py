"""Checkpoint files that survive crashes, full disks and bit flips, and say what is wrong.

* :func:`atomic_write_bytes` and the ``farcluss_local_atomic`` file backend write a file under a
  temporary name in the same directory, fsync it and rename it over the target, so a kill or a
  full disk leaves either the old file or the complete new one, never a partial one.
* :func:`tensor_checksum` hashes every tensor of a checkpoint; :class:`SafeCheckpointHook
  <farcluss_mmseg.engine.hooks.SafeCheckpointHook>` stores it in ``meta`` and
  :func:`check_loaded_checkpoint` verifies it on every local load.
* :func:`diagnose_unloadable` turns torch's errors for empty, truncated, random or git-LFS
  pointer files into an error naming the file and the fix.
* :func:`find_resume_checkpoint` picks the checkpoint ``--resume`` continues from.
"""

from __future__ import annotations

import glob
import hashlib
import os
import os.path as osp
import re
import zipfile
from typing import Iterator, List, Optional, Tuple

import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.logging import print_log

__all__ = [
    'CHECKSUM_KEY',
    'CheckpointLoadError',
    'CheckpointIntegrityError',
    'atomic_write_bytes',
    'atomic_write_text',
    'tensor_checksum',
    'add_checksum',
    'save_checkpoint',
    'check_loaded_checkpoint',
    'diagnose_unloadable',
    'find_resume_checkpoint',
    'checkpoint_step',
]

#: Key in a checkpoint's ``meta`` holding :func:`tensor_checksum`'s result.
CHECKSUM_KEY = 'tensor_checksum'
#: Suffix of the temporary file a checkpoint is written to before it is renamed.
TMP_MARK = '.tmp-'
LFS_POINTER_START = b'version https://git-lfs'


class CheckpointLoadError(RuntimeError):
    """A checkpoint file cannot be used; the message names the file and what to do."""


class CheckpointIntegrityError(CheckpointLoadError):
    """A checkpoint's tensors differ from the checksum stored when it was saved."""


# --- writing -----------------------------------------------------------------------------------
def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` is never seen half-written.

    The data go to a hidden temporary file in the same directory (a rename is atomic only within
    one file system), are flushed to disk, and the file is renamed over ``path``; the directory
    is flushed too, so the rename survives a power cut. On any error the temporary file is
    removed and ``path`` is left as it was.

    Args:
        path (str): The file to write.
        data (bytes): Its new content.
    """
    path = osp.abspath(path)
    folder = osp.dirname(path)
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(folder, f'.{osp.basename(path)}{TMP_MARK}{os.getpid()}')
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        try:
            os.remove(tmp)
        except OSError:
            pass
        if isinstance(err, OSError):
            raise OSError(
                err.errno,
                f'could not write {path} ({err.strerror}); the file that was there before, '
                'if any, is unchanged',
            ) from err
        raise
    _fsync_dir(folder)


def atomic_write_text(path: str, text: str) -> None:
    """:func:`atomic_write_bytes` for text (UTF-8)."""
    atomic_write_bytes(path, text.encode('utf-8'))


@register_backend('farcluss_local_atomic')
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose writes are atomic (see :func:`atomic_write_bytes`).

    mmengine's ``save_checkpoint`` writes through a file backend chosen by ``backend_args``;
    ``backend_args=dict(backend='farcluss_local_atomic')`` routes checkpoint writes here.
    """

    def put(self, obj: bytes, filepath) -> None:
        atomic_write_bytes(str(filepath), obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write_bytes(str(filepath), obj.encode(encoding))


# --- checksum ----------------------------------------------------------------------------------
def _iter_tensors(obj, path: str = '') -> Iterator[Tuple[str, torch.Tensor]]:
    if isinstance(obj, torch.Tensor):
        yield path, obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _iter_tensors(value, f'{path}/{key}')
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from _iter_tensors(value, f'{path}/{i}')


def tensor_checksum(checkpoint: dict) -> dict:
    """SHA-256 checksums of every tensor in ``checkpoint`` (weights, optimizer, random state).

    Two digests: ``layout`` hashes the tensors' places, dtypes and shapes, ``data`` their bytes.
    A file whose layout matches but whose data do not was damaged after saving; a layout that
    does not match means the ``meta`` was copied from another checkpoint, which is not damage.

    Args:
        checkpoint (dict): A checkpoint as saved (its ``meta`` entry is skipped).

    Returns:
        dict: ``algorithm``, ``tensors`` (their number), ``layout`` and ``data`` (hex digests).
    """
    layout, data, count = hashlib.sha256(), hashlib.sha256(), 0
    for key, value in checkpoint.items():
        if key == 'meta':
            continue
        for path, tensor in _iter_tensors(value, str(key)):
            tensor = tensor.detach()
            layout.update(f'{path}|{tensor.dtype}|{tuple(tensor.shape)};'.encode())
            flat = tensor.cpu().contiguous().reshape(-1)
            data.update(memoryview(flat.view(torch.uint8).numpy()))
            count += 1
    return dict(algorithm='sha256', tensors=count, layout=layout.hexdigest(), data=data.hexdigest())


def add_checksum(checkpoint: dict) -> dict:
    """Store :func:`tensor_checksum` in ``checkpoint['meta']`` (made if missing); returns it.

    Call it last, after every other change to the checkpoint's tensors: a tool that writes a
    checkpoint derived from another one (a subset of the weights, say) must call it again.
    """
    checkpoint.setdefault('meta', {})[CHECKSUM_KEY] = tensor_checksum(checkpoint)
    return checkpoint


def save_checkpoint(checkpoint: dict, path: str) -> None:
    """Save ``checkpoint`` to the local ``path`` with a fresh checksum, atomically.

    Args:
        checkpoint (dict): The checkpoint (``meta`` is added if missing).
        path (str): The ``.pth`` file to write.
    """
    import io

    add_checksum(checkpoint)
    with io.BytesIO() as buffer:
        torch.save(checkpoint, buffer)
        atomic_write_bytes(path, buffer.getvalue())


# --- loading -----------------------------------------------------------------------------------
_noted_without_checksum: set = set()


def _is_tensor_dict(obj) -> bool:
    return (
        isinstance(obj, dict)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def check_loaded_checkpoint(filename: str, checkpoint):
    """Verify a freshly loaded checkpoint and give it the layout mmengine and mmseg expect.

    * A stored :func:`tensor_checksum` must match the tensors, else
      :class:`CheckpointIntegrityError` naming the file. A file without one loads with a
      one-line note.
    * A plain state dict (``torch.save(model.state_dict())``) becomes
      ``{'state_dict': sd, 'meta': {}}``, and ``{'model': sd}`` gets ``state_dict`` too, so that
      mmengine loads the weights instead of treating the whole file as a state dict.

    Args:
        filename (str): The file it came from (for the messages).
        checkpoint: What ``torch.load`` returned.

    Returns:
        The checkpoint, with ``state_dict`` and ``meta`` keys where it is a dict.
    """
    if _is_tensor_dict(checkpoint):
        print_log(
            f'{filename} is a plain state dict (no meta, optimizer or checksum): loading it '
            'as the model weights.',
            logger='current',
        )
        return {'state_dict': checkpoint, 'meta': {}}
    if not isinstance(checkpoint, dict):
        raise CheckpointLoadError(
            f'{filename} holds a {type(checkpoint).__name__}, not a checkpoint dict with a '
            "'state_dict' (mmengine) or a state dict of tensors: it was not saved by "
            'torch.save(model.state_dict()) or an OpenMMLab runner.'
        )
    if 'state_dict' not in checkpoint:
        for key in ('model', 'state_dict_ema', 'module', 'net'):
            if _is_tensor_dict(checkpoint.get(key)):
                print_log(
                    f"{filename} keeps its weights under '{key}': loading them as the state dict.",
                    logger='current',
                )
                checkpoint['state_dict'] = checkpoint[key]
                break
    meta = checkpoint.setdefault('meta', {})
    if not isinstance(meta, dict):
        meta = checkpoint['meta'] = {}
    stored = meta.get(CHECKSUM_KEY)
    if stored is None:
        if filename not in _noted_without_checksum:
            _noted_without_checksum.add(filename)
            print_log(
                f'{filename} carries no tensor checksum (saved by another tool or an older '
                'version): loaded without an integrity check.',
                logger='current',
            )
        return checkpoint
    actual = tensor_checksum(checkpoint)
    if stored.get('layout') != actual['layout']:
        print_log(
            f'{filename}: the tensor checksum in its meta describes other tensors (the meta '
            'was copied from another checkpoint): loaded without an integrity check.',
            logger='current',
        )
    elif stored.get('data') != actual['data']:
        raise CheckpointIntegrityError(
            f'{filename} is corrupted: the checksum of its {actual["tensors"]} tensors '
            f'(sha256 {actual["data"][:16]}...) differs from the one stored when it was saved '
            f'({str(stored.get("data"))[:16]}...). The file changed on disk after saving (a '
            'flipped bit, a bad copy): use another checkpoint or copy it again from a good '
            'source.'
        )
    return checkpoint


def diagnose_unloadable(filename: str, err: Exception) -> Optional[str]:
    """Why ``torch.load`` could not read ``filename``, in words, or None if it is not clear.

    Args:
        filename (str): The file.
        err (Exception): What ``torch.load`` raised.

    Returns:
        str or None: A message naming the file, what is wrong and what to do; None for a
        well-formed file that ``weights_only`` refused, or an error not recognised here.
    """
    size = osp.getsize(filename)
    if size == 0:
        return (
            f'{filename} is empty (0 bytes): it was cut off while being written (a crash or '
            'a full disk). Use an earlier checkpoint; `tools/train.py --resume` picks the '
            'newest loadable one in the work_dir.'
        )
    with open(filename, 'rb') as f:
        head = f.read(64)
    if head.startswith(LFS_POINTER_START):
        return (
            f'{filename} is a git-LFS pointer ({size} bytes of text), not the checkpoint: '
            'fetch the real file with `git lfs pull` (or download it again).'
        )
    refused = 'Weights only load failed' in str(err) or 'Unsupported global' in str(err)
    if head.startswith(b'PK\x03\x04') or zipfile.is_zipfile(filename):
        if refused and zipfile.is_zipfile(filename):
            return None  # a complete file holding an object off the allow-list
        cut = '' if zipfile.is_zipfile(filename) else ', cut off: its zip directory is missing'
        said = (str(err).splitlines() or [type(err).__name__])[0].split('. ')[0]
        return (
            f'{filename} is a damaged PyTorch checkpoint ({size} bytes{cut}); torch said '
            f'"{said}". It was cut off or changed after saving: use another checkpoint or copy '
            'it again.'
        )
    if not (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5):
        return (
            f'{filename} is not a PyTorch checkpoint: it is neither a zip archive (torch.save) '
            f'nor a pickle (it starts with {head[:8]!r}). It may be damaged or another kind of '
            'file.'
        )
    return None


# --- resuming ----------------------------------------------------------------------------------
_STEP = re.compile(r'(?:iter|epoch)_(\d+)\.pth$')


def checkpoint_step(path: str) -> Optional[int]:
    """The iteration or epoch in a checkpoint's file name (``iter_8.pth`` -> 8), else None."""
    match = _STEP.search(osp.basename(path))
    return int(match.group(1)) if match else None


def _loadable(path: str) -> Optional[str]:
    """None if ``path`` loads (and passes its checksum), else the reason."""
    from mmengine.runner.checkpoint import CheckpointLoader

    try:
        CheckpointLoader.load_checkpoint(path, map_location='cpu', logger='silent')
    except Exception as err:  # any reason makes it unusable; the message says which
        return str(err).splitlines()[0] if str(err) else type(err).__name__
    return None


def find_resume_checkpoint(work_dir: str) -> Tuple[Optional[str], List[str]]:
    """The checkpoint ``--resume`` continues from, and what was found on the way.

    The file named by ``work_dir/last_checkpoint`` is looked up in ``work_dir`` itself (by its
    name), so a copied or moved work_dir resumes from its own files. When ``last_checkpoint`` is
    missing, empty, unreadable or names a file that does not load, the newest checkpoint in
    ``work_dir`` (by the iteration in its name) that loads is taken instead. Only when
    ``work_dir`` has no loadable checkpoint is a file outside it used (the one
    ``last_checkpoint`` names).

    Args:
        work_dir (str): The work_dir being resumed.

    Returns:
        tuple: The checkpoint path (None when there is nothing to resume from) and notes for
        the log, one per thing that was not as expected.
    """
    notes: List[str] = []
    record = osp.join(work_dir, 'last_checkpoint')
    named: Optional[str] = None
    if not osp.exists(record):
        notes.append(f'{record} does not exist')
    else:
        try:
            with open(record) as f:
                named = f.read().strip() or None
            if named is None:
                notes.append(f'{record} is empty')
        except (OSError, UnicodeDecodeError) as err:
            notes.append(f'{record} cannot be read ({err})')
    outside: Optional[str] = None
    if named is not None:
        if not osp.isabs(named):
            named = osp.join(work_dir, named)
        local = osp.join(work_dir, osp.basename(named))
        if osp.realpath(osp.dirname(named)) != osp.realpath(work_dir):
            outside = named
            notes.append(
                f'{record} names {named}, outside this work_dir (was the work_dir copied or moved?)'
            )
        if osp.isfile(local):
            if local != named:
                notes.append(f'using {local}, the file of that name in this work_dir')
            reason = _loadable(local)
            if reason is None:
                return local, notes
            notes.append(f'{local} cannot be loaded: {reason}')
        else:
            notes.append(f'{local} does not exist')
    candidates = [p for p in glob.glob(osp.join(work_dir, '*.pth')) if checkpoint_step(p)]
    candidates.sort(key=lambda p: (checkpoint_step(p), osp.getmtime(p)), reverse=True)
    for path in candidates:
        if named is not None and osp.abspath(path) == osp.abspath(
            osp.join(work_dir, osp.basename(named))
        ):
            continue  # already tried
        reason = _loadable(path)
        if reason is None:
            notes.append(f'falling back to {path}, the newest loadable checkpoint in {work_dir}')
            return path, notes
        notes.append(f'{path} cannot be loaded: {reason}')
    if outside is not None and osp.isfile(outside) and _loadable(outside) is None:
        notes.append(f'no loadable checkpoint in {work_dir}: resuming from {outside}')
        return outside, notes
    notes.append(f'no loadable checkpoint in {work_dir}: training starts from the beginning')
    return None, notes
