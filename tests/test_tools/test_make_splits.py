import importlib.util
import os.path as osp
import re
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from farcluss_mmseg.utils.splits import read_stem_list

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load_tool():
    path = osp.join(REPO, 'tools', 'make_splits.py')
    spec = importlib.util.spec_from_file_location('make_splits', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load_tool()
RARE = ('img_05', 'img_17')  # the only images with class 2


@pytest.fixture
def data_root(tmp_path):
    """32 images; class 0 everywhere, class 1 in even images, class 2 in two, 255 ignored."""
    root = tmp_path / 'data'
    (root / 'img').mkdir(parents=True)
    (root / 'ann').mkdir()
    for i in range(32):
        stem = f'img_{i:02d}'
        (root / 'img' / f'{stem}.jpg').write_bytes(b'')
        label = np.zeros((4, 4), np.uint8)
        label[0, 0] = 255
        if i % 2 == 0:
            label[1] = 1
        if stem in RARE:
            label[3] = 2
        Image.fromarray(label).save(root / 'ann' / f'{stem}.png')
    return root


def _run(root, *extra, seed=0, out='out'):
    argv = [str(root), '--img-dir', 'img', '--img-suffix', '.jpg', '--seed', str(seed)]
    return tool.main(argv + ['--out', str(root / out), *extra])


def test_counts_and_files(data_root):
    res = _run(data_root, '--ratio', '1/16', '--ratio', '0.125')
    assert {k: (len(lab), len(unl)) for k, (lab, unl) in res.items()} == {
        '1_16': (2, 30),
        '1_8': (4, 28),
    }
    pool = {f'img_{i:02d}' for i in range(32)}
    for name, (labeled, unlabeled) in res.items():
        assert not set(labeled) & set(unlabeled)
        assert set(labeled) | set(unlabeled) == pool
        assert read_stem_list(str(data_root / 'out' / name / 'labeled.txt')) == labeled
        assert read_stem_list(str(data_root / 'out' / name / 'unlabeled.txt')) == unlabeled
    # one seeded shuffle: the smaller labeled set lies inside the larger
    assert set(res['1_16'][0]) < set(res['1_8'][0])


def test_deterministic_per_seed(data_root):
    first = _run(data_root, '--ratio', '1/8', seed=3, out='a')
    again = _run(data_root, '--ratio', '1/8', seed=3, out='b')
    other = _run(data_root, '--ratio', '1/8', seed=4, out='c')
    assert first == again
    assert first['1_8'][0] != other['1_8'][0]


@pytest.mark.parametrize('seed', [0, 1, 2, 3, 4])
def test_class_aware_covers_rare_class(data_root, seed, capsys):
    res = _run(
        data_root,
        '--ratio',
        '1/16',
        '--seg-dir',
        'ann',
        '--seg-suffix',
        '.png',
        '--class-aware',
        '--num-classes',
        '3',
        seed=seed,
    )
    labeled = res['1_16'][0]
    assert len(labeled) == 2
    assert len(set(labeled) & set(RARE)) >= 1  # class 2
    assert any(int(s[-2:]) % 2 == 0 for s in labeled)  # class 1
    table = capsys.readouterr().out.splitlines()
    assert table[0] == f'1_16: 2 labeled + 30 unlabeled = 32 -> {data_root / "out" / "1_16"}'
    assert table[2].split() == ['0', '32', '2']
    assert table[4].split()[:2] == ['2', '2']


def test_class_aware_reports_uncovered(data_root):
    classes = {'a': {0, 2}, 'b': {1}, 'c': {0}, 'd': {3}}
    # rarest first (1, 2, 3 in one image each; ties by id) -> b, a; k=2 leaves 3 uncovered
    assert tool.draw_class_aware(classes, 2, seed=0) == ['a', 'b']
    table = tool.format_class_table(classes, ['a', 'b'])
    assert table.splitlines()[-1] == '  too few labeled images to cover classes [3]'


def test_labeled_count_matches_published_splits():
    f = Fraction
    assert tool.labeled_count(f(1, 16), 10582) == 662
    assert tool.labeled_count(f(1, 8), 10582) == 1323
    assert tool.labeled_count(f(1, 4), 10582) == 2646
    assert tool.labeled_count(f(1, 30), 2975) == 100
    assert tool.labeled_count(f(1, 16), 2975) == 186
    assert tool.labeled_count(f(1, 2), 2975) == 1488
    assert tool.labeled_count(f(1, 16), 8) == 1  # at least one
    with pytest.raises(ValueError, match='labels 1 images, leaving none unlabeled'):
        tool.labeled_count(f(1, 2), 1)


def test_parse_ratio():
    assert tool.parse_ratio('1/16') == tool.parse_ratio('1_16') == tool.parse_ratio('0.0625')
    assert tool.ratio_name(tool.parse_ratio('0.125')) == '1_8'
    with pytest.raises(ValueError, match=re.escape("--ratio '2' must lie strictly between 0")):
        tool.parse_ratio('2')
    with pytest.raises(ValueError, match="--ratio 'half' is not a fraction like 1/16"):
        tool.parse_ratio('half')


def test_nested_pool_and_pool_list(tmp_path):
    root = tmp_path / 'city'
    for stem in ('aachen/aachen_0', 'bonn/bonn_1', 'bonn/bonn_2', 'bonn/bonn_3'):
        (root / 'leftImg8bit' / 'train' / osp.dirname(stem)).mkdir(parents=True, exist_ok=True)
        (root / 'leftImg8bit' / 'train' / f'{stem}_leftImg8bit.png').write_bytes(b'')
    (root / 'leftImg8bit' / 'train' / 'bonn' / 'notes.txt').write_text('not an image')
    img_root = str(root / 'leftImg8bit' / 'train')
    assert tool.scan_pool(img_root, '_leftImg8bit.png') == [
        'aachen/aachen_0',
        'bonn/bonn_1',
        'bonn/bonn_2',
        'bonn/bonn_3',
    ]
    (tmp_path / 'pool.txt').write_text('bonn/bonn_1\nbonn/bonn_2\nbonn/bonn_3\n')
    argv = [str(root), '--img-dir', 'leftImg8bit/train', '--img-suffix', '_leftImg8bit.png']
    res = tool.main(argv + ['--ratio', '1/2', '--pool', str(tmp_path / 'pool.txt')])
    labeled, unlabeled = res['1_2']
    assert (len(labeled), len(unlabeled)) == (2, 1)
    assert set(labeled + unlabeled) == {'bonn/bonn_1', 'bonn/bonn_2', 'bonn/bonn_3'}
    assert osp.isfile(root / 'splits' / 'seed0' / '1_2' / 'labeled.txt')


def test_errors(data_root):
    (data_root / 'ann' / 'img_31.png').unlink()
    seg = ['--seg-dir', 'ann', '--seg-suffix', '.png']
    msg = (
        f'1 of 32 labels listed in {data_root / "img"}/**/*.jpg are missing under '
        f'{data_root / "ann"}: img_31.png'
    )
    with pytest.raises(FileNotFoundError, match=re.escape(msg)):
        _run(data_root, '--ratio', '1/8', *seg)
    with pytest.raises(ValueError, match='--class-aware needs --seg-dir, --seg-suffix and'):
        _run(data_root, '--ratio', '1/8', '--class-aware', '--num-classes', '3')
    with pytest.raises(ValueError, match='--num-classes and --reduce-zero-label only apply'):
        _run(data_root, '--ratio', '1/8', '--num-classes', '3')

    Image.fromarray(np.zeros((4, 4), np.uint8)).save(data_root / 'ann' / 'img_31.png')
    msg = (
        f'{data_root / "ann" / "img_05.png"}: label values [2] are outside 0..1 and the ignore '
        'index 255'
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        _run(data_root, '--ratio', '1/8', *seg, '--class-aware', '--num-classes', '2')

    _run(data_root, '--ratio', '1/8')
    with pytest.raises(FileExistsError, match='labeled.txt exists; pass --overwrite'):
        _run(data_root, '--ratio', '1/8')
    assert _run(data_root, '--ratio', '1/8', '--overwrite')['1_8'][0] == read_stem_list(
        str(data_root / 'out' / '1_8' / 'labeled.txt')
    )
