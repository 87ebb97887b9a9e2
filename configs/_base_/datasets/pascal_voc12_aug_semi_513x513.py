# pascal_voc12_aug_semi.py with 513x513 crops (paper Table 2, "513" rows).
_base_ = ['./pascal_voc12_aug_semi.py']
crop_size = (513, 513)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCheckedAnnotations'),
    dict(type='RandomResize', scale=(500, 500), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
unlabeled_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadOptionalAnnotations'),
    dict(type='AddValidMask'),
    dict(type='RandomResize', scale=(500, 500), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='StrongViews', num_views=2, transforms={{_base_.strong_transforms}}),
    dict(type='PackSemiInputs', size=crop_size),
]
labeled_dataset = dict(_base_.labeled_dataset, pipeline=train_pipeline)
unlabeled_dataset = dict(_base_.unlabeled_dataset, pipeline=unlabeled_pipeline)
train_dataloader = dict(dataset=labeled_dataset)
