# semi_deeplabv3plus_r50-d16_4xb2+2_cityscapes-801x801.py with ResNet-101.
_base_ = ['./semi_deeplabv3plus_r50-d16_4xb2+2_cityscapes-801x801.py']
model = dict(pretrained='open-mmlab://resnet101_v1c', backbone=dict(depth=101))
