# The hard-label mean teacher: the EMA teacher's argmax where its confidence is >= 0.95, learnt
# with cross-entropy on the same CutMix strong views as FARCLUSS. Used as in
# configs/_base_/methods/farcluss.py.
method = dict(
    type='HardLabelMeanTeacher',
    semi_train_cfg=dict(
        confidence_threshold=0.95,  # None: every valid pixel (the plain mean teacher)
        cutmix_prob=0.5,
        cutmix_area=(0.02, 0.4),
        burn_in_iters=0,
    ),
    unsup_loss=dict(type='HardPseudoLabelLoss', loss_weight=0.5),  # as FARCLUSS's lambda_u
    semi_test_cfg=dict(predict_on='teacher'),
)
method_hooks = [dict(type='MeanTeacherHook', momentum=0.01)]  # alpha = 0.99, as FARCLUSS
