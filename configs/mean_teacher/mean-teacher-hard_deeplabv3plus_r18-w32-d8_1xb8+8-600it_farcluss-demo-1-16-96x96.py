# The hard-label mean teacher (../_base_/methods/mean_teacher.py) on the demo's 1/16 split: the
# teacher's argmax where its confidence is >= 0.95; same data, views and network as FARCLUSS.
_base_ = [
    '../_base_/benchmarks/semi_deeplabv3plus_r18-w32-d8_1xb8+8-600it_farcluss-demo-1-16-96x96.py',
    '../_base_/methods/mean_teacher.py',
]
model = dict(
    _base_.method,
    _delete_=True,
    segmentor=_base_.model,
    semi_train_cfg=dict(_base_.method.semi_train_cfg, **_base_.demo_semi_train_cfg),
)
custom_hooks = [*_base_.custom_hooks, *_base_.method_hooks]
