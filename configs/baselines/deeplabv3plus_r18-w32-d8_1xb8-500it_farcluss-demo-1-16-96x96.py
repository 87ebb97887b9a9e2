# `make demo`'s supervised-only baseline: the demo baseline on 500 iterations instead of 600, so
# that `make demo` fits in 10 minutes on 2 CPU cores. compare_methods.py keeps the 600
# iterations, which the oracle needs to learn every class (docs/benchmarks/demo_design_cpu.md).
_base_ = ['./deeplabv3plus_r18-w32-d8_1xb8-600it_farcluss-demo-1-16-96x96.py']
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=500, by_epoch=False)]
train_cfg = dict(max_iters=500, val_interval=250)
default_hooks = dict(checkpoint=dict(interval=250))
