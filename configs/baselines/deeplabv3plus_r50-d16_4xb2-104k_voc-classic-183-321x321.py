# Supervised only, DeepLabV3+ ResNet-50 OS16, VOC classic split 183 (1/8): 183 labeled images,
# 321x321 crops (paper Table 1). As many iterations of 8 labeled images as FARCLUSS: 80 epochs of
# the 10399 unlabeled images, 8 a step: 80 x ceil(10399 / 8) = 104000 iterations.
# FARCLUSS twin:
#   ../farcluss/farcluss_deeplabv3plus_r50-d16_4xb2+2-104k_voc-classic-183-321x321.py
_base_ = ['../_base_/benchmarks/deeplabv3plus_r50-d16_4xb2_voc-classic-321x321.py']
split_dir = 'splits/pascal/183'
max_iters = 104000
labeled_dataset = dict(_base_.labeled_dataset, ann_file=f'{split_dir}/labeled.txt')
train_dataloader = dict(dataset=labeled_dataset)
train_cfg = dict(max_iters=max_iters)
param_scheduler = [dict(_base_.param_scheduler[0], end=max_iters)]
