# FARCLUSS, DeepLabV3+ ResNet-101 OS16, Cityscapes split 1_16: 186 labeled images, 801x801 crops
# (paper Table 3). 240 epochs of the 2789 unlabeled images, 8 a step: 240 x ceil(2789 / 8) = 83760
# iterations of 8 labeled + 8 unlabeled images.
# Supervised-only twin:
#   ../baselines/deeplabv3plus_r101-d16_4xb2-84k_cityscapes-1-16-801x801.py
_base_ = ['../_base_/benchmarks/farcluss_deeplabv3plus_r101-d16_4xb2+2_cityscapes-801x801.py']
split_dir = 'splits/cityscapes/1_16'
max_iters = 83760
labeled_dataset = dict(_base_.labeled_dataset, ann_file=f'{split_dir}/labeled.txt')
unlabeled_dataset = dict(
    _base_.unlabeled_dataset,
    ann_file=f'{split_dir}/unlabeled.txt',
    overlap_with=f'{split_dir}/labeled.txt',
)
train_dataloader = dict(dataset=dict(datasets=[labeled_dataset, unlabeled_dataset]))
train_cfg = dict(max_iters=max_iters)
param_scheduler = [dict(_base_.param_scheduler[0], end=max_iters)]
