# Ablation: K = 2, the paper's value (identical to the base; listed for the K sweep).
_base_ = ['../farcluss_deeplabv3plus_r18-w32-d8_1xb8+8-600it_farcluss-demo-1-16-96x96.py']
model = dict(semi_train_cfg=dict(top_k=2))
