# The paper's headline setting (VOC blended 1/16, 513x513) with bf16 mixed precision: mmengine's
# AmpOptimWrapper runs the forward under autocast; the FARCLUSS losses stay in fp32. The same two
# keys switch any config; `tools/train.py --amp` gives fp16 with dynamic loss scaling instead.
_base_ = ['./farcluss_deeplabv3plus_r101-d16_4xb2+2-99k_voc-blended-1-16-513x513.py']
optim_wrapper = dict(type='AmpOptimWrapper', dtype='bfloat16')
