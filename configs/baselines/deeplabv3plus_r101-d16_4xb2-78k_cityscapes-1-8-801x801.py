# Supervised only, DeepLabV3+ ResNet-101 OS16, Cityscapes split 1_8: 372 labeled images, 801x801
# crops (paper Table 3). As many iterations of 8 labeled images as FARCLUSS: 240 epochs of the 2603
# unlabeled images, 8 a step: 240 x ceil(2603 / 8) = 78240 iterations.
# FARCLUSS twin:
#   ../farcluss/farcluss_deeplabv3plus_r101-d16_4xb2+2-78k_cityscapes-1-8-801x801.py
_base_ = ['../_base_/benchmarks/deeplabv3plus_r101-d16_4xb2_cityscapes-801x801.py']
split_dir = 'splits/cityscapes/1_8'
max_iters = 78240
labeled_dataset = dict(_base_.labeled_dataset, ann_file=f'{split_dir}/labeled.txt')
train_dataloader = dict(dataset=labeled_dataset)
train_cfg = dict(max_iters=max_iters)
param_scheduler = [dict(_base_.param_scheduler[0], end=max_iters)]
