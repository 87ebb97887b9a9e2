"""Compatibility layer between this plugin and the installed OpenMMLab stack.

Everything here is a workaround for a fact outside this project; each block says why it exists
and when it can be dropped. Nothing else in the package patches third-party code.

1. ``mmcv-lite`` ships no compiled ``mmcv._ext``, yet mmseg 1.2.2 imports ``mmcv.ops`` eagerly
   (``mmseg/utils/mask_classification.py``, ``models/losses/focal_loss.py``,
   ``decode_heads/san_head.py``), so ``import mmseg.models`` fails. Nothing that DeepLabV3+ or
   FARCLUSS uses is compiled. We register a stand-in ``mmcv._ext`` whose every function raises
   :class:`MissingCompiledOpError` telling the user to install the full mmcv. Drop it when mmseg
   imports ``mmcv.ops`` lazily or when mmcv-lite is no longer supported.
2. torch >= 2.6 loads with ``weights_only=True``; mmengine 0.10.x checkpoints hold a few
   non-tensor objects (``HistoryBuffer`` and its statistics methods, numpy arrays and scalars in
   the message hub), so
   ``--resume`` and ``load_from`` fail with ``UnpicklingError``. We allow-list exactly those
   globals (never turning ``weights_only`` off) and replace mmengine's local-file loader with one
   that names the file and the refused global. Drop it when mmengine saves plain checkpoints.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import pickle
import sys
import types

__all__ = ['MissingCompiledOpError', 'MMENGINE_CHECKPOINT_GLOBALS', 'install']

MMCV_FULL_HINT = (
    'install the full mmcv 2.1.0 with its compiled ops instead of mmcv-lite '
    '(`pip uninstall -y mmcv-lite && pip install setuptools\\<70 && '
    'pip install --no-build-isolation mmcv==2.1.0`, or `make setup MMCV=full`)'
)


class MissingCompiledOpError(RuntimeError):
    """Raised when code calls an mmcv op that needs ``mmcv._ext`` under mmcv-lite."""


def _install_mmcv_ext_stub() -> bool:
    """Register a stand-in ``mmcv._ext`` when mmcv has none. Returns True if installed."""
    if 'mmcv._ext' in sys.modules:
        return False
    try:
        if importlib.util.find_spec('mmcv._ext') is not None:
            return False  # full mmcv: nothing to do
    except ModuleNotFoundError:  # mmcv itself is missing; mmseg will say so
        return False
    stub = types.ModuleType('mmcv._ext')
    # importlib.util.find_spec (mmengine's mmcv_full_available) needs a spec on the module.
    stub.__spec__ = importlib.machinery.ModuleSpec('mmcv._ext', None)
    stub.__doc__ = 'farcluss_mmseg stand-in for the compiled ops missing from mmcv-lite.'

    def __getattr__(name: str):
        if name.startswith('__'):
            raise AttributeError(name)

        def missing_op(*args, **kwargs):
            raise MissingCompiledOpError(
                f'mmcv compiled op `{name}` is not available: mmcv-lite is installed. '
                f'To use it, {MMCV_FULL_HINT}.'
            )

        missing_op.__name__ = name
        return missing_op

    stub.__getattr__ = __getattr__  # type: ignore[attr-defined]
    stub.IS_FARCLUSS_STUB = True  # type: ignore[attr-defined]
    sys.modules['mmcv._ext'] = stub
    return True


def mmcv_has_compiled_ops() -> bool:
    """Whether the installed mmcv is the full build (not our stand-in)."""
    ext = sys.modules.get('mmcv._ext')
    if ext is None:
        return importlib.util.find_spec('mmcv._ext') is not None
    return not getattr(ext, 'IS_FARCLUSS_STUB', False)


def _history_buffer_getattr(obj, name: str):
    """``getattr`` restricted to what pickled ``HistoryBuffer``s use it for.

    A ``HistoryBuffer`` pickles its statistics methods (``min``, ``max``, ``current``, ``mean``
    and registered ones) as ``getattr(HistoryBuffer, name)``. Allow-listing the real ``getattr``
    would let a checkpoint fetch any attribute of any allowed object, so this stand-in answers
    only that one question.
    """
    from mmengine.logging.history_buffer import HistoryBuffer

    # mmengine fills `_statistics_methods` only when a first HistoryBuffer is made.
    allowed = {'min', 'max', 'current', 'mean', *HistoryBuffer._statistics_methods}
    if obj is HistoryBuffer and name in allowed:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({obj!r}, {name!r}); only HistoryBuffer statistics methods '
        'are allowed'
    )


def _checkpoint_globals() -> list:
    """The non-tensor globals an mmengine 0.10.x checkpoint pickles, and nothing else."""
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer

    try:  # numpy >= 2 moved the pickling helpers to numpy._core
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    dtypes = [
        type(np.dtype(t))
        for t in (
            np.bool_,
            np.int8,
            np.int16,
            np.int32,
            np.int64,
            np.uint8,
            np.uint16,
            np.uint32,
            np.uint64,
            np.float16,
            np.float32,
            np.float64,
        )
    ]
    return [
        HistoryBuffer,
        (_history_buffer_getattr, 'builtins.getattr'),
        np.ndarray,
        np.dtype,
        _reconstruct,
        scalar,
        *dtypes,
    ]


MMENGINE_CHECKPOINT_GLOBALS: list = []


def _load_local_checkpoint(filename: str, map_location=None):
    """mmengine's local loader, with ``weights_only=True`` and an error naming the file."""
    import os

    import torch

    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises UnpicklingError or RuntimeError here
        if 'Weights only load failed' not in str(err) and 'Unsupported global' not in str(err):
            raise
        raise RuntimeError(
            f'Refusing to load checkpoint {filename}: it contains an object that is not a '
            'tensor and not on the allow-list of objects mmengine checkpoints contain '
            '(farcluss_mmseg.compat.MMENGINE_CHECKPOINT_GLOBALS), so unpickling it could run '
            'code. Only load checkpoints from sources you trust; if you trust this one, '
            'add the class to torch.serialization.add_safe_globals(). '
            f'torch said: {str(err).splitlines()[0]}'
        ) from err


def _install_checkpoint_allow_list() -> None:
    import torch
    from mmengine.runner.checkpoint import CheckpointLoader

    if not MMENGINE_CHECKPOINT_GLOBALS:
        MMENGINE_CHECKPOINT_GLOBALS.extend(_checkpoint_globals())
    if hasattr(torch.serialization, 'add_safe_globals'):  # torch >= 2.4
        torch.serialization.add_safe_globals(MMENGINE_CHECKPOINT_GLOBALS)
        CheckpointLoader.register_scheme(prefixes='', force=True)(_load_local_checkpoint)


_installed = False


def install() -> None:
    """Apply both workarounds once; called when ``farcluss_mmseg`` is imported."""
    global _installed
    if _installed:
        return
    _install_mmcv_ext_stub()
    _install_checkpoint_allow_list()
    _installed = True
