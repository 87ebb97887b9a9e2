"""FARCLUSS configs replace ``custom_hooks``: they must keep the runtime's hooks."""

import glob
import os.path as osp

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RUNTIME_HOOKS = {'FiniteLossHook', 'NumClassesCheckHook', 'RandomStateHook'}


def mean_teacher_configs():
    paths = glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
    return sorted(p for p in paths if 'MeanTeacherHook' in open(p).read())


def test_runtime_hooks_are_the_expected_ones():
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'default_runtime.py'))
    assert {h['type'] for h in cfg.custom_hooks} == RUNTIME_HOOKS


@pytest.mark.parametrize('path', mean_teacher_configs(), ids=osp.basename)
def test_mean_teacher_configs_keep_the_runtime_hooks(path):
    # A custom_hooks list replaces the base's: each one must repeat the runtime hooks.
    text = open(path).read()
    assert all(f"type='{hook}'" in text for hook in RUNTIME_HOOKS), path
