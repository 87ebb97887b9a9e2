"""Compatibility layer between this plugin and the installed OpenMMLab stack.

Everything here is a workaround for a fact outside this project; each block says why it exists
and when it can be dropped. Nothing else in the package patches third-party code.

1. ``mmcv-lite`` ships no compiled ``mmcv._ext``, yet mmseg 1.2.2 imports ``mmcv.ops`` eagerly
   (``mmseg/utils/mask_classification.py``, ``models/losses/focal_loss.py``,
   ``decode_heads/san_head.py``), so ``import mmseg.models`` fails. Nothing that DeepLabV3+ or
   FARCLUSS uses is compiled. We provide a stand-in ``mmcv._ext`` whose every function raises
   :class:`MissingCompiledOpError` telling the user to install the full mmcv. It is provided
   only when mmcv has no compiled ``_ext``, either when this package is imported or, without
   any import, by the start-up hook (see below) the moment mmcv asks for ``mmcv._ext``, so
   ``from mmseg.apis import init_model`` works as the first line of a script. Drop it when
   mmseg imports ``mmcv.ops`` lazily or when mmcv-lite is no longer supported.
2. torch >= 2.6 loads with ``weights_only=True``; mmengine 0.10.x checkpoints hold a few
   non-tensor objects (``HistoryBuffer`` and its statistics methods, numpy arrays and scalars in
   the message hub), so
   ``--resume`` and ``load_from`` fail with ``UnpicklingError``. We allow-list exactly those
   globals (never turning ``weights_only`` off) and replace mmengine's local-file loader (the
   scheme for paths without a prefix; URLs keep mmengine's loaders) with one that names the file
   and the refused global, says what is wrong with a file torch cannot read, and verifies the
   tensor checksum this plugin's checkpoint hook stores. Drop the allow-list when mmengine saves
   plain checkpoints; the loader stays as long as checkpoints are verified on load.
3. mmengine resolves ``_base_ = ['pkg::path']`` only for packages listed in its
   ``mmengine.config.utils.MODULE2PACKAGE`` (OpenMMLab's own; there is no entry point for third
   parties), and finds the package's ``.mim/configs`` with ``get_installed_path``, which for a
   PEP 660 editable install (``pip install -e .``) names a ``site-packages/farcluss_mmseg``
   that does not exist. We add ``farcluss_mmseg`` to ``MODULE2PACKAGE`` and answer
   ``get_installed_path('farcluss_mmseg')`` with the folder Python imports the package from
   (other packages are left to mmengine). Drop it when mmengine reads third-party packages from
   an entry point and locates them with ``importlib``.
4. OpenCV >= 5 refuses to draw into an array that is not C-contiguous, and mmseg 1.2.2's
   ``SegLocalVisualizer._draw_sem_seg`` draws its class names into ``np.zeros_like(image)``,
   which keeps the layout of ``image``: in mmseg's ``tools/analysis_tools/browse_dataset.py``
   a CHW tensor permuted to HWC, so the tool fails ("Layout of the output array img is
   incompatible with cv::Mat"). We pass ``_draw_sem_seg`` a C-contiguous copy. Drop it when
   mmseg makes the array contiguous itself.

The start-up hook: ``pip install`` puts ``farcluss_mmseg_startup.pth`` into site-packages, which
makes every interpreter of that environment put :class:`farcluss_mmseg_startup.StartupFinder`
on ``sys.meta_path``. The finder answers only for ``mmcv._ext`` (1) and the two mmengine modules
of (3); the first time one of them is imported it loads this file on its own -- not the
package, whose ``__init__`` imports torch and mmseg -- and calls :func:`startup_find_spec`.
So this module imports only the standard library at module level (anything else inside
functions). ``FARCLUSS_MMSEG_NO_STARTUP_HOOK=1`` turns the hook off.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import pickle
import sys
import types
from typing import Callable, Optional, Sequence

__all__ = [
    'MissingCompiledOpError',
    'MMENGINE_CHECKPOINT_GLOBALS',
    'install',
    'mmcv_has_compiled_ops',
    'startup_find_spec',
]

MMCV_FULL_HINT = (
    'install the full mmcv 2.1.0 with its compiled ops instead of mmcv-lite '
    '(`pip uninstall -y mmcv-lite && pip install setuptools\\<70 && '
    'pip install --no-build-isolation mmcv==2.1.0`, or `make setup MMCV=full`)'
)


class MissingCompiledOpError(RuntimeError):
    """Raised when code calls an mmcv op that needs ``mmcv._ext`` under mmcv-lite."""


def _missing_op(name: str):
    """Module ``__getattr__`` of the stand-in: every compiled op is a function that raises."""
    if name.startswith('__'):
        raise AttributeError(name)

    def missing_op(*args, **kwargs):
        raise MissingCompiledOpError(
            f'mmcv compiled op `{name}` is not available: mmcv-lite is installed. '
            f'To use it, {MMCV_FULL_HINT}.'
        )

    missing_op.__name__ = name
    return missing_op


class _MmcvExtStubLoader(importlib.abc.Loader):
    """Creates the stand-in ``mmcv._ext`` for the import system."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        stub = types.ModuleType(spec.name)
        stub.__doc__ = 'farcluss_mmseg stand-in for the compiled ops missing from mmcv-lite.'
        stub.__getattr__ = _missing_op  # type: ignore[attr-defined]
        stub.IS_FARCLUSS_STUB = True  # type: ignore[attr-defined]
        return stub

    def exec_module(self, module: types.ModuleType) -> None:
        # A spec without a loader, as a module nobody can import has: mmengine's
        # mmcv_full_available() (pkgutil.find_loader) then sees mmcv-lite for what it is.
        module.__spec__ = importlib.machinery.ModuleSpec(module.__name__, None)
        module.__loader__ = None


