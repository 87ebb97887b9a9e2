"""Registries of the ``farcluss_mmseg`` scope, for configs that inherit a shipped config.

A config with ``_base_ = ['farcluss_mmseg::farcluss/<config>.py']`` gets, from mmengine, a
``_scope_='farcluss_mmseg'`` on what it inherits, and mmengine then builds those parts with the
registries of that scope, found by importing this module. The plugin registers its modules
into mmseg's own registries (so plain mmseg configs see them too); each registry here is an
empty child of mmseg's, so a lookup in the ``farcluss_mmseg`` scope falls through to mmseg's
(and mmengine's) modules, ours included.
"""

from mmengine.registry import Registry
from mmseg import registry as _mmseg

__all__ = [
    'DATA_SAMPLERS',
    'DATASETS',
    'EVALUATOR',
    'HOOKS',
    'INFERENCERS',
    'LOG_PROCESSORS',
    'LOOPS',
    'METRICS',
    'MODEL_WRAPPERS',
    'MODELS',
    'OPTIM_WRAPPER_CONSTRUCTORS',
    'OPTIM_WRAPPERS',
    'OPTIMIZERS',
    'PARAM_SCHEDULERS',
    'RUNNER_CONSTRUCTORS',
    'RUNNERS',
    'TASK_UTILS',
    'TRANSFORMS',
    'VISBACKENDS',
    'VISUALIZERS',
    'WEIGHT_INITIALIZERS',
]


def _child(name: str) -> Registry:
    parent = getattr(_mmseg, name)
    # `locations` makes a lookup import the plugin first, so its modules are registered.
    return Registry(
        parent.name, parent=parent, scope='farcluss_mmseg', locations=['farcluss_mmseg']
    )


DATA_SAMPLERS = _child('DATA_SAMPLERS')
DATASETS = _child('DATASETS')
EVALUATOR = _child('EVALUATOR')
HOOKS = _child('HOOKS')
INFERENCERS = _child('INFERENCERS')
LOG_PROCESSORS = _child('LOG_PROCESSORS')
LOOPS = _child('LOOPS')
METRICS = _child('METRICS')
MODEL_WRAPPERS = _child('MODEL_WRAPPERS')
MODELS = _child('MODELS')
OPTIM_WRAPPER_CONSTRUCTORS = _child('OPTIM_WRAPPER_CONSTRUCTORS')
OPTIM_WRAPPERS = _child('OPTIM_WRAPPERS')
OPTIMIZERS = _child('OPTIMIZERS')
PARAM_SCHEDULERS = _child('PARAM_SCHEDULERS')
RUNNER_CONSTRUCTORS = _child('RUNNER_CONSTRUCTORS')
RUNNERS = _child('RUNNERS')
TASK_UTILS = _child('TASK_UTILS')
TRANSFORMS = _child('TRANSFORMS')
VISBACKENDS = _child('VISBACKENDS')
VISUALIZERS = _child('VISUALIZERS')
WEIGHT_INITIALIZERS = _child('WEIGHT_INITIALIZERS')
