"""CityscapesSemiDataset on a tiny Cityscapes layout (tests/fixtures_layouts.py)."""

import importlib.util
import os
import os.path as osp
import re

import pytest
import torch
from mmengine.registry import init_default_scope

from farcluss_mmseg.datasets import CityscapesSemiDataset

init_default_scope('mmseg')  # pipelines name mmseg's transforms


def _load_layouts():
    path = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'fixtures_layouts.py')
    spec = importlib.util.spec_from_file_location('fixtures_layouts', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


layouts = _load_layouts()
TRAIN = dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train')
PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCheckedAnnotations'),
    dict(type='PackSegInputs'),
]
CONVERTER = "run mmseg's `python tools/dataset_converters/cityscapes.py "


def _build(root, split='1_4', part='labeled', **kwargs):
    return CityscapesSemiDataset(
        data_root=root,
        data_prefix=TRAIN,
        ann_file=f'splits/cityscapes/{split}/{part}.txt',
        **kwargs,
    )


def test_labeled_split_paths_and_values(tmp_path):
    root = layouts.make_cityscapes(str(tmp_path))
    dataset = _build(root, pipeline=PIPELINE)
    assert len(dataset) == 3
    info = dataset.get_data_info(2)
    assert info['img_path'] == osp.join(
        root, 'leftImg8bit/train/aachen/aachen_000002_000019_leftImg8bit.png'
    )
    assert info['seg_map_path'] == osp.join(
        root, 'gtFine/train/aachen/aachen_000002_000019_gtFine_labelTrainIds.png'
    )
    assert info['num_classes'] == 19
    gt = dataset[2]['data_samples'].gt_sem_seg.data[0]
    expected = layouts.cityscapes_label('aachen/aachen_000002_000019')
    assert torch.equal(gt, torch.from_numpy(expected).long())


def test_val_folder_is_scanned(tmp_path):
    root = layouts.make_cityscapes(str(tmp_path))
    dataset = CityscapesSemiDataset(
        data_root=root, data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val')
    )
    assert [osp.basename(dataset.get_data_info(i)['img_path']) for i in range(2)] == [
        'frankfurt_000000_000294_leftImg8bit.png',
        'frankfurt_000000_000576_leftImg8bit.png',
    ]


def test_root_without_train_ids_says_to_run_the_converter(tmp_path):
    root = layouts.make_cityscapes(str(tmp_path), train_ids=False)
    message = (
        f'{root}/gtFine/train holds no *_gtFine_labelTrainIds.png files: the Cityscapes train-id '
        f'labels have not been made; {CONVERTER}{root} --nproc 8` (pip install cityscapesscripts)'
    )
    with pytest.raises(FileNotFoundError, match=re.escape(message)):
        _build(root)
    val = dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val')
    with pytest.raises(FileNotFoundError, match=re.escape(f'{root}/gtFine/val holds no')):
        CityscapesSemiDataset(data_root=root, data_prefix=val)  # folder scan: checked too


def test_unlabeled_split_needs_no_train_ids(tmp_path):
    root = layouts.make_cityscapes(str(tmp_path), train_ids=False)
    dataset = _build(root, '1_8', 'unlabeled', labels='optional')
    assert len(dataset) == 4
    assert [dataset.get_data_info(i)['seg_map_path'] for i in range(4)] == [None] * 4


def test_missing_label_folder_is_named(tmp_path):
    root = layouts.make_cityscapes(str(tmp_path))
    os.rename(osp.join(root, 'gtFine'), osp.join(root, 'gtFine_trainvaltest'))
    message = f'label folder {root}/gtFine/train does not exist: download leftImg8bit_trainvaltest'
    with pytest.raises(FileNotFoundError, match=re.escape(message)):
        _build(root)


def test_missing_files_are_counted(tmp_path):
    root = layouts.make_cityscapes(str(tmp_path))
    os.remove(osp.join(root, 'gtFine/train/aachen/aachen_000001_000019_gtFine_labelTrainIds.png'))
    ann_file = osp.join(root, 'splits/cityscapes/1_4/labeled.txt')
    message = (
        f'1 of 3 labels listed in {ann_file} are missing under {root}/gtFine/train: '
        'aachen/aachen_000001_000019_gtFine_labelTrainIds.png — check data_root / the split '
        f'list; download leftImg8bit_trainvaltest.zip'
    )
    with pytest.raises(FileNotFoundError, match=re.escape(message)):
        _build(root)
    with open(ann_file, 'a') as f:
        f.write('zurich/zurich_000000_000019\n')
    message = (
        f'1 of 4 images listed in {ann_file} are missing under {root}/leftImg8bit/train: '
        'zurich/zurich_000000_000019_leftImg8bit.png — '
    )
    with pytest.raises(FileNotFoundError, match=re.escape(message)):
        _build(root, labels='optional')


def test_overlapping_lists_warn_with_count(tmp_path):
    root = layouts.make_cityscapes(str(tmp_path))
    labeled = osp.join(root, 'splits/cityscapes/1_2/labeled.txt')
    unlabeled = osp.join(root, 'splits/cityscapes/1_16/unlabeled.txt')
    message = (
        # 1_2 labels the first 4 train images, 1_16 leaves all but the first unlabeled.
        f'3 stems are listed in both {labeled} and {unlabeled}: aachen/aachen_000001_000019, '
        'aachen/aachen_000002_000019, bochum/bochum_000000_000313; they are used'
    )
    with pytest.warns(UserWarning, match=re.escape(message)):
        dataset = _build(
            root, '1_16', 'unlabeled', labels='optional',
            overlap_with='splits/cityscapes/1_2/labeled.txt',
        )  # fmt: skip
    assert len(dataset) == 5
