# Ablation: the literal eq. 7: median over all C classes (usually 0, so L_u vanishes).
_base_ = ['../farcluss_deeplabv3plus_r18-w32-d8_1xb8+8-600it_farcluss-demo-1-16-96x96.py']
model = dict(unsup_loss=dict(median_over='all'))
