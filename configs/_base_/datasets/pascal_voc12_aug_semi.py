# Pascal VOC 2012 "blended" semi-supervised splits (paper Table 2): labeled images drawn from the
# whole 10,582-image augmented set (VOC + SBD), unlabeled = the rest; 321x321 crops. A labeled
# image takes its label from SegmentationClass if it is one of the 1,464 fine ones, else from
# SegmentationClassAug (mmseg's voc_aug.py layout). Lists: splits/pascal/{1_16,1_8,1_4} (UniMatch
# draws) and splits/pascal/u2pl_{1_16,1_8,1_4} (U2PL draws).
_base_ = ['./pascal_voc12_semi.py']
labeled_dataset = dict(
    _base_.labeled_dataset,
    ann_file='splits/pascal/1_16/labeled.txt',
    seg_map_fallback='SegmentationClassAug',
)
unlabeled_dataset = dict(
    _base_.unlabeled_dataset,
    ann_file='splits/pascal/1_16/unlabeled.txt',
    overlap_with='splits/pascal/1_16/labeled.txt',
)
train_dataloader = dict(dataset=labeled_dataset)
