# Ablation: K = 1: hard pseudo-labels (top-1).
_base_ = ['../farcluss_deeplabv3plus_r18-w32-d8_1xb8+8-600it_farcluss-demo-1-16-96x96.py']
model = dict(semi_train_cfg=dict(top_k=1))
