# FARCLUSS on the demo's 1/16 split, with the paper's values (../_base_/methods/farcluss.py).
_base_ = [
    '../_base_/benchmarks/semi_deeplabv3plus_r18-w32-d8_1xb8+8-600it_farcluss-demo-1-16-96x96.py',
    '../_base_/methods/farcluss.py',
]
model = dict(
    _base_.method,
    _delete_=True,
    segmentor=_base_.model,
    semi_train_cfg=dict(_base_.method.semi_train_cfg, **_base_.demo_semi_train_cfg),
)
custom_hooks = [*_base_.custom_hooks, *_base_.method_hooks]
