# The paper's optimiser (§4.1; docs/method.md, "Schedule and models"): SGD, lr 0.001 with the
# decoder at 10x, momentum 0.9, weight decay 1e-4, poly decay (power 0.9, to 0) per iteration.
# The leaves set max_iters = epochs * ceil(N_unlabeled / 8) and the PolyLR end to the same number.
#
# The lr is for the paper's total batch: 4 GPUs x (2 labeled + 2 unlabeled) = 8 + 8 (the
# supervised twins: 4 GPUs x 2 labeled). With another total batch, scale the lr linearly
# (mmengine's auto_scale_lr): `--cfg-options auto_scale_lr.enable=True` multiplies it by
# (GPUs x train_dataloader.batch_size) / base_batch_size, e.g. by 0.5 on 2 GPUs. Or keep the
# total batch, e.g. 2 GPUs x (4 + 4): train_dataloader.batch_size=8 and sampler batch_size=8.
max_iters = 80000
optimizer = dict(type='SGD', lr=0.001, momentum=0.9, weight_decay=1e-4)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=optimizer,
    clip_grad=None,
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.0)}),
    constructor='SemiOptimWrapperConstructor',  # mmengine's, with a mean teacher's teacher left out
)
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=4000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='SafeCheckpointHook', by_epoch=False, interval=4000, max_keep_ckpts=1, save_best='mIoU'
    ),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'),
)
# Total images a step (all GPUs) the lr above is meant for; 16 = 8 labeled + 8 unlabeled.
auto_scale_lr = dict(enable=False, base_batch_size=16)
