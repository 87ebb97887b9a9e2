# UniMatch V1 with its published values (VOC; the Cityscapes configs set confidence_threshold=0).
# Used as in configs/_base_/methods/farcluss.py. Its total loss is
#     (L_x + 0.25 L_s1 + 0.25 L_s2 + 0.5 L_fp) / 2,
# hence sup_weight 0.5 and the loss weights 0.125 (each strong view) and 0.25 below.
method = dict(
    type='UniMatch',
    semi_train_cfg=dict(
        confidence_threshold=0.95,
        fp_dropout=0.5,  # channel dropout of the feature-perturbed stream
        sup_weight=0.5,
        cutmix_prob=0.5,
        cutmix_area=(0.02, 0.4),
        burn_in_iters=0,
    ),
    strong_loss=dict(type='HardPseudoLabelLoss', loss_weight=0.125, loss_name='loss_u_s'),
    fp_loss=dict(type='HardPseudoLabelLoss', loss_weight=0.25, loss_name='loss_u_fp'),
)
method_hooks = []  # no EMA teacher
