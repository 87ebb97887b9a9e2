"""FARCLUSS for MMSegmentation 1.x.

Importing this package (configs do it through ``custom_imports``) applies the compatibility
layer in :mod:`farcluss_mmseg.compat` and registers the plugin's modules into mmseg's registries.
"""

from .compat import install as _install_compat

_install_compat()

from . import datasets, engine, evaluation, models  # noqa: E402,F401
from .version import __version__  # noqa: E402,F401
