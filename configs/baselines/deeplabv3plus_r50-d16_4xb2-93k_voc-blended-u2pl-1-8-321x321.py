# Supervised only, DeepLabV3+ ResNet-50 OS16, VOC blended split u2pl_1_8: 1323 labeled images,
# 321x321 crops (paper Table 2). As many iterations of 8 labeled images as FARCLUSS: 80 epochs of
# the 9259 unlabeled images, 8 a step: 80 x ceil(9259 / 8) = 92640 iterations.
# FARCLUSS twin:
#   ../farcluss/farcluss_deeplabv3plus_r50-d16_4xb2+2-93k_voc-blended-u2pl-1-8-321x321.py
_base_ = ['../_base_/benchmarks/deeplabv3plus_r50-d16_4xb2_voc-blended-321x321.py']
split_dir = 'splits/pascal/u2pl_1_8'
max_iters = 92640
labeled_dataset = dict(_base_.labeled_dataset, ann_file=f'{split_dir}/labeled.txt')
train_dataloader = dict(dataset=labeled_dataset)
train_cfg = dict(max_iters=max_iters)
param_scheduler = [dict(_base_.param_scheduler[0], end=max_iters)]
