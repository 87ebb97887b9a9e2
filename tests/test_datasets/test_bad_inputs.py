"""Bad data and bad configs give errors naming the file, the line or the key, and a fix."""

import os.path as osp
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.distributed as dist
from mmengine.dataset import RepeatDataset
from mmengine.registry import init_default_scope
from mmseg.models.decode_heads import FCNHead
from PIL import Image
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import ConcatDataset

from farcluss_mmseg.datasets import FarclussDemoDataset
from farcluss_mmseg.datasets.transforms import LoadCheckedAnnotations
from farcluss_mmseg.engine.hooks.num_classes_check_hook import NumClassesCheckHook

init_default_scope('mmseg')  # pipelines name mmseg's transforms

LABEL = np.array([[0, 1], [7, 255]], np.uint8)
PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCheckedAnnotations'),
    dict(type='PackSegInputs'),
]


def _dataset(root, pipeline=PIPELINE, **kwargs):
    return FarclussDemoDataset(
        data_root=root, ann_file='splits/train.txt', pipeline=pipeline, **kwargs
    )


def test_missing_data_root_says_how_to_make_the_data(tmp_path):
    root = str(tmp_path / 'farcluss_demo')
    hint = f'generate the demo data with `python tools/make_demo_data.py --out {root}`'
    with pytest.raises(
        FileNotFoundError, match=re.escape(f'data_root {root} does not exist: {hint}')
    ):
        _dataset(root)


def test_missing_split_list_is_named(make_tiny_voc):
    root = make_tiny_voc({'a': LABEL})
    ann_file = osp.join(root, 'splits', '1_16', 'labeled.txt')
    with pytest.raises(FileNotFoundError, match=re.escape(f'split list {ann_file} does not exist')):
        FarclussDemoDataset(data_root=root, ann_file='splits/1_16/labeled.txt')


def test_empty_split_list_is_refused(make_tiny_voc):
    root = make_tiny_voc({'a': LABEL}, lines=[])
    with pytest.raises(ValueError, match=re.escape(f'split list {root}/splits/train.txt is empty')):
        _dataset(root)


def test_unknown_labels_mode_is_refused(make_tiny_voc):
    root = make_tiny_voc({'a': LABEL})
    with pytest.raises(
        ValueError, match=r"labels must be one of \('required', 'optional'\), got 'some'"
    ):
        _dataset(root, labels='some')


@pytest.mark.parametrize(
    'lines, error, message',
    [
        (
            ['a', 'ghost'],
            FileNotFoundError,
            'line 2: image {root}/JPEGImages/ghost.jpg does not exist',
        ),
        (['a', '', 'b'], ValueError, 'line 2: empty line; remove it'),
        (['a', 'b', 'a'], ValueError, "line 3: 'a' is listed again (first on line 1)"),
        (
            ['JPEGImages/a.jpg SegmentationClass/a.png'],
            ValueError,
            "line 1: expected one image stem a line (mmseg style), got 'JPEGImages/a.jpg "
            "SegmentationClass/a.png'; this looks like a UniMatch-format list (IMAGE_PATH "
            'LABEL_PATH): convert it with `python '
            'tools/dataset_converters/convert_unimatch_splits.py SRC_DIR OUT_DIR`',
        ),
        (
            ['a b c'],
            ValueError,
            "line 1: expected one image stem a line (mmseg style), got 'a b c'",
        ),
    ],
)
def test_bad_split_line_is_named_with_its_number(make_tiny_voc, lines, error, message):
    root = make_tiny_voc({'a': LABEL, 'b': LABEL}, lines=lines)
    expected = f'{root}/splits/train.txt, ' + message.format(root=root)
    with pytest.raises(error, match=re.escape(expected)) as info:
        _dataset(root)
    # Only a two-field line is taken for a UniMatch list.
    assert ('UniMatch' in str(info.value)) == (lines == [lines[0]] and len(lines[0].split()) == 2)


def test_missing_label_is_an_error_unless_labels_are_optional(make_tiny_voc):
    root = make_tiny_voc({'a': LABEL, 'b': None})
    expected = (
        f'{root}/splits/train.txt, line 2: label {root}/SegmentationClass/b.png of image '
        f'{root}/JPEGImages/b.jpg does not exist; '
        "if this split is unlabeled, build the dataset with labels='optional'"
    )
    with pytest.raises(FileNotFoundError, match=re.escape(expected)):
        _dataset(root)
    assert _dataset(root, labels='optional').get_data_info(1)['seg_map_path'] is None


