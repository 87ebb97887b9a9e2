# Ablation: no uncertainty weighting (W = 1 in L_u and L_c; the H > 0.7 cut stays).
_base_ = ['../farcluss_deeplabv3plus_r18-w32-d8_1xb8+8-600it_farcluss-demo-1-16-96x96.py']
model = dict(semi_train_cfg=dict(entropy_weight=False))
