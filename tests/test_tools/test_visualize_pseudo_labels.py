"""tools/analysis_tools/visualize_pseudo_labels.py: a FARCLUSS checkpoint on the user's images."""

import importlib.util
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmseg.apis import inference_model, init_model
from PIL import Image

from farcluss_mmseg.models.losses import normalized_entropy

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# This folder's conftest.py (its functions; its fixtures reach the tests through pytest).
e2e = _load('e2e_helpers', osp.join(HERE, 'conftest.py'))
tool = _load(
    'visualize_pseudo_labels',
    osp.join(REPO, 'tools', 'analysis_tools', 'visualize_pseudo_labels.py'),
)


def test_panel_and_summary_for_own_images(farcluss_run, demo_data_root, tmp_path):
    images = [osp.join(demo_data_root, 'JPEGImages', f'demo_{i:06d}.jpg') for i in range(3)]
    out = tmp_path / 'out'
    proc = e2e.run_tool(
        [
            'tools/analysis_tools/visualize_pseudo_labels.py',
            farcluss_run.config,
            farcluss_run.checkpoint,
            *images,
            '--out',
            str(out),
            '--per-panel',
            '2',
        ]
    )
    assert f'wrote {out / "pseudo_labels_000.png"}: demo_000000.jpg, demo_000001.jpg' in proc.stdout
    assert f'wrote {out / "pseudo_labels_001.png"}: demo_000002.jpg' in proc.stdout
    # 2 images, 6 columns, no title; 1 image.
    assert np.array(Image.open(out / 'pseudo_labels_000.png')).shape == (530, 1320, 3)
    assert np.array(Image.open(out / 'pseudo_labels_001.png')).shape == (310, 1320, 3)
    summary = json.loads((out / 'summary.json').read_text())
    assert list(summary) == images

    # The same numbers from mmseg's own inference with the teacher (the default predictor).
    model = init_model(farcluss_run.config, farcluss_run.checkpoint, device='cpu')
    for path in images:
        result = inference_model(model, path)
        probs = result.seg_logits.data.softmax(0)[None]
        labels = result.pred_sem_seg.data[0]
        shares = (torch.bincount(labels.flatten(), minlength=8) / labels.numel()).tolist()
        found = [summary[path]['class_share'].get(str(c), 0.0) for c in range(8)]
        # A 4-iteration teacher's classes nearly tie (H close to 1), so the rounding of a
        # 3-image batch against mmseg's 1-image one flips a few of the 9216 pixels: 1e-3 is 9.
        assert found == pytest.approx(shares, abs=1e-3)
        entropy = float(normalized_entropy(probs).mean())
        assert summary[path]['mean_entropy'] == pytest.approx(entropy, abs=1e-5)
        assert 0.0 <= summary[path]['used_ratio'] <= 1.0


def test_missing_image_is_named(tmp_path):
    missing = str(tmp_path / 'nope.jpg')
    with pytest.raises(FileNotFoundError, match=f'^image {missing} does not exist$'):
        tool.list_images([missing])
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='no .jpg/.jpeg/.png/.bmp image in folder'):
        tool.list_images([str(tmp_path / 'empty')])
    Image.new('RGB', (4, 4)).save(tmp_path / 'b.png')
    Image.new('RGB', (4, 4)).save(tmp_path / 'a.jpg')
    (tmp_path / 'notes.txt').write_text('x')
    assert tool.list_images([str(tmp_path)]) == [str(tmp_path / 'a.jpg'), str(tmp_path / 'b.png')]


def test_images_are_scaled_and_padded_to_one_batch(tmp_path):
    Image.new('RGB', (100, 200), (7, 7, 7)).save(tmp_path / 'tall.png')
    assert tool.load_image(str(tmp_path / 'tall.png'), 50).shape == (50, 25, 3)
    assert tool.load_image(str(tmp_path / 'tall.png'), 512).shape == (200, 100, 3)
    big = np.full((32, 25, 3), 7, np.uint8)
    small = np.full((30, 40, 3), 9, np.uint8)
    weak, strong, valid = tool.make_batch([big, small], None, seed=0)
    assert weak.shape == (2, 3, 32, 40) and strong is None
    assert valid[0].sum() == 32 * 25 and valid[1].sum() == 30 * 40
    assert int(weak[1, 0, 30:].max()) == 0  # padding
