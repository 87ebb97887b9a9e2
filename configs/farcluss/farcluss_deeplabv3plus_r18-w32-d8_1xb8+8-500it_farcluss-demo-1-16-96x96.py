# `make demo`'s FARCLUSS: the demo FARCLUSS config on the 500 iterations of `make demo`'s
# baseline. The burn-in stays 200: the 500-iteration supervised run first reaches 80 % of its
# final mIoU there too.
_base_ = ['./farcluss_deeplabv3plus_r18-w32-d8_1xb8+8-600it_farcluss-demo-1-16-96x96.py']
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=500, by_epoch=False)]
train_cfg = dict(max_iters=500, val_interval=250)
default_hooks = dict(checkpoint=dict(interval=250))
