"""The user's command lines that used to start and then fail: now stopped before training by
ConfigCheckHook, with an error naming the file or the config keys."""

import importlib.util
import json
import os.path as osp
import subprocess
import sys

from mmengine.config import Config

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))
spec = importlib.util.spec_from_file_location('e2e_helpers', osp.join(HERE, 'conftest.py'))
e2e = importlib.util.module_from_spec(spec)
spec.loader.exec_module(e2e)


def _with_check_hook(config: str, tmp_path) -> str:
    """``config``, or a leaf of it adding ConfigCheckHook when its runtime lacks the hook."""
    path = osp.join(REPO, config)
    if any(h['type'] == 'ConfigCheckHook' for h in Config.fromfile(path).custom_hooks):
        return path
    leaf = tmp_path / osp.basename(config)
    leaf.write_text(
        f'_base_ = [{path!r}]\n'
        "custom_hooks = [*_base_.custom_hooks, dict(type='ConfigCheckHook')]\n"
    )
    return str(leaf)


def _train(config: str, tmp_path, options, **env):
    args = ['tools/train.py', config, '--work-dir', str(tmp_path / 'work'), '--cfg-options']
    proc = subprocess.run(
        [sys.executable, *args, *options],
        cwd=REPO,
        env=e2e.tool_env(**env),
        capture_output=True,
        text=True,
        timeout=e2e.TIMEOUT,
    )
    assert proc.returncode != 0
    assert 'Iter(train)' not in proc.stdout + proc.stderr  # stopped before the first step
    return proc.stderr


def test_offline_pretrained_weights_stop_before_training(demo_data_root, tmp_path):
    # The user's step: a config naming open-mmlab://resnet..._v1c, on a machine without network.
    # mmengine's own remapping file sends the name to a port where nothing listens, so the
    # download fails here as it does offline (and never reaches the network on a CI machine).
    (tmp_path / 'mmengine').mkdir()
    url = 'http://127.0.0.1:9/pretrain/third_party/resnet18_v1c-b5776b93.pth'
    (tmp_path / 'mmengine' / 'open_mmlab.json').write_text(json.dumps({'resnet18_v1c': url}))
    config = _with_check_hook(e2e.BASELINE, tmp_path)
    options = e2e.tiny_options(e2e.BASELINE, demo_data_root)
    options.append('model.pretrained=open-mmlab://resnet18_v1c')
    stderr = _train(
        config,
        tmp_path,
        options,
        TORCH_HOME=str(tmp_path / 'torch'),
        MMENGINE_HOME=str(tmp_path / 'mmengine'),
    )
    cached = tmp_path / 'torch' / 'hub' / 'checkpoints' / 'resnet18_v1c-b5776b93.pth'
    assert (
        'FileNotFoundError: pretrained weights open-mmlab://resnet18_v1c (loaded by '
        'backbone) are not available: it is not in the cache, and downloading '
        f'{url} failed (URLError: <urlopen error [Errno 111] Connection refused>).\n'
        f'mmengine reads them from {cached} (the torch hub cache, '
        '<torch.hub.get_dir()>/checkpoints; $TORCH_HOME moves it).\n'
        f'Fix: copy the file downloaded from {url} to that path, or point `model.pretrained` '
        'at a local file (--cfg-options model.pretrained=/path/to/file.pth), or train from '
        'scratch with --cfg-options model.pretrained=None.\n'
    ) in stderr


def test_batch_size_keys_that_differ_stop_before_training(demo_data_root, tmp_path):
    # The user's step: the dataloader's batch size changed, the sampler's not.
    config = _with_check_hook(e2e.FARCLUSS, tmp_path)
    options = e2e.tiny_options(e2e.FARCLUSS, demo_data_root)
    options += ['train_dataloader.batch_size=4', 'train_dataloader.sampler.batch_size=6']
    stderr = _train(config, tmp_path, options)
    assert (
        'ValueError: train_dataloader.batch_size (4) and train_dataloader.sampler.batch_size (6) '
        'differ: MultiSourceSampler fills batches of its own batch_size with the sources in the '
        'ratio source_ratio; give both keys the same value, e.g. --cfg-options '
        'train_dataloader.batch_size=6 train_dataloader.sampler.batch_size=6\n'
    ) in stderr
