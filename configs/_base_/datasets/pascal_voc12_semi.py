# Pascal VOC 2012 "classic" semi-supervised splits (paper Table 1): labeled images from the 1,464
# finely annotated ones (labels in SegmentationClass), unlabeled = the rest of the 10,582-image
# augmented set. 321x321 crops. Split lists: data/VOCdevkit/VOC2012/splits/pascal/<split>/, made
# by tools/dataset_converters/convert_unimatch_splits.py (configs/farcluss/README.md).
# Augmentation as in UniMatch: rescale 0.5-2.0 of the original size (VOC images have a long side
# of 500 px, so scale=(500, 500) keeps it), random crop (padded with 255 by the preprocessor),
# flip; strong views add colour jitter, grayscale and blur. The train_dataloader here is
# supervised (4 GPUs x 2 labeled); the FARCLUSS configs mix in `unlabeled_dataset`.
dataset_type = 'PascalVOCSemiDataset'
data_root = 'data/VOCdevkit/VOC2012'
crop_size = (321, 321)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCheckedAnnotations'),
    dict(type='RandomResize', scale=(500, 500), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
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
    dict(type='RandomResize', scale=(500, 500), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='StrongViews', num_views=2, transforms=strong_transforms),
    dict(type='PackSemiInputs', size=crop_size),
]
labeled_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    ann_file='splits/pascal/92/labeled.txt',
    pipeline=train_pipeline,
)
unlabeled_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    ann_file='splits/pascal/92/unlabeled.txt',
    overlap_with='splits/pascal/92/labeled.txt',  # warns if the two lists share images
    seg_map_fallback='SegmentationClassAug',  # the SBD images' labels (monitoring only)
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
        ann_file='ImageSets/Segmentation/val.txt',  # the 1,449 val images, whole-image test
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
# Test-time augmentation (`tools/test.py CONFIG CKPT --tta`) as in mmseg's own VOC base:
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
