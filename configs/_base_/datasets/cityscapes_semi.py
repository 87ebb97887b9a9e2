# Cityscapes semi-supervised splits (paper Table 3): labeled images from the 2,975 train images,
# unlabeled = the rest; val = the 500 val images with sliding-window inference (the model
# configs set test_cfg mode='slide'). Split lists: data/cityscapes/splits/cityscapes/<split>/,
# made by tools/dataset_converters/convert_unimatch_splits.py (configs/farcluss/README.md).
# Crop 801x801 as UniMatch, whose setup the paper follows and whose numbers Table 3 compares
# with (mmseg's own Cityscapes crops are 769x769 and 512x1024). Augmentation as in UniMatch and
# mmseg: rescale 0.5-2.0 of the 2048x1024 original, random crop, flip; strong views add colour
# jitter, grayscale and blur.
dataset_type = 'CityscapesSemiDataset'
data_root = 'data/cityscapes'
crop_size = (801, 801)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCheckedAnnotations'),
    dict(type='RandomResize', scale=(2048, 1024), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 1024), keep_ratio=True),
    dict(type='LoadCheckedAnnotations'),
    dict(type='PackSegInputs'),
]
strong_transforms = [
    dict(
        type='RandomColorJitter', brightness=0.5, contrast=0.5, saturation=0.5, hue=0.25, prob=0.8
    ),
    dict(type='RandomLumaGrayscale', prob=0.2),
    dict(type='RandomGaussianBlur', sigma=(0.1, 2.0), prob=0.5),
]
unlabeled_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadOptionalAnnotations'),  # labels of unlabeled images: monitoring only
    dict(type='AddValidMask'),
    dict(type='RandomResize', scale=(2048, 1024), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='StrongViews', num_views=2, transforms=strong_transforms),
    dict(type='PackSemiInputs', size=crop_size),
]
train_prefix = dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train')
labeled_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    data_prefix=train_prefix,
    ann_file='splits/cityscapes/1_16/labeled.txt',
    pipeline=train_pipeline,
)
unlabeled_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    data_prefix=train_prefix,
    ann_file='splits/cityscapes/1_16/unlabeled.txt',
    overlap_with='splits/cityscapes/1_16/labeled.txt',  # warns if the lists share images
    labels='optional',
    pipeline=unlabeled_pipeline,
)
train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=labeled_dataset,
)
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
# Test-time augmentation (`tools/test.py CONFIG CKPT --tta`) as in mmseg's own Cityscapes base:
# each image at 6 scales, each also flipped; `tta_model` (mmseg's SegTTAModel, from mmseg's
# default_runtime.py) averages the softmax scores. mmseg's LoadAnnotations comes after the
# resize, as there: LoadCheckedAnnotations would compare the label with the resized image.
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale_factor=r, keep_ratio=True) for r in img_ratios],
            [
                dict(type='RandomFlip', prob=0.0, direction='horizontal'),
                dict(type='RandomFlip', prob=1.0, direction='horizontal'),
            ],
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')],
        ],
    ),
]
val_evaluator = dict(type='PerClassIoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
