# Semi-supervised data on Cityscapes (paper Table 3), 801x801 crops: the supervised twin's base
# (model, labeled data, schedule) with 2 labeled + 2 unlabeled images a GPU (4 GPUs x (2 + 2) = the
# paper's 8 + 8). A method base (../methods/*.py) and its model wrap go on top.
_base_ = ['./deeplabv3plus_r50-d16_4xb2_cityscapes-801x801.py']
train_dataloader = dict(
    batch_size=4,  # 2 labeled + 2 unlabeled a GPU
    sampler=dict(_delete_=True, type='MultiSourceSampler', batch_size=4, source_ratio=[1, 1]),
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[_base_.labeled_dataset, _base_.unlabeled_dataset],
    ),
)
auto_scale_lr = dict(base_batch_size=16)  # 4 GPUs x (2 labeled + 2 unlabeled)
