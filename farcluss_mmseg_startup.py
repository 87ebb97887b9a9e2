"""Start-up hook of ``farcluss_mmseg``, imported by ``farcluss_mmseg_startup.pth``.

``pip install`` (editable or not) puts that ``.pth`` file into site-packages, so every
interpreter of the environment runs :func:`install` at start-up. It only puts a finder on
``sys.meta_path``, which answers for the three module names in :data:`TARGETS` and for nothing
else. The first time one of them is imported, it loads ``farcluss_mmseg/compat.py`` on its own
(not the package, whose ``__init__`` imports torch and mmseg) and lets
``farcluss_mmseg.compat.startup_find_spec`` answer: a stand-in ``mmcv._ext`` under mmcv-lite
(so ``from mmseg.apis import init_model`` works as a script's first line), and
``farcluss_mmseg::`` config paths for mmengine. The why of each lives in that module.

Set ``FARCLUSS_MMSEG_NO_STARTUP_HOOK=1`` to turn the hook off.
"""

import os
import sys

TARGETS = frozenset({'mmcv._ext', 'mmengine.config.utils', 'mmengine.utils.package_utils'})
DISABLE_VAR = 'FARCLUSS_MMSEG_NO_STARTUP_HOOK'


def load_compat():
    """``farcluss_mmseg.compat`` without running the package's ``__init__``; None if absent."""
    module = sys.modules.get('farcluss_mmseg.compat')
    if module is not None:
        return module
    import importlib.util

    package = importlib.util.find_spec('farcluss_mmseg')  # a top-level name: nothing runs
    folders = [] if package is None else package.submodule_search_locations or []
    paths = [os.path.join(f, 'compat.py') for f in folders]
    paths = [p for p in paths if os.path.isfile(p)]
    if not paths:
        return None
    spec = importlib.util.spec_from_file_location('farcluss_mmseg.compat', paths[0])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # `import farcluss_mmseg` later reuses this module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[spec.name]
        raise
    return module


class StartupFinder:
    """A ``sys.meta_path`` finder answering only for :data:`TARGETS`."""

    @staticmethod
    def find_spec(fullname, path=None, target=None):
        if fullname not in TARGETS:
            return None
        compat = load_compat()
        return None if compat is None else compat.startup_find_spec(fullname, path)


def install() -> None:
    """Put :class:`StartupFinder` first on ``sys.meta_path`` (once), unless turned off."""
    if os.environ.get(DISABLE_VAR, '') not in ('', '0'):
        return
    if not any(isinstance(f, StartupFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, StartupFinder())
