import os.path as osp
import re
import warnings

import pytest

from farcluss_mmseg.utils.splits import (
    check_overlap,
    check_split_files,
    read_stem_list,
    write_stem_list,
)


def _touch(path):
    with open(path, 'w'):
        pass


def test_read_stem_list_strips_and_skips_blank_lines(tmp_path):
    path = tmp_path / 'list.txt'
    path.write_text('2007_000032\n\n  aachen/aachen_000000_000019 \r\n\n2007_000039')
    assert read_stem_list(str(path)) == [
        '2007_000032',
        'aachen/aachen_000000_000019',
        '2007_000039',
    ]


def test_read_stem_list_names_duplicate_line(tmp_path):
    path = tmp_path / 'labeled.txt'
    path.write_text('a\nb\n\na\n')
    msg = f"{path}:4: duplicate stem 'a' (first on line 1); each image may be listed once"
    with pytest.raises(ValueError, match=re.escape(msg)):
        read_stem_list(str(path))


def test_read_stem_list_names_the_converter_for_a_unimatch_list(tmp_path):
    path = tmp_path / 'labeled.txt'
    path.write_text('JPEGImages/2007_000032.jpg SegmentationClass/2007_000032.png\n')
    msg = (
        f"{path}:1: expected one image stem a line (mmseg style), got 'JPEGImages/2007_000032.jpg "
        "SegmentationClass/2007_000032.png'; this looks like a UniMatch-format list (IMAGE_PATH "
        'LABEL_PATH): convert it with `python tools/dataset_converters/convert_unimatch_splits.py '
        'SRC_DIR OUT_DIR`'
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        read_stem_list(str(path))


def test_read_stem_list_missing_file(tmp_path):
    path = tmp_path / 'nope.txt'
    with pytest.raises(FileNotFoundError, match=re.escape(f'stem list {path} does not exist')):
        read_stem_list(str(path))


def test_write_stem_list_round_trip(tmp_path):
    path = tmp_path / 'sub' / 'dir' / 'labeled.txt'
    write_stem_list(str(path), ['b', 'a/c'])
    assert path.read_text() == 'b\na/c\n'
    assert read_stem_list(str(path)) == ['b', 'a/c']
    write_stem_list(str(path), [])
    assert path.read_text() == ''


def test_write_stem_list_rejects_bad_stem(tmp_path):
    with pytest.raises(ValueError, match=r"cannot write ' a' to .*x\.txt: a stem must be one"):
        write_stem_list(str(tmp_path / 'x.txt'), ['b', ' a'])
    assert not osp.exists(tmp_path / 'x.txt')


@pytest.fixture
def root(tmp_path):
    (tmp_path / 'img').mkdir()
    (tmp_path / 'ann').mkdir()
    for stem in ('s0', 's1'):
        _touch(tmp_path / 'img' / f'{stem}.jpg')
        _touch(tmp_path / 'ann' / f'{stem}.png')
    return tmp_path


def test_check_split_files_all_present(root):
    # a list with no missing files passes; each missing one below is reported
    assert check_split_files(str(root), ['s0', 's1'], 'img', '.jpg', 'ann', '.png') is None


def test_check_split_files_lists_first_five_missing_images(root):
    stems = ['s0'] + [f'm{i}' for i in range(6)]
    msg = (
        f'6 of 7 images listed in train.txt are missing under {osp.join(root, "img")}: '
        'm0.jpg, m1.jpg, m2.jpg, m3.jpg, m4.jpg, ... — check data_root / the split list'
    )
    with pytest.raises(FileNotFoundError, match=re.escape(msg)):
        check_split_files(str(root), stems, 'img', '.jpg', list_name='train.txt')


def test_check_split_files_missing_label(root):
    _touch(root / 'img' / 's2.jpg')
    msg = (
        f'1 of 3 labels listed in the split list are missing under {osp.join(root, "ann")}: '
        's2.png — check data_root / the split list'
    )
    with pytest.raises(FileNotFoundError, match=re.escape(msg)):
        check_split_files(str(root), ['s0', 's1', 's2'], 'img', '.jpg', 'ann', '.png')
    # without seg_dir labels are not checked
    check_split_files(str(root), ['s0', 's1', 's2'], 'img', '.jpg')


def test_check_split_files_seg_dir_needs_suffix(root):
    with pytest.raises(ValueError, match='seg_dir is given but seg_suffix is not'):
        check_split_files(str(root), ['s0'], 'img', '.jpg', 'ann')


def test_check_overlap_warns_with_count():
    msg = (
        '2 stems are listed in both l.txt and u.txt: a, c; they are used as labeled and '
        'unlabeled samples'
    )
    with pytest.warns(UserWarning, match=re.escape(msg)):
        assert check_overlap(['c', 'a', 'b'], ['a', 'd', 'c'], ('l.txt', 'u.txt')) == 2


def test_check_overlap_disjoint_is_silent():
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert check_overlap(['a', 'b'], ['c']) == 0