def _mmcv_ext_is_compiled(path: Optional[Sequence[str]] = None) -> Optional[bool]:
    """Whether mmcv (searched in ``path``, default: where mmcv is) has a compiled ``_ext``.

    Returns None when mmcv itself is not installed. The stand-in is never found here: this
    asks the path finder directly, not ``sys.meta_path``.
    """
    if path is None:
        spec = importlib.util.find_spec('mmcv')  # a top-level name: nothing is imported
        if spec is None:
            return None
        path = spec.submodule_search_locations
    return importlib.machinery.PathFinder.find_spec('mmcv._ext', path) is not None


def _mmcv_ext_stub_spec(
    path: Optional[Sequence[str]] = None,
) -> Optional[importlib.machinery.ModuleSpec]:
    """The stand-in's spec when mmcv is installed without a compiled ``_ext``, else None."""
    if _mmcv_ext_is_compiled(path) is not False:
        return None
    return importlib.machinery.ModuleSpec('mmcv._ext', _MmcvExtStubLoader())


def _install_mmcv_ext_stub() -> bool:
    """Register the stand-in ``mmcv._ext`` when mmcv has none. Returns True if installed."""
    if 'mmcv._ext' in sys.modules:
        return False
    spec = _mmcv_ext_stub_spec()
    if spec is None:  # full mmcv, or no mmcv at all (mmseg will say so)
        return False
    stub = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stub)
    sys.modules['mmcv._ext'] = stub
    return True


def mmcv_has_compiled_ops() -> bool:
    """Whether the installed mmcv is the full build (not our stand-in)."""
    ext = sys.modules.get('mmcv._ext')
    if ext is None:
        return bool(_mmcv_ext_is_compiled())
    return not getattr(ext, 'IS_FARCLUSS_STUB', False)


def _register_config_package(config_utils: types.ModuleType) -> None:
    """Let mmengine resolve ``farcluss_mmseg::`` config paths (see point 3)."""
    config_utils.MODULE2PACKAGE.setdefault('farcluss_mmseg', 'farcluss_mmseg')


def _locating_installed_path(original: Callable[[str], str]) -> Callable[[str], str]:
    """``get_installed_path`` that finds this package where Python imports it from."""
    if getattr(original, 'farcluss_original', None) is not None:
        return original

    def get_installed_path(package: str) -> str:
        if package == 'farcluss_mmseg':
            spec = importlib.util.find_spec(package)
            if spec is not None and spec.origin is not None:
                return os.path.dirname(spec.origin)
        return original(package)

    get_installed_path.__doc__ = original.__doc__
    get_installed_path.farcluss_original = original  # type: ignore[attr-defined]
    return get_installed_path


def _patch_package_utils(package_utils: types.ModuleType) -> None:
    package_utils.get_installed_path = _locating_installed_path(package_utils.get_installed_path)


# What the start-up hook does after mmengine's own code of each module ran.
_AFTER_IMPORT = {
    'mmengine.config.utils': _register_config_package,
    'mmengine.utils.package_utils': _patch_package_utils,
}


def _patch_mmengine_config_lookup() -> None:
    """Apply point 3 to mmengine modules imported before this package (no start-up hook)."""
    for name, patch in _AFTER_IMPORT.items():
        if name in sys.modules:
            patch(sys.modules[name])
    # `from mmengine.utils import get_installed_path` copies made before the patch.
    for name in ('mmengine.utils', 'mmengine.config.config'):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, 'get_installed_path'):
            module.get_installed_path = _locating_installed_path(module.get_installed_path)


