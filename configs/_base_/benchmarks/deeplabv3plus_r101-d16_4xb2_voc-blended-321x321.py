# deeplabv3plus_r50-d16_4xb2_voc-blended-321x321.py with ResNet-101.
_base_ = ['./deeplabv3plus_r50-d16_4xb2_voc-blended-321x321.py']
model = dict(pretrained='open-mmlab://resnet101_v1c', backbone=dict(depth=101))
