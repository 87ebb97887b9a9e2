"""Shared fixtures: the generated demo dataset and hand-written tiny VOC-layout datasets."""

import importlib.util
import os
import os.path as osp
from types import ModuleType
from typing import Callable, Dict, Optional, Sequence

import numpy as np
import pytest
from PIL import Image

import farcluss_mmseg  # noqa: F401  (its compat layer must come before test modules import mmseg)

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_tool(name: str) -> ModuleType:
    """Import ``tools/<name>.py`` (the tools folder is not a package)."""
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO_ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def make_demo_data_tool() -> ModuleType:
    """The module ``tools/make_demo_data.py``."""
    return load_tool('make_demo_data')


@pytest.fixture(scope='session')
def demo_data_root(tmp_path_factory, make_demo_data_tool) -> str:
    """A small demo dataset, generated once per session: seed 0, 48 train and 16 val images
    of 96x96 px; ``splits/1_16/labeled.txt`` has 3 images, ``splits/1_8/labeled.txt`` 6.

    Treat it as read-only (copy it before changing files).
    """
    root = str(tmp_path_factory.mktemp('farcluss_demo'))
    make_demo_data_tool.make_demo_data(root, seed=0, num_train=48, num_val=16, verbose=False)
    return root


@pytest.fixture
def make_tiny_voc(tmp_path) -> Callable:
    """Factory writing a VOC-layout dataset below ``tmp_path`` and returning its root.

    ``make(labels, lines=None)``: ``labels`` maps each stem to its label array (uint8 (H, W),
    written as a palette PNG) or to None (no label file); every stem gets a grey JPEG of the
    label's size (4x4 when None). ``splits/train.txt`` holds ``lines`` (default: the stems).
    """

    def make(labels: Dict[str, Optional[np.ndarray]], lines: Optional[Sequence[str]] = None):
        root = str(tmp_path / 'tiny_voc')
        for folder in ('JPEGImages', 'SegmentationClass', 'splits'):
            os.makedirs(osp.join(root, folder), exist_ok=True)
        for stem, label in labels.items():
            shape = (4, 4) if label is None else label.shape
            img = np.full(shape + (3,), 128, np.uint8)
            Image.fromarray(img).save(osp.join(root, 'JPEGImages', f'{stem}.jpg'), quality=95)
            if label is not None:
                label = np.ascontiguousarray(label, np.uint8)
                png = Image.frombytes('P', label.shape[::-1], label.tobytes())
                png.putpalette([0, 0, 0] * 256)
                png.save(osp.join(root, 'SegmentationClass', f'{stem}.png'))
        with open(osp.join(root, 'splits', 'train.txt'), 'w') as f:
            f.write(''.join(f'{line}\n' for line in (labels if lines is None else lines)))
        return root

    return make
