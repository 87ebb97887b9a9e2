"""Every semi-supervised config resolves to its method base (configs/_base_/methods/): the model
wrapping, the method's values and its hooks come from that one file."""

import functools
import glob
import os.path as osp

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
METHOD_BASES = {
    'FARCLUSS': 'farcluss.py',
    'HardLabelMeanTeacher': 'mean_teacher.py',
    'UniMatch': 'unimatch.py',
}
# Leaves that change the method on purpose, and the one value each changes (dotted path).
CHANGED = {
    '_class-weight-top1.py': ('unsup_loss.class_weight_mode', 'top1'),
    '_k1.py': ('semi_train_cfg.top_k', 1),
    '_k3.py': ('semi_train_cfg.top_k', 3),
    '_median-all.py': ('unsup_loss.median_over', 'all'),
    '_no-contrast.py': ('contrast_loss', None),
    '_no-entropy-threshold.py': ('semi_train_cfg.entropy_threshold', None),
    '_no-entropy-weight.py': ('semi_train_cfg.entropy_weight', False),
    '_no-feature-perturbation.py': ('semi_train_cfg.feature_perturbation', False),
    '_no-rebalance.py': ('unsup_loss.class_weight_mode', 'none'),
    '_no-threshold.py': ('semi_train_cfg.confidence_threshold', None),
    'cityscapes-1-16-801x801.py': ('semi_train_cfg.confidence_threshold', 0.0),  # UniMatch
}


@functools.lru_cache(maxsize=None)
def resolved(rel):
    return Config.fromfile(osp.join(REPO, rel)).to_dict()


def semi_configs():
    paths = glob.glob(osp.join(REPO, 'configs', '*', '**', '*.py'), recursive=True)
    paths = [p for p in paths if '_base_' not in p and 'baselines' not in p]
    return sorted(osp.relpath(p, REPO) for p in paths)


def _flatten(d, prefix=''):
    out = {}
    for key, value in d.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f'{prefix}{key}.'))
        else:
            out[f'{prefix}{key}'] = value
    return out


def test_every_semi_config_is_found():
    types = [resolved(p)['model']['type'] for p in semi_configs()]
    counts = {t: types.count(t) for t in set(types)}
    # 47 benchmark, demo (600 and 500 iterations), AMP and alias FARCLUSS configs + 10 ablations,
    # 2 hard-label mean teachers, 3 UniMatch configs.
    assert counts == {'FARCLUSS': 57, 'HardLabelMeanTeacher': 2, 'UniMatch': 3}


@pytest.mark.parametrize('rel', semi_configs())
def test_config_resolves_to_its_method_base(rel):
    cfg = resolved(rel)
    base = resolved(osp.join('configs', '_base_', 'methods', METHOD_BASES[cfg['model']['type']]))
    ours = {k: v for k, v in cfg['model'].items() if k != 'segmentor'}
    expected = _flatten(base['method'])
    for suffix, (path, value) in CHANGED.items():
        if rel.endswith(suffix) and not (suffix.startswith('city') and 'unimatch' not in rel):
            if path in expected or path == 'contrast_loss':
                expected = {k: v for k, v in expected.items() if not k.startswith(path)}
            expected[path] = value
    if 'farcluss-demo' in rel:  # the demo's shared burn-in and monitored rare class
        expected.update({'semi_train_cfg.burn_in_iters': 200, 'semi_train_cfg.rare_class': 7})
    assert _flatten(ours) == expected
    runtime = resolved(osp.join('configs', '_base_', 'default_runtime.py'))
    assert cfg['custom_hooks'] == runtime['custom_hooks'] + base['method_hooks']
    assert cfg['model']['segmentor']['type'] == 'EncoderDecoder'
