"""PascalVOCSemiDataset on a tiny VOC 2012 + SBD layout (tests/fixtures_layouts.py)."""

import importlib.util
import os
import os.path as osp
import re
import warnings

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS

from farcluss_mmseg.datasets import PascalVOCSemiDataset

init_default_scope('mmseg')  # pipelines name mmseg's transforms


def _load_layouts():
    path = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'fixtures_layouts.py')
    spec = importlib.util.spec_from_file_location('fixtures_layouts', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


layouts = _load_layouts()
PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCheckedAnnotations'),
    dict(type='PackSegInputs'),
]
HINT_START = 'put Pascal VOC 2012 (VOCtrainval_11-May-2012.tar) at '


@pytest.fixture
def voc_root(tmp_path):
    return layouts.make_voc(str(tmp_path))


def _build(root, split='92', part='labeled', **kwargs):
    return PascalVOCSemiDataset(
        data_root=root, ann_file=f'splits/pascal/{split}/{part}.txt', **kwargs
    )


def _write(root, rel, stems):
    with open(osp.join(root, rel), 'w') as f:
        f.write(''.join(f'{s}\n' for s in stems))


def test_classic_split_reads_fine_labels(voc_root):
    dataset = _build(voc_root, '366')
    assert len(dataset) == 3
    assert [dataset.get_data_info(i)['img_path'] for i in range(3)] == [
        osp.join(voc_root, 'JPEGImages', f'{s}.jpg') for s in layouts.VOC_FINE[:3]
    ]
    info = dataset.get_data_info(0)
    assert info['seg_map_path'] == osp.join(voc_root, 'SegmentationClass', '2007_000032.png')
    assert (info['num_classes'], info['reduce_zero_label']) == (21, False)
    assert dataset.metainfo['classes'][:3] == ('background', 'aeroplane', 'bicycle')


def test_blended_split_falls_back_to_sbd_labels(voc_root):
    dataset = _build(voc_root, '1_8', seg_map_fallback='SegmentationClassAug', pipeline=PIPELINE)
    paths = [dataset.get_data_info(i)['seg_map_path'] for i in range(len(dataset))]
    assert paths == [
        # a fine image labeled by both: the fine label wins
        osp.join(voc_root, 'SegmentationClass', '2007_000032.png'),
        osp.join(voc_root, 'SegmentationClassAug', '2008_000002.png'),
        osp.join(voc_root, 'SegmentationClassAug', '2008_000003.png'),
    ]
    for i, (stem, folder) in enumerate(
        [('2007_000032', 'SegmentationClass'), ('2008_000002', 'SegmentationClassAug')]
    ):
        gt = dataset[i]['data_samples'].gt_sem_seg.data[0]
        assert torch.equal(gt, torch.from_numpy(layouts.voc_label(stem, folder)).long())


def test_blended_split_without_fallback_counts_missing_labels(voc_root):
    ann_file = osp.join(voc_root, 'splits/pascal/1_8/labeled.txt')
    folder = osp.join(voc_root, 'SegmentationClass')
    message = (
        f'2 of 3 labels listed in {ann_file} are missing under {folder}: 2008_000002.png, '
        f'2008_000003.png — check data_root / the split list; {HINT_START}{voc_root} '
    )
    with pytest.raises(FileNotFoundError, match=re.escape(message)):
        _build(voc_root, '1_8')


def test_labels_missing_in_both_folders_are_counted(voc_root):
    os.remove(osp.join(voc_root, 'SegmentationClassAug', '2008_000003.png'))
    ann_file = osp.join(voc_root, 'splits/pascal/1_8/labeled.txt')
    primary = osp.join(voc_root, 'SegmentationClass')
    message = (
        f'1 of 2 labels listed in {ann_file} (labels not in {primary}) are missing under '
        f'{osp.join(voc_root, "SegmentationClassAug")}: 2008_000003.png — '
    )
    with pytest.raises(FileNotFoundError, match=re.escape(message)):
        _build(voc_root, '1_8', seg_map_fallback='SegmentationClassAug')


def test_missing_images_give_count_and_first_five(voc_root):
    ghosts = [f'2011_00{i:04d}' for i in range(7)]
    _write(voc_root, 'splits/pascal/92/labeled.txt', ['2007_000032', *ghosts])
    ann_file = osp.join(voc_root, 'splits/pascal/92/labeled.txt')
    shown = ', '.join(f'{s}.jpg' for s in ghosts[:5])
    message = (
        f'7 of 8 images listed in {ann_file} are missing under '
        f'{osp.join(voc_root, "JPEGImages")}: {shown}, ... — check data_root / the split list; '
        f'{HINT_START}{voc_root} '
    )
    with pytest.raises(FileNotFoundError, match=re.escape(message)):
        _build(voc_root)


