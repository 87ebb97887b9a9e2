# Supervised only, DeepLabV3+ ResNet-101 OS16, VOC blended split u2pl_1_16: 662 labeled images,
# 513x513 crops (paper Table 2). As many iterations of 8 labeled images as FARCLUSS: 80 epochs of
# the 9920 unlabeled images, 8 a step: 80 x ceil(9920 / 8) = 99200 iterations.
# FARCLUSS twin:
#   ../farcluss/farcluss_deeplabv3plus_r101-d16_4xb2+2-99k_voc-blended-u2pl-1-16-513x513.py
_base_ = ['../_base_/benchmarks/deeplabv3plus_r101-d16_4xb2_voc-blended-513x513.py']
split_dir = 'splits/pascal/u2pl_1_16'
max_iters = 99200
labeled_dataset = dict(_base_.labeled_dataset, ann_file=f'{split_dir}/labeled.txt')
train_dataloader = dict(dataset=labeled_dataset)
train_cfg = dict(max_iters=max_iters)
param_scheduler = [dict(_base_.param_scheduler[0], end=max_iters)]
