import importlib.util
import os
import os.path as osp
import re
import subprocess
import sys

import pytest

from farcluss_mmseg.utils.splits import read_stem_list

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# UniMatch's published lists are not part of the repository: a copy is looked up here.
UNIMATCH = os.environ.get(
    'FARCLUSS_UNIMATCH_SPLITS', osp.join(REPO, '..', 'shared', 'splits', 'unimatch')
)


def _load_tool():
    path = osp.join(REPO, 'tools', 'dataset_converters', 'convert_unimatch_splits.py')
    spec = importlib.util.spec_from_file_location('convert_unimatch_splits', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load_tool()

# split: (labeled, unlabeled, labeled in SegmentationClass, labeled in SegmentationClassAug)
PASCAL = {
    '92': (92, 10490, 92, 0),
    '183': (183, 10399, 183, 0),
    '366': (366, 10216, 366, 0),
    '732': (732, 9850, 732, 0),
    '1464': (1464, 9118, 1464, 0),
    '1_16': (662, 9920, 93, 569),
    '1_8': (1323, 9259, 193, 1130),
    '1_4': (2646, 7936, 388, 2258),
    'u2pl_1_16': (662, 9920, 662, 0),
    'u2pl_1_8': (1323, 9259, 1323, 0),
    'u2pl_1_4': (2646, 7936, 1464, 1182),
}
CITYSCAPES = {
    '1_30': (100, 2875),
    '1_16': (186, 2789),
    '1_8': (372, 2603),
    '1_4': (744, 2231),
    '1_2': (1488, 1487),
}


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
    if not osp.isdir(UNIMATCH):
        pytest.skip(f'UniMatch split lists not found at {UNIMATCH}')
    out = str(tmp_path_factory.mktemp('splits'))
    rows = tool.main([UNIMATCH, out])
    return out, rows


def _n(path):
    return len(read_stem_list(path))


@pytest.mark.parametrize('split', list(PASCAL))
def test_pascal_counts(converted, split):
    out, rows = converted
    labeled, unlabeled, fine, aug = PASCAL[split]
    folder = osp.join(out, 'pascal', split)
    assert _n(osp.join(folder, 'labeled.txt')) == labeled
    assert _n(osp.join(folder, 'unlabeled.txt')) == unlabeled
    assert _n(osp.join(folder, 'labeled_SegmentationClass.txt')) == fine
    assert _n(osp.join(folder, 'labeled_SegmentationClassAug.txt')) == aug
    both = read_stem_list(osp.join(folder, 'labeled_SegmentationClass.txt')) + read_stem_list(
        osp.join(folder, 'labeled_SegmentationClassAug.txt')
    )
    assert sorted(both) == sorted(read_stem_list(osp.join(folder, 'labeled.txt')))
    row = next(r for r in rows['pascal'] if r['split'] == split)
    assert (row['labeled'], row['unlabeled'], row['pool'], row['fine']) == (
        labeled,
        unlabeled,
        10582,
        fine,
    )


@pytest.mark.parametrize('split', list(CITYSCAPES))
def test_cityscapes_counts(converted, split):
    out, rows = converted
    folder = osp.join(out, 'cityscapes', split)
    counts = (_n(osp.join(folder, 'labeled.txt')), _n(osp.join(folder, 'unlabeled.txt')))
    assert counts == CITYSCAPES[split]
    assert [r['split'] for r in rows['cityscapes']] == list(CITYSCAPES)


def test_pool_and_val_lists(converted):
    out, _ = converted
    assert _n(osp.join(out, 'pascal', 'train_aug.txt')) == 10582
    assert _n(osp.join(out, 'pascal', 'train_aug_SegmentationClass.txt')) == 1464
    assert _n(osp.join(out, 'pascal', 'train_aug_SegmentationClassAug.txt')) == 9118
    assert _n(osp.join(out, 'pascal', 'val.txt')) == 1449
    assert _n(osp.join(out, 'cityscapes', 'val.txt')) == 500
    assert sorted(read_stem_list(osp.join(out, 'pascal', '1464', 'labeled.txt'))) == sorted(
        read_stem_list(osp.join(out, 'pascal', 'train_aug_SegmentationClass.txt'))
    )


def test_stems_resolve_to_mmseg_paths(converted, tmp_path):
    """The stems give UniMatch's paths through mmseg's own datasets."""
    from mmseg.datasets import CityscapesDataset, PascalVOCDataset

    out, _ = converted
    (tmp_path / 'JPEGImages').mkdir()
    voc = PascalVOCDataset(
        data_root=str(tmp_path),
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
        ann_file=osp.join(out, 'pascal', '1_16', 'labeled_SegmentationClassAug.txt'),
        lazy_init=True,
    ).load_data_list()
    assert len(voc) == 569
    assert voc[0]['img_path'] == osp.join(str(tmp_path), 'JPEGImages', '2008_000060.jpg')
    assert voc[0]['seg_map_path'] == osp.join(
        str(tmp_path), 'SegmentationClassAug', '2008_000060.png'
    )
    for subset, ann_file, first in [
        ('train', osp.join('1_30', 'labeled.txt'), 'weimar/weimar_000085_000019'),
        ('val', 'val.txt', 'frankfurt/frankfurt_000001_062250'),
    ]:
        city = CityscapesDataset(
            data_root=str(tmp_path),
            data_prefix=dict(img_path=f'leftImg8bit/{subset}', seg_map_path=f'gtFine/{subset}'),
            ann_file=osp.join(out, 'cityscapes', ann_file),
            lazy_init=True,
        ).load_data_list()
        assert city[0]['img_path'] == osp.join(
            str(tmp_path), 'leftImg8bit', subset, f'{first}_leftImg8bit.png'
        )
        assert city[0]['seg_map_path'] == osp.join(
            str(tmp_path), 'gtFine', subset, f'{first}_gtFine_labelTrainIds.png'
        )


def test_table_printed(converted):
    out, rows = converted
    table = tool.format_table('cityscapes', rows['cityscapes'])
    assert table.splitlines()[1].split() == ['cityscapes', '1_30', '100', '2875', '2975', '100']
    voc = tool.format_table('pascal', rows['pascal']).splitlines()
    assert voc[6].split() == ['pascal', '1_16', '662', '9920', '10582', '662', '93', '/', '569']


# ----- a tiny fake UniMatch folder: errors do not need the real lists -----


def _city_line(stem, subset='train'):
    return (
        f'leftImg8bit/{subset}/{stem}_leftImg8bit.png '
        f'gtFine/{subset}/{stem}_gtFine_labelTrainIds.png'
    )


@pytest.fixture
def fake_city(tmp_path, monkeypatch):
    """A cityscapes folder with a pool of 4 and one published split 1_2 of 2 labeled."""
    monkeypatch.setitem(tool.EXPECTED, 'cityscapes', dict(pool=4, val=1, labeled={'1_2': 2}))
    src = tmp_path / 'cityscapes'
    (src / '1_2').mkdir(parents=True)
    (src / '1_2' / 'labeled.txt').write_text(_city_line('a/a_0') + '\n' + _city_line('a/a_1'))
    (src / '1_2' / 'unlabeled.txt').write_text(
        _city_line('b/b_2') + '\n' + _city_line('b/b_3') + '\n'
    )
    (src / 'val.txt').write_text(_city_line('c/c_9', 'val') + '\n')
    return src


def test_fake_folder_converts(fake_city, tmp_path):
    rows = tool.main([str(fake_city), str(tmp_path / 'out')])
    assert rows == {'cityscapes': [dict(split='1_2', labeled=2, unlabeled=2, pool=4, expected=2)]}
    assert (tmp_path / 'out' / 'cityscapes' / '1_2' / 'labeled.txt').read_text() == (
        'a/a_0\na/a_1\n'
    )
    assert (tmp_path / 'out' / 'cityscapes' / 'val.txt').read_text() == 'c/c_9\n'


@pytest.mark.parametrize(
    'line, msg',
    [
        (
            _city_line('a/a_1') + ' extra',
            'labeled.txt:2: expected "IMAGE_PATH LABEL_PATH", got 3 fields',
        ),
        (
            'JPEGImages/2007_000032.jpg SegmentationClass/2007_000032.png',
            "labeled.txt:2: image path 'JPEGImages/2007_000032.jpg' is not "
            'leftImg8bit/train/<name>_leftImg8bit.png as cityscapes train lists are',
        ),
        (
            'leftImg8bit/train/a/a_1_leftImg8bit.png gtFine/train/a/a_2_gtFine_labelTrainIds.png',
            "labeled.txt:2: label path 'gtFine/train/a/a_2_gtFine_labelTrainIds.png' does not "
            "match image path 'leftImg8bit/train/a/a_1_leftImg8bit.png' "
            '(expected gtFine/train/a/a_1_gtFine_labelTrainIds.png)',
        ),
        (
            _city_line('a/a_0'),
            'labeled.txt:2: leftImg8bit/train/a/a_0_leftImg8bit.png is '
            'listed twice (first on line 1)',
        ),
    ],
)
def test_malformed_line_names_file_and_line(fake_city, tmp_path, line, msg):
    (fake_city / '1_2' / 'labeled.txt').write_text(_city_line('a/a_0') + '\n' + line + '\n')
    with pytest.raises(ValueError, match=re.escape(f'{fake_city / "1_2" / msg}')):
        tool.main([str(fake_city), str(tmp_path / 'out')])
    assert not osp.exists(tmp_path / 'out')


HINT = '; for your own subsets pass --custom-sizes (the other checks stay)'


def test_wrong_labeled_count(fake_city, tmp_path, monkeypatch):
    monkeypatch.setitem(tool.EXPECTED, 'cityscapes', dict(pool=4, val=1, labeled={'1_2': 3}))
    msg = f'{fake_city / "1_2" / "labeled.txt"}: 2 labeled images, the published split '
    with pytest.raises(ValueError, match=re.escape(msg + 'cityscapes/1_2 has 3' + HINT)):
        tool.main([str(fake_city), str(tmp_path / 'out')])
    assert not osp.exists(tmp_path / 'out')


def test_own_subsets_of_other_sizes_convert_with_custom_sizes(
    fake_city, tmp_path, monkeypatch, capsys
):
    """A user's pool of 4 (not the published 5), val of 1 (not 2) and 1_2 split of 2 (not 3)."""
    monkeypatch.setitem(tool.EXPECTED, 'cityscapes', dict(pool=5, val=2, labeled={'1_2': 3}))
    out = tmp_path / 'out'
    pool_msg = f'the cityscapes pool of split {fake_city / "1_2"} has 4 images, not the published 5'
    with pytest.raises(ValueError, match=re.escape(pool_msg + HINT)):
        tool.main([str(fake_city), str(out)])
    monkeypatch.setitem(tool.EXPECTED, 'cityscapes', dict(pool=4, val=2, labeled={'1_2': 2}))
    val_msg = f'{fake_city / "val.txt"}: 1 images, the published cityscapes val set has 2'
    with pytest.raises(ValueError, match=re.escape(val_msg + HINT)):
        tool.main([str(fake_city), str(out)])
    assert not osp.exists(out)

    monkeypatch.setitem(tool.EXPECTED, 'cityscapes', dict(pool=5, val=2, labeled={'1_2': 3}))
    capsys.readouterr()
    rows = tool.main([str(fake_city), str(out), '--custom-sizes'])
    assert rows == {
        'cityscapes': [dict(split='1_2', labeled=2, unlabeled=2, pool=4, expected=None)]
    }
    assert (out / 'cityscapes' / '1_2' / 'unlabeled.txt').read_text() == 'b/b_2\nb/b_3\n'
    table = capsys.readouterr().out.splitlines()
    assert table[1].split() == ['cityscapes', '1_2', '2', '2', '4', '-']
    assert 'not in the source folder' not in '\n'.join(table)

    # The structural checks stay: val must still be disjoint from the pool.
    val = fake_city / 'val.txt'
    val.write_text(_city_line('a/a_0', 'val') + '\n')
    msg = f'{val}: 1 of its 1 images are also in the train pool; val must be disjoint from it'
    with pytest.raises(ValueError, match=re.escape(msg)):
        tool.main([str(fake_city), str(tmp_path / 'out2'), '--custom-sizes'])


def test_overlap_and_pool_mismatch(fake_city, tmp_path):
    # a second split whose unlabeled list repeats a labeled image and misses b/b_3
    (fake_city / '1_4').mkdir()
    (fake_city / '1_4' / 'labeled.txt').write_text(_city_line('a/a_0'))
    unlabeled = fake_city / '1_4' / 'unlabeled.txt'
    unlabeled.write_text('\n'.join(_city_line(s) for s in ('a/a_0', 'a/a_1', 'b/b_2')))
    msg = f'{fake_city / "1_4"}: 1 images are both labeled and unlabeled, e.g. a/a_0'
    with pytest.raises(ValueError, match=re.escape(msg)):
        tool.main([str(fake_city), str(tmp_path / 'out')])
    unlabeled.write_text('\n'.join(_city_line(s) for s in ('a/a_1', 'b/b_2')))
    msg = (
        f'{fake_city / "1_4"}: labeled + unlabeled (3 images) is not the pool of split '
        f'{fake_city / "1_2"} (4 images): 1 missing, 0 extra'
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        tool.main([str(fake_city), str(tmp_path / 'out')])


def test_find_sources(fake_city, tmp_path):
    parent = str(fake_city.parent)
    assert tool.find_sources(parent) == {'cityscapes': str(fake_city)}
    assert tool.find_sources(str(fake_city)) == {'cityscapes': str(fake_city)}
    other = tmp_path / 'mine'
    other.mkdir()
    assert tool.find_sources(str(other), 'pascal') == {'pascal': str(other)}
    with pytest.raises(FileNotFoundError, match='found neither pascal/ nor cityscapes/ in'):
        tool.find_sources(str(other))


def _voc_lines(*stems):
    return ''.join(f'JPEGImages/{s}.jpg SegmentationClass/{s}.png\n' for s in stems)


def test_fake_pascal_label_dirs(tmp_path, monkeypatch):
    """Fine images (pascal/1464/labeled.txt) go to SegmentationClass, the rest to ...Aug."""
    expected = dict(pool=3, val=1, labeled={'1464': 1, '1_2': 2})
    monkeypatch.setitem(tool.EXPECTED, 'pascal', expected)
    src = tmp_path / 'pascal'
    for split, labeled, unlabeled in [('1464', 'x', 'yz'), ('1_2', 'zx', 'y')]:
        (src / split).mkdir(parents=True)
        (src / split / 'labeled.txt').write_text(_voc_lines(*labeled))
        (src / split / 'unlabeled.txt').write_text(_voc_lines(*unlabeled))
    (src / 'train_aug.txt').write_text(_voc_lines('x', 'y', 'z'))
    (src / 'val.txt').write_text(_voc_lines('v'))
    out = tmp_path / 'out' / 'pascal'
    rows = tool.main([str(src), str(tmp_path / 'out')])['pascal']
    assert [(r['split'], r['fine']) for r in rows] == [('1464', 1), ('1_2', 1)]
    assert (out / '1_2' / 'labeled.txt').read_text() == 'z\nx\n'
    assert (out / '1_2' / 'labeled_SegmentationClass.txt').read_text() == 'x\n'
    assert (out / '1_2' / 'labeled_SegmentationClassAug.txt').read_text() == 'z\n'
    assert (out / '1464' / 'labeled_SegmentationClassAug.txt').read_text() == ''
    assert (out / 'train_aug_SegmentationClassAug.txt').read_text() == 'y\nz\n'
    assert (out / 'val.txt').read_text() == 'v\n'

    (src / '1464' / 'labeled.txt').unlink()
    msg = f'{src / "1464" / "labeled.txt"} is needed: it names the finely annotated VOC train'
    with pytest.raises(FileNotFoundError, match=re.escape(msg)):
        tool.main([str(src), str(tmp_path / 'out2')])

    # Own subsets without the 1464 split: converted, without the lists by label folder.
    rows = tool.main([str(src), str(tmp_path / 'out3'), '--custom-sizes'])['pascal']
    assert rows == [dict(split='1_2', labeled=2, unlabeled=1, pool=3, expected=None, fine=None)]
    out3 = tmp_path / 'out3' / 'pascal'
    assert sorted(p.name for p in (out3 / '1_2').iterdir()) == ['labeled.txt', 'unlabeled.txt']
    assert (out3 / 'train_aug.txt').read_text() == 'x\ny\nz\n'
    table = tool.format_table('pascal', rows, custom_sizes=True).splitlines()
    assert table[1].split() == ['pascal', '1_2', '2', '1', '3', '-', '-', '(no', '1464', 'split)']


def test_command_line_names_the_flag_for_own_subsets(fake_city, tmp_path):
    # fake_city's EXPECTED patch does not reach a subprocess: the published Cityscapes sizes
    # (pool 2975) apply, so the 4-image pool is refused until --custom-sizes.
    script = osp.join(REPO, 'tools', 'dataset_converters', 'convert_unimatch_splits.py')
    command = [sys.executable, script, str(fake_city), str(tmp_path / 'out')]
    refused = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    assert refused.returncode == 1
    assert refused.stderr == (
        f'error: the cityscapes pool of split {fake_city / "1_2"} has 4 images, not the '
        f'published 2975{HINT}\n'
    )
    assert not osp.exists(tmp_path / 'out')
    tool.main([*command[2:], '--custom-sizes'])  # the same arguments, in this process
    assert (tmp_path / 'out' / 'cityscapes' / '1_2' / 'labeled.txt').read_text() == (
        'a/a_0\na/a_1\n'
    )