def _patch_seg_visualizer() -> None:
    """Give mmseg's ``_draw_sem_seg`` a C-contiguous image (see point 4)."""
    import numpy as np
    from mmseg.visualization import SegLocalVisualizer

    original = SegLocalVisualizer._draw_sem_seg
    if getattr(original, 'farcluss_original', None) is not None:
        return

    def _draw_sem_seg(self, image, *args, **kwargs):
        return original(self, np.ascontiguousarray(image), *args, **kwargs)

    _draw_sem_seg.__doc__ = original.__doc__
    _draw_sem_seg.farcluss_original = original  # type: ignore[attr-defined]
    SegLocalVisualizer._draw_sem_seg = _draw_sem_seg


class _PatchingLoader(importlib.abc.Loader):
    """Runs a module's own loader, then ``after(module)``."""

    def __init__(self, loader: importlib.abc.Loader, after: Callable) -> None:
        self.loader = loader
        self.after = after

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self.loader.exec_module(module)
        self.after(module)

    def __getattr__(self, name: str):  # get_source, get_resource_reader, ... of the real loader
        if name == 'loader':  # not set yet (e.g. while copying): no endless recursion
            raise AttributeError(name)
        return getattr(self.loader, name)


def startup_find_spec(
    fullname: str, path: Optional[Sequence[str]] = None
) -> Optional[importlib.machinery.ModuleSpec]:
    """The start-up hook's answer for ``fullname`` (see the module docstring).

    Args:
        fullname (str): ``mmcv._ext`` or a key of ``_AFTER_IMPORT``; other names get None.
        path (Sequence[str], optional): The parent package's ``__path__``.

    Returns:
        ModuleSpec | None: The stand-in's spec for ``mmcv._ext`` when mmcv has no compiled one;
        the real module's spec with a loader that patches it afterwards for the mmengine
        modules; None (let the other finders answer) otherwise.
    """
    if fullname == 'mmcv._ext':
        return _mmcv_ext_stub_spec(path)
    after = _AFTER_IMPORT.get(fullname)
    if after is None:
        return None
    spec = importlib.machinery.PathFinder.find_spec(fullname, path)
    if spec is not None and spec.loader is not None:
        spec.loader = _PatchingLoader(spec.loader, after)
    return spec


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


def load_from_local(filename: str, map_location=None):
    """mmengine's local loader with ``weights_only=True``, errors naming the file, and checks.

    Named like mmengine's own loader: ``CheckpointLoader`` logs the part after ``load_from_``
    as the backend ("Loads checkpoint by local backend"). Besides the allow-list it only adds
    what every local load needs and mmengine does not do: an error that says what is wrong
    with a file torch cannot read, and the integrity check of
    :func:`farcluss_mmseg.engine.checkpoint.check_loaded_checkpoint`.
    """
    import os

    import torch

    from farcluss_mmseg.engine.checkpoint import (
        CheckpointLoadError,
        check_loaded_checkpoint,
        diagnose_unloadable,
    )

    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    try:
        checkpoint = torch.load(filename, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        reason = diagnose_unloadable(filename, err)
        if reason is not None:
            raise CheckpointLoadError(reason) from err
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
    return check_loaded_checkpoint(filename, checkpoint)


def _install_checkpoint_allow_list() -> None:
    import torch
    from mmengine.runner.checkpoint import CheckpointLoader

    if not MMENGINE_CHECKPOINT_GLOBALS:
        MMENGINE_CHECKPOINT_GLOBALS.extend(_checkpoint_globals())
    if hasattr(torch.serialization, 'add_safe_globals'):  # torch >= 2.4
        torch.serialization.add_safe_globals(MMENGINE_CHECKPOINT_GLOBALS)
        CheckpointLoader.register_scheme(prefixes='', force=True)(load_from_local)


_installed = False


def install() -> None:
    """Apply the workarounds once; called when ``farcluss_mmseg`` is imported."""
    global _installed
    if _installed:
        return
    # The start-up hook may have loaded this file before its package: bind it there too.
    package = sys.modules.get(__name__.rpartition('.')[0])
    if package is not None:
        package.compat = sys.modules[__name__]
    _install_mmcv_ext_stub()
    _patch_mmengine_config_lookup()
    _patch_seg_visualizer()
    _install_checkpoint_allow_list()
    _installed = True
