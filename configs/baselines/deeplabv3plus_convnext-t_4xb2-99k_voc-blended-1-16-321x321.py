# Supervised-only twin of FARCLUSS with mmpretrain's ConvNeXt-T
# (../farcluss/farcluss_deeplabv3plus_convnext-t_4xb2+2-99k_voc-blended-1-16-321x321.py): the
# ResNet-50 VOC blended 1/16 baseline with the ConvNeXt-T backbone.
_base_ = ['./deeplabv3plus_r50-d16_4xb2-99k_voc-blended-1-16-321x321.py']
custom_imports = dict(imports=['farcluss_mmseg', 'mmpretrain.models'], allow_failed_imports=False)
checkpoint = 'https://download.openmmlab.com/mmclassification/v0/convnext/downstream/convnext-tiny_3rdparty_32xb128-noema_in1k_20220301-795e9634.pth'  # noqa: E501
model = dict(
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
    # ConvNeXt has output stride 32 (ResNet here: 16), so the ASPP rates are halved to cover
    # the same image area; the low-level features are stage 1's 96 channels at stride 4.
    decode_head=dict(in_channels=768, c1_in_channels=96, dilations=(1, 3, 6, 9)),
)
