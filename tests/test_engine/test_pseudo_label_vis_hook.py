"""PseudoLabelVisHook: the panel reaches the vis backends every N iterations, training unchanged."""

import argparse
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner
from PIL import Image

from farcluss_mmseg.engine.hooks import PseudoLabelVisHook

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FARCLUSS = (
    'configs/farcluss/farcluss_deeplabv3plus_r18-w32-d8_1xb8+8-600it_farcluss-demo-1-16-96x96.py'
)


def _cfg(data_root, work_dir, hook=None, backends=('LocalVisBackend',)):
    """The demo FARCLUSS config: tiny model, 2 + 2 images a batch, 2 iterations."""
    cfg = Config.fromfile(osp.join(REPO, FARCLUSS))
    options = [
        'model.segmentor.backbone.base_channels=8',
        'model.segmentor.backbone.stem_channels=8',
        'model.segmentor.decode_head.in_channels=64',
        'model.segmentor.decode_head.c1_in_channels=8',
        'model.segmentor.decode_head.channels=16',
        'model.segmentor.decode_head.c1_channels=8',
        f'train_dataloader.dataset.datasets.0.data_root={data_root}',
        f'train_dataloader.dataset.datasets.1.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        'train_dataloader.batch_size=4',
        'train_dataloader.sampler.batch_size=4',
        'train_cfg.max_iters=2',
        'train_cfg.val_begin=1000000',
        'default_hooks.checkpoint.interval=1000000',
        'randomness.seed=0',
    ]
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    cfg.merge_from_dict(parser.parse_args(['--cfg-options', *options]).cfg_options)
    if hook is not None:
        cfg.custom_hooks = [*cfg.custom_hooks, hook]
    cfg.visualizer.vis_backends = [dict(type=b) for b in backends]
    cfg.visualizer.name = f'visualizer_{work_dir}'  # one visualizer per name and process
    cfg.work_dir = str(work_dir)
    return cfg


def test_panels_reach_the_backends_and_training_is_unchanged(demo_data_root, tmp_path):
    hook = dict(type='PseudoLabelVisHook', interval=1, num_images=2)
    with_hook = Runner.from_cfg(_cfg(demo_data_root, tmp_path / 'hook', hook))
    with_hook.train()
    images = sorted(glob.glob(str(tmp_path / 'hook' / '*' / 'vis_data' / 'vis_image' / '*.png')))
    assert [osp.basename(p) for p in images] == ['pseudo_labels_1.png', 'pseudo_labels_2.png']
    # 2 unlabeled images (rows) with their hidden labels: 7 columns, titled.
    assert np.array(Image.open(images[0])).shape == (570, 1540, 3)

    without = Runner.from_cfg(_cfg(demo_data_root, tmp_path / 'plain'))
    without.train()
    trained = with_hook.model.state_dict()
    for key, value in without.model.state_dict().items():
        assert torch.equal(trained[key], value), key  # the hook drew no training random number


def test_panels_reach_tensorboard(demo_data_root, tmp_path):
    pytest.importorskip('tensorboard')
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    hook = dict(type='PseudoLabelVisHook', interval=2, num_images=1)
    cfg = _cfg(demo_data_root, tmp_path, hook, backends=('TensorboardVisBackend',))
    Runner.from_cfg(cfg).train()
    (events,) = glob.glob(str(tmp_path / '*' / 'vis_data' / 'events.out.tfevents.*'))
    accumulator = EventAccumulator(events, size_guidance={'images': 0})
    accumulator.Reload()
    (image,) = accumulator.Images('pseudo_labels')
    assert image.step == 2
    assert (image.height, image.width) == (350, 1540)  # 1 row


@pytest.mark.parametrize(
    'kwargs, message',
    [
        (dict(interval=0), 'PseudoLabelVisHook: interval must be a positive int, got 0'),
        (dict(num_images=0), 'PseudoLabelVisHook: num_images must be a positive int, got 0'),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PseudoLabelVisHook(**kwargs)
