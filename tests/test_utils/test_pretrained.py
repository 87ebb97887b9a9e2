"""Pretrained weights offline: resolved like mmengine, an error naming file, cache and key.

No test reaches the network: URLs point at 127.0.0.1:9 (the discard port, where nothing
listens), so a download fails at once with "connection refused", as it does offline.
"""

import json
import os.path as osp
import re

import pytest
import torch
from mmseg.models.backbones import ResNetV1c
from torch import nn

from farcluss_mmseg.utils.pretrained import (
    check_pretrained_checkpoints,
    find_config_keys,
    find_pretrained,
    resolve_checkpoint,
)

DEAD_URL = 'http://127.0.0.1:9/weights/resnet18_v1c-tiny.pth'


@pytest.fixture
def caches(tmp_path, monkeypatch):
    """torch's hub cache and mmengine's home in ``tmp_path``; returns the checkpoints folder."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    monkeypatch.setenv('MMENGINE_HOME', str(tmp_path / 'mmengine'))
    return tmp_path / 'torch' / 'hub' / 'checkpoints'


def _backbone(checkpoint):
    return ResNetV1c(
        depth=18,
        base_channels=4,
        stem_channels=4,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint),
    )


def test_resolve_checkpoint_like_mmengine(caches, tmp_path):
    assert resolve_checkpoint('work/r18.pth') == (None, 'work/r18.pth')
    assert resolve_checkpoint(DEAD_URL) == (DEAD_URL, str(caches / 'resnet18_v1c-tiny.pth'))
    url = 'https://download.openmmlab.com/pretrain/third_party/resnet101_v1c-e67eebb6.pth'
    expected = (url, str(caches / 'resnet101_v1c-e67eebb6.pth'))
    assert resolve_checkpoint('open-mmlab://resnet101_v1c') == expected
    assert resolve_checkpoint('openmmlab://resnet101_v1c') == expected
    assert resolve_checkpoint('s3://bucket/r18.pth') == (None, None)  # other backends: unchecked
    message = (
        'pretrained checkpoint open-mmlab://resnet7_v1c: mmengine knows no model named '
        "'resnet7_v1c' under open-mmlab:// (see mmengine/hub/*.json)"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        resolve_checkpoint('open-mmlab://resnet7_v1c')


def test_find_pretrained_and_config_keys():
    model = nn.Module()
    model.student = nn.Module()
    model.student.backbone = _backbone('open-mmlab://resnet18_v1c')
    model.teacher = nn.Module()
    model.teacher.backbone = _backbone('open-mmlab://resnet18_v1c')
    model.head = nn.Conv2d(1, 1, 1)
    assert find_pretrained(model) == [
        ('open-mmlab://resnet18_v1c', 'student.backbone, teacher.backbone')
    ]
    cfg = dict(
        type='FARCLUSS',
        segmentor=dict(pretrained='x', backbone=dict(init_cfg=[dict(checkpoint='x')])),
    )
    assert find_config_keys(cfg, 'x') == [
        'model.segmentor.pretrained',
        'model.segmentor.backbone.init_cfg.0.checkpoint',
    ]


def test_missing_url_checkpoint_names_file_cache_and_key(caches):
    backbone = _backbone(DEAD_URL)
    cfg = dict(type='EncoderDecoder', pretrained=DEAD_URL, backbone=dict(type='ResNetV1c'))
    path = caches / 'resnet18_v1c-tiny.pth'
    expected = (
        f'pretrained weights {DEAD_URL} (loaded by <model>) are not available: it is not in the '
        f'cache, and downloading {DEAD_URL} failed (URLError: <urlopen error [Errno 111] '
        'Connection refused>).\n'
        f'mmengine reads them from {path} (the torch hub cache, <torch.hub.get_dir()>/checkpoints; '
        '$TORCH_HOME moves it).\n'
        f'Fix: copy the file downloaded from {DEAD_URL} to that path, or point `model.pretrained` '
        'at a local file (--cfg-options model.pretrained=/path/to/file.pth), or train from '
        'scratch with --cfg-options model.pretrained=None.'
    )
    with pytest.raises(FileNotFoundError) as info:
        check_pretrained_checkpoints(backbone, cfg)
    assert str(info.value) == expected
    # The file put where the message says: no error, nothing fetched, and mmengine loads it.
    torch.save(_backbone(None).state_dict(), path)
    check_pretrained_checkpoints(backbone, cfg)
    backbone.init_weights()
    assert backbone.is_init


def test_missing_local_file_and_init_cfg_key(caches, tmp_path):
    missing = str(tmp_path / 'r18.pth')
    cfg = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=missing)))
    expected = (
        f'pretrained weights {missing} (loaded by <model>) are not available: the file does not '
        'exist.\nFix: point `model.backbone.init_cfg.checkpoint` at a local file (--cfg-options '
        'model.backbone.init_cfg.checkpoint=/path/to/file.pth), or train from scratch with '
        '--cfg-options model.backbone.init_cfg=None.'
    )
    with pytest.raises(FileNotFoundError) as info:
        check_pretrained_checkpoints(_backbone(missing), cfg)
    assert str(info.value) == expected
    with pytest.raises(FileNotFoundError, match=r'point the config key that names it \(the '):
        check_pretrained_checkpoints(_backbone(missing))  # no config: the generic hint


def test_open_mmlab_name_resolved_through_mmengine_home(caches, tmp_path):
    # mmengine lets a user remap open-mmlab:// names in $MMENGINE_HOME/open_mmlab.json.
    (tmp_path / 'mmengine').mkdir()
    (tmp_path / 'mmengine' / 'open_mmlab.json').write_text(json.dumps({'resnet18_v1c': DEAD_URL}))
    name = 'open-mmlab://resnet18_v1c'
    cfg = dict(type='FARCLUSS', segmentor=dict(pretrained=name))
    with pytest.raises(FileNotFoundError) as info:
        check_pretrained_checkpoints(_backbone(name), cfg)
    lines = str(info.value).splitlines()
    assert lines[0].startswith(f'pretrained weights {name} (loaded by <model>) are not available')
    assert lines[1].startswith(f'mmengine reads them from {caches / "resnet18_v1c-tiny.pth"} (')
    assert lines[2].endswith(
        'point `model.segmentor.pretrained` at a local file (--cfg-options '
        'model.segmentor.pretrained=/path/to/file.pth), or train from scratch with --cfg-options '
        'model.segmentor.pretrained=None.'
    )
    assert not osp.exists(caches / 'resnet18_v1c-tiny.pth')
