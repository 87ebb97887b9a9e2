import os.path as osp

import numpy as np
import torch
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS
from PIL import Image

from farcluss_mmseg.datasets import FarclussDemoDataset

init_default_scope('mmseg')  # pipelines name mmseg's transforms

PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCheckedAnnotations'),
    dict(type='PackSegInputs'),
]


def test_metainfo_is_the_generators_class_list(make_demo_data_tool):
    assert FarclussDemoDataset.METAINFO['classes'] == (
        'sky',
        'ground',
        'building',
        'tree',
        'water',
        'rock',
        'vehicle',
        'pole',
    )
    assert len(FarclussDemoDataset.METAINFO['palette']) == 8
    assert make_demo_data_tool.CLASSES == FarclussDemoDataset.METAINFO['classes']
    assert make_demo_data_tool.PALETTE is FarclussDemoDataset.METAINFO['palette']


def test_split_lists_load_with_their_sizes(demo_data_root):
    sizes = {
        'splits/train.txt': 48,
        'splits/val.txt': 16,
        'splits/1_16/labeled.txt': 3,
        'splits/1_16/unlabeled.txt': 45,
        'splits/1_8/labeled.txt': 6,
        'splits/1_8/unlabeled.txt': 42,
    }
    for ann_file, size in sizes.items():
        dataset = DATASETS.build(
            dict(type='FarclussDemoDataset', data_root=demo_data_root, ann_file=ann_file)
        )
        assert len(dataset) == size
    info = dataset.get_data_info(0)
    with open(osp.join(demo_data_root, 'splits/1_8/unlabeled.txt')) as f:
        stem = f.readline().strip()
    assert info['img_path'] == osp.join(demo_data_root, 'JPEGImages', f'{stem}.jpg')
    assert info['seg_map_path'] == osp.join(demo_data_root, 'SegmentationClass', f'{stem}.png')
    assert (info['num_classes'], info['reduce_zero_label'], info['label_map']) == (8, False, None)


def test_pipeline_loads_exact_label_values(make_tiny_voc):
    label = np.array([[0, 1, 2, 3], [4, 5, 6, 7], [255, 0, 0, 0], [7, 7, 255, 1]], np.uint8)
    root = make_tiny_voc({'a': label})
    dataset = FarclussDemoDataset(data_root=root, ann_file='splits/train.txt', pipeline=PIPELINE)
    sample = dataset[0]
    assert sample['inputs'].shape == (3, 4, 4)
    assert torch.equal(sample['data_samples'].gt_sem_seg.data, torch.from_numpy(label)[None].long())


def test_pipeline_on_a_generated_sample(demo_data_root):
    dataset = FarclussDemoDataset(
        data_root=demo_data_root, ann_file='splits/val.txt', pipeline=PIPELINE, test_mode=True
    )
    sample = dataset[0]
    expected = np.array(Image.open(osp.join(demo_data_root, 'SegmentationClass/demo_000048.png')))
    rgb = np.array(Image.open(osp.join(demo_data_root, 'JPEGImages/demo_000048.jpg')))
    gt = sample['data_samples'].gt_sem_seg.data[0].numpy()
    assert gt.shape == (96, 96) and np.array_equal(gt, expected)
    assert set(np.unique(gt).tolist()) <= {0, 1, 2, 3, 4, 5, 6, 7, 255}
    assert 255 in gt and 0 in gt and 1 in gt  # sky, ground and the ignore band
    bgr = sample['inputs'].permute(1, 2, 0).numpy()
    assert np.abs(bgr[..., ::-1].astype(int) - rgb).max() <= 2  # cv2 vs PIL JPEG decoding


def test_optional_labels_keep_existing_ones(make_tiny_voc):
    label = np.array([[0, 1], [7, 255]], np.uint8)
    root = make_tiny_voc({'a': label, 'b': None, 'c': label})
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadOptionalAnnotations'),
        dict(type='PackSegInputs'),
    ]
    dataset = FarclussDemoDataset(
        data_root=root, ann_file='splits/train.txt', labels='optional', pipeline=pipeline
    )
    paths = [dataset.get_data_info(i)['seg_map_path'] for i in range(3)]
    assert paths == [osp.join(root, 'SegmentationClass', 'a.png'), None, paths[2]]
    assert paths[2] == osp.join(root, 'SegmentationClass', 'c.png')
    assert 'gt_sem_seg' not in dataset[1]['data_samples']
    assert torch.equal(
        dataset[0]['data_samples'].gt_sem_seg.data, torch.tensor([[[0, 1], [7, 255]]])
    )