def test_label_values_outside_the_classes_are_named(make_tiny_voc):
    root = make_tiny_voc({'a': np.array([[0, 9], [200, 255]], np.uint8)})
    expected = (
        f'label file {root}/SegmentationClass/a.png has values [9, 200], but labels must be in '
        '[0, 7] or 255 (ignore)'
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        _dataset(root)[0]


def test_load_checked_annotations_needs_a_consistent_num_classes(make_tiny_voc):
    root = make_tiny_voc({'a': LABEL})
    png = f'{root}/SegmentationClass/a.png'
    results = dict(seg_map_path=png, reduce_zero_label=False, seg_fields=[])
    with pytest.raises(KeyError, match=re.escape(f"the data info of {png} has no 'num_classes'")):
        LoadCheckedAnnotations()(dict(results))
    message = 'num_classes=21 in the transform config, but the dataset has 8 classes'
    with pytest.raises(ValueError, match=re.escape(message)):
        LoadCheckedAnnotations(num_classes=21)(dict(results, num_classes=8))
    with pytest.raises(ValueError, match=re.escape(f'label file {png} has values [7]')):
        LoadCheckedAnnotations(num_classes=7)(dict(results))  # 0..6 allowed
    out = LoadCheckedAnnotations(num_classes=8)(dict(results))
    assert out['gt_seg_map'].tolist() == LABEL.tolist()


def _save_label(path, array, mode):
    Image.fromarray(np.ascontiguousarray(array, np.uint8), mode=mode).save(path)


@pytest.mark.parametrize('transform', ['LoadCheckedAnnotations', 'LoadOptionalAnnotations'])
def test_rgb_saved_label_is_named_as_three_channels(make_tiny_voc, transform):
    root = make_tiny_voc({'a': LABEL})
    png = f'{root}/SegmentationClass/a.png'
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 1] = (128, 192, 224)  # a VOC-style colour instead of a class index
    _save_label(png, rgb, 'RGB')
    pipeline = [dict(type='LoadImageFromFile'), dict(type=transform), dict(type='PackSegInputs')]
    expected = (
        f'label file {png} is a 3-channel label, expected a palette or single-channel PNG of '
        'class indices'
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        _dataset(root, pipeline=pipeline)[0]


def test_single_channel_label_loads(make_tiny_voc):
    root = make_tiny_voc({'a': LABEL})
    _save_label(f'{root}/SegmentationClass/a.png', LABEL, 'L')  # grey-scale, not a palette
    assert _dataset(root)[0]['data_samples'].gt_sem_seg.data[0].tolist() == LABEL.tolist()


@pytest.mark.parametrize('transform', ['LoadCheckedAnnotations', 'LoadOptionalAnnotations'])
def test_label_of_another_size_than_its_image_names_both(make_tiny_voc, transform):
    root = make_tiny_voc({'a': LABEL, 'b': LABEL})
    jpg = f'{root}/JPEGImages/b.jpg'
    Image.fromarray(np.full((3, 5, 3), 128, np.uint8)).save(jpg)  # 5 wide, 3 high
    pipeline = [dict(type='LoadImageFromFile'), dict(type=transform), dict(type='PackSegInputs')]
    dataset = _dataset(root, pipeline=pipeline)
    assert dataset[0]['inputs'].shape == (3, 2, 2)  # 'a' matches its image
    expected = (
        f'label file {root}/SegmentationClass/b.png is 2x2 (w x h) but its image {jpg} is 5x3; '
        'a label must have the size of its image'
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        dataset[1]


@pytest.mark.parametrize('content', [b'not an image', b''])
@pytest.mark.parametrize('folder, name', [('JPEGImages', 'a.jpg'), ('SegmentationClass', 'a.png')])
def test_undecodable_file_is_named(make_tiny_voc, content, folder, name):
    root = make_tiny_voc({'a': LABEL})
    path = f'{root}/{folder}/{name}'
    with open(path, 'wb') as f:
        f.write(content)
    message = f'cannot decode image {path}: the file is corrupt or not an image'
    with pytest.raises(ValueError, match=re.escape(message)):
        _dataset(root)[0]


def _model(decode=8, auxiliary=(8, 8)):
    model = nn.Module()
    model.decode_head = FCNHead(in_channels=4, channels=4, num_convs=1, num_classes=decode)
    model.auxiliary_head = nn.ModuleList(
        FCNHead(in_channels=4, channels=4, num_convs=1, num_classes=n) for n in auxiliary
    )
    return model


def _runner(model, train, val=None):
    val_loader = SimpleNamespace(dataset=val)
    return SimpleNamespace(
        model=model,
        train_dataloader=SimpleNamespace(dataset=train),
        val_loop=None if val is None else SimpleNamespace(dataloader=val_loader),
        val_dataloader=val_loader,
    )


def test_num_classes_check_hook_names_the_numbers_and_the_key(make_tiny_voc):
    dataset = _dataset(make_tiny_voc({'a': LABEL}))
    hook = NumClassesCheckHook()
    hook.before_train(_runner(_model(), dataset))  # all heads predict 8 classes
    expected = (
        'the train dataset FarclussDemoDataset has 8 classes, but `model.decode_head.num_classes` '
        'is 21 (module `decode_head`). Set `model.decode_head.num_classes` to 8 in the config'
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        hook.before_train(_runner(_model(decode=21), dataset))
    expected = (
        'has 8 classes, but `model.auxiliary_head[1].num_classes` is 19 (module '
        '`auxiliary_head.1`). Set `model.auxiliary_head[1].num_classes` to 8'
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        hook.before_val(_runner(_model(auxiliary=(8, 19)), None, val=dataset))


def test_num_classes_check_hook_looks_into_wrappers(make_tiny_voc, tmp_path):
    root = make_tiny_voc({'a': LABEL})
    five = _dataset(root, metainfo=dict(classes=('sky', 'ground', 'building', 'tree', 'water')))
    both = ConcatDataset([_dataset(root), RepeatDataset(five, times=2)])
    hook = NumClassesCheckHook()
    with pytest.raises(ValueError, match='the val dataset FarclussDemoDataset has 5 classes, but'):
        hook.before_train(_runner(_model(), _dataset(root), val=both))
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/pg', rank=0, world_size=1)
    try:
        ddp = DistributedDataParallel(_model(decode=5, auxiliary=()))
        hook.before_train(_runner(ddp, five))
        with pytest.raises(ValueError, match=r'`model.decode_head.num_classes` is 5'):
            hook.before_train(_runner(ddp, _dataset(root)))
    finally:
        dist.destroy_process_group()
    assert torch.distributed.is_initialized() is False
