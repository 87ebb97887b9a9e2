# Supervised only, DeepLabV3+ ResNet-50 OS16, VOC blended split 1_4: 2646 labeled images, 321x321
# crops (paper Table 2). As many iterations of 8 labeled images as FARCLUSS: 80 epochs of the 7936
# unlabeled images, 8 a step: 80 x ceil(7936 / 8) = 79360 iterations.
# FARCLUSS twin:
#   ../farcluss/farcluss_deeplabv3plus_r50-d16_4xb2+2-79k_voc-blended-1-4-321x321.py
_base_ = ['../_base_/benchmarks/deeplabv3plus_r50-d16_4xb2_voc-blended-321x321.py']
split_dir = 'splits/pascal/1_4'
max_iters = 79360
labeled_dataset = dict(_base_.labeled_dataset, ann_file=f'{split_dir}/labeled.txt')
train_dataloader = dict(dataset=labeled_dataset)
train_cfg = dict(max_iters=max_iters)
param_scheduler = [dict(_base_.param_scheduler[0], end=max_iters)]
