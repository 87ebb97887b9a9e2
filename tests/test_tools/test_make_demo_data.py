import glob
import hashlib
import json
import os
import os.path as osp
import re

import numpy as np
import pytest
from PIL import Image

from farcluss_mmseg.datasets import FarclussDemoDataset

POLE = 7


def _lines(root, name):
    with open(osp.join(root, 'splits', name)) as f:
        return f.read().splitlines()


def _hashes(root):
    files = sorted(glob.glob(osp.join(root, '**', '*.*'), recursive=True))
    return {osp.relpath(p, root): hashlib.sha256(open(p, 'rb').read()).hexdigest() for p in files}


def _label(root, stem):
    return np.array(Image.open(osp.join(root, 'SegmentationClass', f'{stem}.png')))


def test_split_lists_have_exact_counts(demo_data_root):
    train, val = _lines(demo_data_root, 'train.txt'), _lines(demo_data_root, 'val.txt')
    assert train == [f'demo_{i:06d}' for i in range(48)]
    assert val == [f'demo_{i:06d}' for i in range(48, 64)]
    for split, num_labeled in (('1_16', 3), ('1_8', 6)):  # ceil(48 / 16), ceil(48 / 8)
        labeled = _lines(demo_data_root, f'{split}/labeled.txt')
        unlabeled = _lines(demo_data_root, f'{split}/unlabeled.txt')
        assert len(labeled) == num_labeled and len(unlabeled) == 48 - num_labeled
        assert set(labeled).isdisjoint(unlabeled)
        assert sorted(labeled + unlabeled) == train
        assert labeled == sorted(labeled)
    with open(osp.join(demo_data_root, 'class_stats.json')) as f:
        counts = json.load(f)['counts']
    assert counts == {
        'train': 48,
        'val': 16,
        '1_16/labeled': 3,
        '1_16/unlabeled': 45,
        '1_8/labeled': 6,
        '1_8/unlabeled': 42,
    }


def test_files_follow_the_voc_layout(demo_data_root):
    img = Image.open(osp.join(demo_data_root, 'JPEGImages', 'demo_000000.jpg'))
    assert (img.format, img.mode, img.size) == ('JPEG', 'RGB', (96, 96))
    png = Image.open(osp.join(demo_data_root, 'SegmentationClass', 'demo_000000.png'))
    assert (png.format, png.mode, png.size) == ('PNG', 'P', (96, 96))
    palette = np.array(png.getpalette()[: 256 * 3]).reshape(256, 3)
    assert palette[:8].tolist() == FarclussDemoDataset.METAINFO['palette']
    assert palette[255].tolist() == [224, 224, 192]


def test_classes_are_long_tailed_with_a_rare_class(demo_data_root):
    counts = np.zeros(256, np.int64)
    has_pole = {}
    for stem in _lines(demo_data_root, 'train.txt'):
        label_counts = np.bincount(_label(demo_data_root, stem).ravel(), minlength=256)
        counts += label_counts
        has_pole[stem] = label_counts[POLE] > 0
    assert np.flatnonzero(counts).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 255]
    share = counts / counts.sum()
    assert 0 < share[POLE] < 0.01  # the rare class (just under 1 % in these 48 images)
    assert share[:8].argmin() == POLE and share[:8].max() > 30 * share[POLE]
    assert 0.01 < share[255] < 0.1  # the ignore band
    with open(osp.join(demo_data_root, 'class_stats.json')) as f:
        stats = json.load(f)
    names = list(FarclussDemoDataset.METAINFO['classes'])
    assert stats['classes'] == names
    measured = dict(zip(names + ['ignore'], share[list(range(8)) + [255]]))
    assert stats['train_pixel_frequency'] == pytest.approx(measured, abs=1e-6)
    assert stats['train_images_with_class']['pole'] == sum(has_pole.values())
    for split in ('1_16', '1_8'):
        assert any(has_pole[stem] for stem in _lines(demo_data_root, f'{split}/labeled.txt'))


def _runs(mask):
    """Lengths of the runs of True along the last axis."""
    padded = np.pad(mask.astype(np.int8), [(0, 0)] * (mask.ndim - 1) + [(1, 1)])
    edges = np.diff(padded, axis=-1)
    return np.flatnonzero(edges.ravel() == -1) - np.flatnonzero(edges.ravel() == 1)


def test_rare_class_is_rare_but_wide_enough_for_the_output_stride(tmp_path, make_demo_data_tool):
    out = str(tmp_path / 'demo')
    stats = make_demo_data_tool.make_demo_data(out, num_train=160, num_val=1, verbose=False)
    widths, images, pixels = [], 0, 0
    for stem in _lines(out, 'train.txt'):
        pole = _label(out, stem) == POLE
        pixels += pole.sum()
        if pole.any():
            images += 1
            widths.append(_runs(pole))  # horizontal extent of every row of every pole
    assert images == stats['train_images_with_class']['pole']
    assert images == 30  # about one image in five
    assert 0.005 < pixels / (160 * 96 * 96) < 0.01  # under 1 % of the pixels (0.73 % here)
    widths = np.concatenate(widths)
    # The shaft (the crossarm is wider) is 8-11 % of 96 px (7.7-10.6 px) less the 1 px ignore
    # band, tapering to 0.8 of that at the top: about one stride-8 output cell.
    assert np.median(widths) == 8
    assert np.percentile(widths, 25) >= 6  # shorter rows: occluded or cut by the image edge


