# A small DeepLabV3+ for the demo data (CPU-sized): ResNetV1c-18 with 32 base channels,
# output stride 8, trained from scratch (no pretrained weights can be downloaded here).
_base_ = ['mmseg::_base_/models/deeplabv3plus_r50-d8.py']
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    pretrained=None,
    backbone=dict(depth=18, stem_channels=32, base_channels=32, norm_cfg=norm_cfg),
    decode_head=dict(
        in_channels=256,
        channels=64,
        c1_in_channels=32,
        c1_channels=16,
        dilations=(1, 2, 4, 6),
        num_classes=8,
        norm_cfg=norm_cfg,
        # L_s averaged over the pixels that are not ignored, as in deeplabv3plus_r50-d16.py.
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True
        ),
    ),
    auxiliary_head=None,
)
