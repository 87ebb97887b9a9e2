# Demo schedule: SGD with poly decay (paper §4.1), 600 iterations, what the fully supervised run
# needs to learn every class (`make demo` shortens it to 500 to fit in 10 minutes). lr 0.05
# instead of the paper's 0.001: the demo trains a small network from scratch, and with it the
# fully supervised run learns every class (the benchmark design,
# docs/benchmarks/demo_design_cpu.md, chose both from supervised runs only).
optimizer = dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=optimizer,
    clip_grad=None,
    constructor='SemiOptimWrapperConstructor',  # mmengine's, with a mean teacher's teacher left out
)
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=600, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=600, val_interval=300)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=False, interval=300, max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'),
)
randomness = dict(seed=0)
