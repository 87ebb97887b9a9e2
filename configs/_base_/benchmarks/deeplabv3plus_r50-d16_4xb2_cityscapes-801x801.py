# Supervised-only baseline (the tables' "Supervised Only" rows): DeepLabV3+ ResNet-50 OS16 on
# Cityscapes (paper Table 3), 801x801 crops, 4 GPUs x 2 labeled images. The leaves in
# configs/baselines/ set the split and the iterations.
_base_ = [
    '../models/deeplabv3plus_r50-d16.py',
    '../datasets/cityscapes_semi.py',
    '../default_runtime.py',
    '../schedules/farcluss_sgd-poly.py',
]
data_preprocessor = dict(size={{_base_.crop_size}})
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=19),
    # Sliding windows of the training crop, 2/3 overlap as UniMatch's evaluation.
    test_cfg=dict(mode='slide', crop_size=(801, 801), stride=(534, 534)),
)
auto_scale_lr = dict(base_batch_size=8)  # 4 GPUs x 2 labeled images
