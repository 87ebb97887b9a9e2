# Ablation: the pseudocode's class weighting (the pixel term times w of its top-1 class).
_base_ = ['../farcluss_deeplabv3plus_r18-w32-d8_1xb8+8-600it_farcluss-demo-1-16-96x96.py']
model = dict(unsup_loss=dict(class_weight_mode='top1'))
