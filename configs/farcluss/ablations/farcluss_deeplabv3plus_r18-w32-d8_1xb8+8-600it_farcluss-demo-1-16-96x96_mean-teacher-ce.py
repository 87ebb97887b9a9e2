# Baseline: a plain mean teacher with the same views, CutMix and model as FARCLUSS, but hard-label
# cross-entropy on every valid pixel (no threshold), no contrast, no feature perturbation. The
# "reference" step of tools/analysis_tools/benchmark_step.py.
_base_ = ['../farcluss_deeplabv3plus_r18-w32-d8_1xb8+8-600it_farcluss-demo-1-16-96x96.py']
model = dict(
    unsup_loss=dict(_delete_=True, type='HardPseudoLabelLoss', threshold=None, loss_weight=0.5),
    contrast_loss=None,
    semi_train_cfg=dict(feature_perturbation=False),
)