def test_output_is_byte_identical_for_a_seed(tmp_path, make_demo_data_tool):
    make = make_demo_data_tool.make_demo_data
    for name, seed, num_train in (('a', 0, 16), ('b', 0, 16), ('c', 2, 16), ('d', 0, 17)):
        make(
            str(tmp_path / name), seed=seed, num_train=num_train, num_val=2, size=32, verbose=False
        )
    a, b, c, d = (_hashes(str(tmp_path / name)) for name in 'abcd')
    assert len(a) == 2 * 18 + 6 + 1  # images, labels, split lists, class_stats.json
    assert a == b
    assert all(a[f] != c[f] for f in a if f.endswith(('.jpg', '.png')))
    assert a['JPEGImages/demo_000000.jpg'] == d['JPEGImages/demo_000000.jpg']  # index-seeded


def test_rerun_skips_an_identical_dataset_and_force_regenerates(tmp_path, make_demo_data_tool):
    out, make = str(tmp_path / 'demo'), make_demo_data_tool.make_demo_data
    make(out, num_train=16, num_val=2, size=32, verbose=False)
    jpg = osp.join(out, 'JPEGImages', 'demo_000003.jpg')
    png = osp.join(out, 'SegmentationClass', 'demo_000004.png')
    original = open(jpg, 'rb').read()
    with open(jpg, 'wb') as f:
        f.write(b'edited')
    make(out, num_train=16, num_val=2, size=32, verbose=False)
    assert open(jpg, 'rb').read() == b'edited'  # skipped: same arguments, all files exist
    make(out, num_train=16, num_val=2, size=32, force=True, verbose=False)
    assert open(jpg, 'rb').read() == original
    with open(jpg, 'wb') as f:
        f.write(b'edited')
    make(out, num_train=16, num_val=2, size=32, seed=0, verbose=False)
    assert open(jpg, 'rb').read() == b'edited'
    make(out, num_train=16, num_val=2, size=32, seed=5, verbose=False)  # other arguments
    assert open(jpg, 'rb').read() not in (b'edited', original)
    make(out, num_train=16, num_val=2, size=32, verbose=False)
    assert open(jpg, 'rb').read() == original
    os.remove(png)
    make(out, num_train=16, num_val=2, size=32, verbose=False)  # a missing file: regenerate
    assert osp.isfile(png)


def test_draw_labeled_redraws_until_the_rare_class_is_in(make_demo_data_tool):
    has_rare = np.zeros(32, bool)
    has_rare[2] = True
    chosen, redraws = make_demo_data_tool.draw_labeled(has_rare, denominator=16, seed=0)
    expected_redraws = next(
        a
        for a in range(1000)
        if 2 in np.random.default_rng([0, 16, a]).choice(32, size=2, replace=False)
    )
    assert expected_redraws > 0
    assert (redraws, len(chosen), 2 in chosen) == (expected_redraws, 2, True)
    chosen, _ = make_demo_data_tool.draw_labeled(np.ones(33, bool), denominator=16, seed=0)
    assert len(chosen) == 3  # ceil(33 / 16)
    with pytest.raises(ValueError, match="no train image contains the rare class 'pole'"):
        make_demo_data_tool.draw_labeled(np.zeros(32, bool), denominator=16, seed=0)


@pytest.mark.parametrize(
    'kwargs', [dict(num_train=15), dict(num_val=0), dict(size=129), dict(seed=-1)]
)
def test_bad_arguments_are_refused(tmp_path, make_demo_data_tool, kwargs):
    args = {**dict(seed=0, num_train=16, num_val=1, size=96), **kwargs}
    message = re.escape(
        'need seed >= 0, num_train >= 16, num_val >= 1 and 32 <= size <= 128, got '
        + ', '.join(f'{k}={args[k]}' for k in ('seed', 'num_train', 'num_val', 'size'))
    )
    with pytest.raises(ValueError, match=message):
        make_demo_data_tool.make_demo_data(str(tmp_path), **args)


def test_command_line_prints_the_summary(tmp_path, capsys, make_demo_data_tool):
    out = str(tmp_path / 'demo')
    args = ['--out', out, '--num-train', '16', '--num-val', '2', '--size', '32']
    stats = make_demo_data_tool.main(args)
    printed = capsys.readouterr().out
    redraws = stats['redraws']['1_16']
    assert redraws > 0  # 4 of the 16 images hold a pole: the first draw of one image missed
    assert re.search(rf'\n1_16/labeled +1  \(redraws for the rare class: {redraws}\)\n', printed)
    assert re.search(r'\n1_8/unlabeled +14\n', printed)
    assert re.search(r'pole +\d+\.\d\d %  \(\d+ images\)  <- rare class', printed)
    make_demo_data_tool.main(['--out', out, '--num-train', '16', '--num-val', '2', '--size', '32'])
    assert 'already holds this dataset (--force regenerates)' in capsys.readouterr().out
    with pytest.raises(SystemExit):
        make_demo_data_tool.main(['--out', out, '--num-labeled', '3'])
