# FARCLUSS with the paper's values: the one file to edit K, the entropy threshold, lambda_u,
# lambda_c or the EMA alpha. A FARCLUSS config lists it after a supervised model + data base and
# wraps that base's model (configs/_base_/benchmarks/farcluss_*.py do):
#     _base_ = ['<supervised base>', '../methods/farcluss.py']
#     model = dict(_base_.method, _delete_=True, segmentor=_base_.model)
#     custom_hooks = [*_base_.custom_hooks, *_base_.method_hooks]
method = dict(
    type='FARCLUSS',
    semi_train_cfg=dict(
        top_k=2,  # K of eq. 2: fuzzy labels keep the teacher's top-2 classes
        entropy_threshold=0.7,  # pixels with normalised entropy H > 0.7 leave L_u
        entropy_weight=True,  # W = 1 - H (eq. 6) weights L_u and picks L_c's confident pixels
        feature_perturbation=True,  # complementary channel dropout of the two strong views
        cutmix_prob=0.5,  # CutMix per strong view and image
        cutmix_area=(0.02, 0.4),
        burn_in_iters=0,  # supervised-only iterations before L_u, L_c and the EMA start
    ),
    unsup_loss=dict(  # L_u, eq. 4-8
        type='FuzzyPseudoLabelLoss',
        median_over='present',  # eq. 7's median over the classes present in the batch
        max_class_weight=10.0,
        class_weight_mode='per_class',  # eq. 8
        loss_weight=0.5,  # lambda_u
    ),
    contrast_loss=dict(  # L_c, eq. 9-10
        type='PrototypeContrastiveLoss',
        confidence_threshold=0.5,  # pixels with W > 0.5 build and use the prototypes
        loss_weight=0.1,  # lambda_c
    ),
    projector=dict(type='ProjectionHead', embed_dim=128),
    semi_test_cfg=dict(predict_on='teacher'),
)
# Eq. 1: teacher <- alpha * teacher + (1 - alpha) * student, alpha = 1 - momentum = 0.99.
method_hooks = [dict(type='MeanTeacherHook', momentum=0.01)]
