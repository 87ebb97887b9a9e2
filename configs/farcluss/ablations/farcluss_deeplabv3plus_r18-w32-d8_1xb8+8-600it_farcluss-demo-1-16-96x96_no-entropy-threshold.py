# Ablation: no entropy threshold (every valid pixel counts in L_u).
_base_ = ['../farcluss_deeplabv3plus_r18-w32-d8_1xb8+8-600it_farcluss-demo-1-16-96x96.py']
model = dict(semi_train_cfg=dict(entropy_threshold=None))