def test_malformed_line_is_still_named_by_line(voc_root):
    _write(voc_root, 'splits/pascal/92/labeled.txt', ['2007_000032', '2007_000039 extra'])
    ann_file = osp.join(voc_root, 'splits/pascal/92/labeled.txt')
    with pytest.raises(ValueError, match=re.escape(f'{ann_file}, line 2: expected one image stem')):
        _build(voc_root)


def test_unlabeled_split_needs_no_labels(voc_root):
    os.remove(osp.join(voc_root, 'SegmentationClassAug', '2008_000015.png'))
    dataset = _build(
        voc_root, '92', 'unlabeled', labels='optional', seg_map_fallback='SegmentationClassAug'
    )
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    infos = {osp.basename(i['img_path'])[:-4]: i['seg_map_path'] for i in infos}
    assert len(infos) == 9
    assert infos['2008_000015'] is None
    assert infos['2007_000039'] == osp.join(voc_root, 'SegmentationClass', '2007_000039.png')
    assert infos['2008_000002'] == osp.join(voc_root, 'SegmentationClassAug', '2008_000002.png')


def test_overlapping_lists_warn_with_count(voc_root):
    _write(voc_root, 'splits/pascal/92/unlabeled.txt', ['2007_000032', '2007_000039'])
    labeled = osp.join(voc_root, 'splits/pascal/92/labeled.txt')
    unlabeled = osp.join(voc_root, 'splits/pascal/92/unlabeled.txt')
    message = f'1 stems are listed in both {labeled} and {unlabeled}: 2007_000032; they are used'
    with pytest.warns(UserWarning, match=re.escape(message)):
        dataset = _build(
            voc_root,
            part='unlabeled',
            labels='optional',
            overlap_with='splits/pascal/92/labeled.txt',
        )
    assert len(dataset) == 2


def test_disjoint_lists_do_not_warn(voc_root):
    with warnings.catch_warnings():
        warnings.simplefilter('error', UserWarning)
        dataset = _build(
            voc_root,
            '1_4',
            'unlabeled',
            labels='optional',
            overlap_with='splits/pascal/1_4/labeled.txt',
        )
    assert len(dataset) == 6


def test_missing_overlap_list_is_named(voc_root):
    other = osp.join(voc_root, 'splits/pascal/7/labeled.txt')
    with pytest.raises(
        FileNotFoundError, match=re.escape(f'split list (overlap_with) {other} does not exist')
    ):
        _build(
            voc_root,
            part='unlabeled',
            labels='optional',
            overlap_with='splits/pascal/7/labeled.txt',
        )


def test_overlap_check_needs_a_split_list(voc_root):
    with pytest.raises(ValueError, match=re.escape("overlap_with='x.txt' needs ann_file to be")):
        PascalVOCSemiDataset(
            data_root=voc_root, ann_file='', labels='optional', overlap_with='x.txt'
        )


def test_missing_data_root_says_how_to_prepare_voc(tmp_path):
    root = str(tmp_path / 'VOCdevkit' / 'VOC2012')
    with pytest.raises(FileNotFoundError) as info:
        _build(root)
    message = str(info.value)
    assert message.startswith(f'data_root {root} does not exist: {HINT_START}{root} ')
    assert "mmseg's `python tools/dataset_converters/voc_aug.py DEVKIT DEVKIT/VOCaug" in message
    assert f'convert_unimatch_splits.py UniMatch/splits/pascal {root}/splits`' in message


def test_registered_and_built_from_config(voc_root):
    cfg = dict(
        type='PascalVOCSemiDataset',
        data_root=voc_root,
        ann_file='splits/pascal/1_4/labeled.txt',
        seg_map_fallback='SegmentationClassAug',
    )
    dataset = DATASETS.build(cfg)
    assert isinstance(dataset, PascalVOCSemiDataset) and len(dataset) == 4
    assert np.array_equal(
        [osp.basename(osp.dirname(dataset.get_data_info(i)['seg_map_path'])) for i in range(4)],
        ['SegmentationClass'] * 2 + ['SegmentationClassAug'] * 2,
    )
