# Baseline: a FixMatch/UniMatch-style hard-threshold mean teacher: argmax pseudo-labels kept where
# the teacher's confidence is >= 0.95, same views, CutMix, model and lambda_u as FARCLUSS; no
# contrast, no feature perturbation.
_base_ = ['../farcluss_deeplabv3plus_r18-w32-d8_1xb8+8-600it_farcluss-demo-1-16-96x96.py']
model = dict(
    unsup_loss=dict(_delete_=True, type='HardPseudoLabelLoss', threshold=0.95, loss_weight=0.5),
    contrast_loss=None,
    semi_train_cfg=dict(feature_perturbation=False),
)
