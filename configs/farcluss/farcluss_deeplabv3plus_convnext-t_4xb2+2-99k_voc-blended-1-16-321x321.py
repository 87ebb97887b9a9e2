# FARCLUSS with a backbone from mmpretrain: the ResNet-50 VOC blended 1/16 config with
# mmpretrain's ConvNeXt-T (registry scope `mmpretrain.`), to show that nothing in the method is
# tied to ResNet. Same schedule as the ResNet row; not tuned for ConvNeXt (mmseg trains ConvNeXt
# with AdamW), and the paper has no such row.
# Supervised-only twin: ../baselines/deeplabv3plus_convnext-t_4xb2-99k_voc-blended-1-16-321x321.py
_base_ = ['./farcluss_deeplabv3plus_r50-d16_4xb2+2-99k_voc-blended-1-16-321x321.py']
custom_imports = dict(imports=['farcluss_mmseg', 'mmpretrain.models'], allow_failed_imports=False)
checkpoint = 'https://download.openmmlab.com/mmclassification/v0/convnext/downstream/convnext-tiny_3rdparty_32xb128-noema_in1k_20220301-795e9634.pth'  # noqa: E501
model = dict(
    segmentor=dict(
        pretrained=None,
        backbone=dict(
            _delete_=True,
            type='mmpretrain.ConvNeXt',  # any mmpretrain backbone, through the registry scope
            arch='tiny',
            out_indices=(0, 1, 2, 3),
            drop_path_rate=0.4,
            layer_scale_init_value=1.0,
            gap_before_final_norm=False,
            init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.'),
        ),
        # Output stride 32: ASPP rates halved to cover the area of ResNet's 6/12/18 at OS16.
        decode_head=dict(in_channels=768, c1_in_channels=96, dilations=(1, 3, 6, 9)),
    )
)
