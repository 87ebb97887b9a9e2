# Semi-supervised data on the demo's 1/16 split: the supervised twin (model, labeled data,
# iterations, schedule) with 8 unlabeled images added to its 8 labeled ones in every batch. A
# method base (../methods/*.py) and its model wrap go on top.
_base_ = ['../../baselines/deeplabv3plus_r18-w32-d8_1xb8-600it_farcluss-demo-1-16-96x96.py']
train_dataloader = dict(
    batch_size=16,  # 8 labeled + 8 unlabeled
    sampler=dict(_delete_=True, type='MultiSourceSampler', batch_size=16, source_ratio=[1, 1]),
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[_base_.labeled_dataset, _base_.unlabeled_dataset],
    ),
)
