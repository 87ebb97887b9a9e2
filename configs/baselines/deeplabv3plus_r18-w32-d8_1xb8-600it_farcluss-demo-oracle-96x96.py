# Oracle on the demo data: the supervised baseline trained on the labels of all train images
# (the demo keeps every label), same model, schedule and batch. It bounds what a
# semi-supervised method can reach on the 1/16 split.
_base_ = ['./deeplabv3plus_r18-w32-d8_1xb8-600it_farcluss-demo-1-16-96x96.py']
train_dataloader = dict(dataset=dict(ann_file='splits/train.txt'))
