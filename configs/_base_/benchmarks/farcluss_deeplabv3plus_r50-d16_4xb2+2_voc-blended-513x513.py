# FARCLUSS on Pascal VOC 2012 blended splits (paper Table 2), 513x513 crops, with the paper's values. The leaves in
# configs/farcluss/ set the split and the iterations.
_base_ = ['./semi_deeplabv3plus_r50-d16_4xb2+2_voc-blended-513x513.py', '../methods/farcluss.py']
model = dict(_base_.method, _delete_=True, segmentor=_base_.model)
custom_hooks = [*_base_.custom_hooks, *_base_.method_hooks]
# The projection head is new, like the decoder: 10x lr too.
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={'decode_head': dict(lr_mult=10.0), 'projector': dict(lr_mult=10.0)}
    )
)
