# `make demo`'s oracle: its 500-iteration baseline on the labels of all train images.
_base_ = ['./deeplabv3plus_r18-w32-d8_1xb8-500it_farcluss-demo-1-16-96x96.py']
train_dataloader = dict(dataset=dict(ann_file='splits/train.txt'))
