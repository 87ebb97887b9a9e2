# Supervised-only baseline on the demo's 1/16 labeled split: the "Supervised Only" row.
_base_ = [
    '../_base_/models/deeplabv3plus_r18-w32-d8.py',
    '../_base_/datasets/farcluss_demo.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/demo_600it.py',
]
data_preprocessor = dict(size={{_base_.crop_size}})
model = dict(data_preprocessor=data_preprocessor)
