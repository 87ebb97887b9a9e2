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
# Every method on the demo starts with the same 200 supervised iterations (the teacher of a
# network trained from scratch is uninformative before; 200 is where the supervised run reaches
# 80 % of its final mIoU) and logs the pseudo-labels' precision/recall of the rare class (pole).
demo_semi_train_cfg = dict(burn_in_iters=200, rare_class=7)
