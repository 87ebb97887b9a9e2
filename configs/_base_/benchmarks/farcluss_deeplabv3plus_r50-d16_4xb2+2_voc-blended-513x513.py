# FARCLUSS on Pascal VOC 2012 blended splits (paper Table 2), 513x513 crops: the supervised
# baseline's model, labeled data and schedule, plus 2 unlabeled images a GPU (4 GPUs x (2 + 2) = the
# paper's 8 + 8). The paper's values are the defaults. The leaves in configs/farcluss/ set the split
# and the iterations.
_base_ = ['./deeplabv3plus_r50-d16_4xb2_voc-blended-513x513.py']
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
    batch_size=4,  # 2 labeled + 2 unlabeled a GPU
    sampler=dict(_delete_=True, type='MultiSourceSampler', batch_size=4, source_ratio=[1, 1]),
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[{{_base_.labeled_dataset}}, {{_base_.unlabeled_dataset}}],
    ),
)
# The projection head is new, like the decoder: 10x lr too.
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={'decode_head': dict(lr_mult=10.0), 'projector': dict(lr_mult=10.0)}
    )
)
custom_hooks = [
    dict(type='FiniteLossHook'),
    dict(type='NumClassesCheckHook'),
    dict(type='RandomStateHook'),
    dict(type='MeanTeacherHook', momentum=0.01),  # eq. 1 with alpha = 0.99
]
auto_scale_lr = dict(base_batch_size=16)  # 4 GPUs x (2 labeled + 2 unlabeled)
