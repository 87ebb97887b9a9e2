# The synthetic demo dataset (tools/make_demo_data.py). The train_dataloader here is supervised
# (labeled split only); farcluss_demo_semi.py mixes in `unlabeled_dataset`.
dataset_type = 'FarclussDemoDataset'
data_root = 'data/farcluss_demo'
crop_size = (96, 96)
split = '1_16'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCheckedAnnotations'),
    dict(type='RandomResize', scale=(96, 96), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCheckedAnnotations'),
    dict(type='PackSegInputs'),
]
labeled_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    ann_file=f'splits/{split}/labeled.txt',
    pipeline=train_pipeline,
)
unlabeled_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadOptionalAnnotations'),  # labels of unlabeled images: monitoring only
    dict(type='AddValidMask'),
    dict(type='RandomResize', scale=(96, 96), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='StrongViews',
        num_views=2,
        transforms=[
            dict(
                type='RandomColorJitter',
                brightness=0.5,
                contrast=0.5,
                saturation=0.5,
                hue=0.25,
                prob=0.8,
            ),
            dict(type='RandomLumaGrayscale', prob=0.2),
            dict(type='RandomGaussianBlur', sigma=(0.1, 2.0), prob=0.5),
        ],
    ),
    dict(type='PackSemiInputs', size=crop_size),
]
unlabeled_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    ann_file=f'splits/{split}/unlabeled.txt',
    labels='optional',
    pipeline=unlabeled_pipeline,
)
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=labeled_dataset,
)
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type, data_root=data_root, ann_file='splits/val.txt', pipeline=test_pipeline
    ),
)
test_dataloader = val_dataloader
# Test-time augmentation (`tools/test.py CONFIG CKPT --tta`) as in mmseg's VOC and Cityscapes:
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
