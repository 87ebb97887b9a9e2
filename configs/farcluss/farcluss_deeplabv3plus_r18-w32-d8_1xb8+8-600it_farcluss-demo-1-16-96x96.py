# FARCLUSS on the demo's 1/16 split: the supervised baseline's model, labeled data, iterations
# and schedule, plus 8 unlabeled images per batch. The paper's values are the defaults.
_base_ = ['../baselines/deeplabv3plus_r18-w32-d8_1xb8-600it_farcluss-demo-1-16-96x96.py']
model = dict(
    _delete_=True,
    type='FARCLUSS',
    segmentor={{_base_.model}},
    unsup_loss=dict(
        type='FuzzyPseudoLabelLoss',
        top_k=2,
        entropy_threshold=0.7,
        median_over='present',
        class_weight_mode='per_class',
        loss_weight=0.5,
    ),
    contrast_loss=dict(type='PrototypeContrastiveLoss', confidence_threshold=0.5, loss_weight=0.1),
    semi_train_cfg=dict(cutmix_prob=0.5, cutmix_area=(0.02, 0.4), feature_perturbation=True),
    semi_test_cfg=dict(predict_on='teacher'),
)
train_dataloader = dict(
    batch_size=16,  # 8 labeled + 8 unlabeled
    sampler=dict(_delete_=True, type='MultiSourceSampler', batch_size=16, source_ratio=[1, 1]),
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[{{_base_.labeled_dataset}}, {{_base_.unlabeled_dataset}}],
    ),
)
custom_hooks = [  # the base runtime's hooks, plus the EMA teacher update
    dict(type='FiniteLossHook'),
    dict(type='NumClassesCheckHook'),
    dict(type='RandomStateHook'),
    dict(type='MeanTeacherHook', momentum=0.01),  # eq. 1 with alpha = 0.99
]
