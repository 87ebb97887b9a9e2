# A short name for the paper's headline run:
#   python tools/train.py configs/farcluss/deeplabv3plus_r101_voc_1-16.py
# = FARCLUSS, DeepLabV3+ ResNet-101 on VOC classic 1/16 (92 labeled images), 321x321 crops: the
# paper's Table 1 headline (76.4 mIoU). Written for 4 GPUs x (2 + 2); on one GPU with
# tools/train.py a step has 2 + 2 images, so enable the linear lr rule
# (--cfg-options auto_scale_lr.enable=True) or keep 8 + 8 with
# --cfg-options train_dataloader.batch_size=16 train_dataloader.sampler.batch_size=16.
_base_ = ['./farcluss_deeplabv3plus_r101-d16_4xb2+2-105k_voc-classic-92-321x321.py']
