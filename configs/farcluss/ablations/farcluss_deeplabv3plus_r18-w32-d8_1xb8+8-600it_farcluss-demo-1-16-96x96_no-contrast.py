# Ablation: no prototype contrast (L_c off, eq. 9-10).
_base_ = ['../farcluss_deeplabv3plus_r18-w32-d8_1xb8+8-600it_farcluss-demo-1-16-96x96.py']
model = dict(contrast_loss=None)
