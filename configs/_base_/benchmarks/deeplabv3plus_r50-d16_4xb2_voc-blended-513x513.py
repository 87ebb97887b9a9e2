# Supervised-only baseline (the tables' "Supervised Only" rows): DeepLabV3+ ResNet-50 OS16 on Pascal
# VOC 2012 blended splits (paper Table 2), 513x513 crops, 4 GPUs x 2 labeled images. The leaves in
# configs/baselines/ set the split and the iterations.
_base_ = [
    '../models/deeplabv3plus_r50-d16.py',
    '../datasets/pascal_voc12_aug_semi_513x513.py',
    '../default_runtime.py',
    '../schedules/farcluss_sgd-poly.py',
]
data_preprocessor = dict(size={{_base_.crop_size}})
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=21),
)
auto_scale_lr = dict(base_batch_size=8)  # 4 GPUs x 2 labeled images
