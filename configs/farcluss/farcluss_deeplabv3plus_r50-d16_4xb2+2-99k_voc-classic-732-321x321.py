# FARCLUSS, DeepLabV3+ ResNet-50 OS16, VOC classic split 732 (1/2): 732 labeled images, 321x321
# crops (paper Table 1). 80 epochs of the 9850 unlabeled images, 8 a step: 80 x ceil(9850 / 8) =
# 98560 iterations of 8 labeled + 8 unlabeled images.
# Supervised-only twin:
#   ../baselines/deeplabv3plus_r50-d16_4xb2-99k_voc-classic-732-321x321.py
_base_ = ['../_base_/benchmarks/farcluss_deeplabv3plus_r50-d16_4xb2+2_voc-classic-321x321.py']
split_dir = 'splits/pascal/732'
max_iters = 98560
labeled_dataset = dict(_base_.labeled_dataset, ann_file=f'{split_dir}/labeled.txt')
unlabeled_dataset = dict(
    _base_.unlabeled_dataset,
    ann_file=f'{split_dir}/unlabeled.txt',
    overlap_with=f'{split_dir}/labeled.txt',
)
train_dataloader = dict(dataset=dict(datasets=[labeled_dataset, unlabeled_dataset]))
train_cfg = dict(max_iters=max_iters)
param_scheduler = [dict(_base_.param_scheduler[0], end=max_iters)]
