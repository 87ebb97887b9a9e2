"""The template step of SemiSegmentor: L_s, burn-in, statistics, checks, checkpoint loading."""

import math

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch.testing import assert_close

from farcluss_mmseg.models.segmentors import semi_base
from farcluss_mmseg.models.utils import PseudoLabels

SEGMENTOR_TYPES = ('FARCLUSS', 'HardLabelMeanTeacher', 'UniMatch')


def labeled_samples(labels):
    """SegDataSamples holding the given (H, W) label maps."""
    samples = []
    for label in labels:
        shape = tuple(label.shape)
        s = SegDataSample(metainfo=dict(img_shape=shape, ori_shape=shape, pad_shape=shape))
        s.gt_sem_seg = PixelData(data=label[None])
        samples.append(s)
    return samples


@pytest.mark.parametrize('avg_non_ignore', [True, False])
def test_sup_loss_by_hand_and_equal_to_mmseg(build, segmentor_cfg, avg_non_ignore):
    """Eq. 12 on one image of 1x4 pixels, C = 3, labels [0, 1, 255, 255]:
    pixel 0 logits [ln 2, 0, 0] -> softmax [1/2, 1/4, 1/4], CE ln 2; pixel 1 logits 0 -> CE ln 3.
    Averaged over the 2 pixels that are not ignored (the configs' choice): (ln 2 + ln 3) / 2;
    over all 4 (mmseg's default): (ln 2 + ln 3) / 4."""
    segmentor_cfg.decode_head.loss_decode.avg_non_ignore = avg_non_ignore
    model = build(segmentor=segmentor_cfg)
    logits = torch.zeros(1, 3, 1, 4)
    logits[0, 0, 0, 0] = math.log(2)
    samples = labeled_samples([torch.tensor([[0, 1, 255, 255]])])
    ours = model.sup_losses(logits, [], samples)
    expected = (math.log(2) + math.log(3)) / (2 if avg_non_ignore else 4)
    assert set(ours) == {'decode.loss_ce', 'decode.acc_seg'}  # the supervised twin's keys
    assert_close(ours['decode.loss_ce'], torch.tensor(expected))
    assert ours['decode.acc_seg'].item() == 50.0  # argmax [0, 0]: pixel 0 right, pixel 1 not
    theirs = model.student.decode_head.loss_by_feat(logits, samples)
    assert_close(ours['decode.loss_ce'], theirs['loss_ce'])
    assert_close(ours['decode.acc_seg'], theirs['acc_seg'][0])


def test_accuracy_counts_only_the_counted_pixels():
    pred = torch.tensor([[0, 1, 2], [2, 2, 0]])
    labels = torch.tensor([[0, 1, 1], [2, 255, 1]])
    counted = labels != 255  # 5 pixels, 3 of them right
    assert semi_base._accuracy(pred, labels, counted).item() == pytest.approx(0.6)
    assert semi_base._accuracy(pred, labels, torch.zeros_like(counted)).item() == 0.0


def test_pseudo_label_stats_by_hand(build):
    """One unlabeled image of 1x6 pixels; pseudo-labels [2, 2, 2, 0, 1, 2], used
    [T, T, F, T, T, T], valid [T, T, T, T, T, F]; ground truth [2, 0, 2, 0, 2, 2] (rare = 2).
    Known (valid, gt != 255): pixels 0-4. Correct: 0, 2, 3 -> pl_acc 3/5.
    Used and known: 0, 1, 3, 4; correct among them: 0, 3 -> pl_used_acc 2/4.
    Rare: used, known and labeled 2: pixels 0, 1 (1 correct) -> precision 1/2; known rare
    pixels: 0, 2, 4 -> recall 1/3."""
    model = build('FARCLUSS', semi_train_cfg=dict(rare_class=2))
    pl = PseudoLabels(
        labels=torch.tensor([[[2, 2, 2, 0, 1, 2]]]),
        weight=torch.ones(1, 1, 6),
        used=torch.tensor([[[1, 1, 0, 1, 1, 1]]]).bool(),
        valid=torch.tensor([[[1, 1, 1, 1, 1, 0]]]).bool(),
    )
    stats = model._pseudo_label_stats(pl, labeled_samples([torch.tensor([[2, 0, 2, 0, 2, 2]])]))
    expected = dict(pl_acc=60.0, pl_used_acc=50.0, pl_rare_precision=50.0, pl_rare_recall=100 / 3)
    assert set(stats) == set(expected)
    for key, value in expected.items():
        assert stats[key].item() == pytest.approx(value), key
    sample = labeled_samples([torch.zeros(1, 6, dtype=torch.long)])[0]
    del sample.gt_sem_seg  # a dataset without labels for the unlabeled images
    assert model._pseudo_label_stats(pl, [sample]) == {}


@pytest.mark.parametrize(
    'type_, unsup_keys',
    [
        ('FARCLUSS', {'loss_u', 'loss_c'}),
        ('HardLabelMeanTeacher', {'loss_u'}),
        ('UniMatch', {'loss_u_s', 'loss_u_fp'}),
    ],
)
def test_burn_in_trains_on_labels_only(build, semi_batch, type_, unsup_keys):
    model = build(type_, semi_train_cfg=dict(burn_in_iters=2))
    model.train()
    data = model.data_preprocessor(semi_batch(), True)
    hub = MessageHub.get_current_instance()
    for it in (0, 1):
        hub.update_info('iter', it)
        losses = model.loss(data['inputs'], data['data_samples'])
        assert set(losses) == {'decode.loss_ce', 'decode.acc_seg'} | unsup_keys
        assert all(losses[k].item() == 0.0 for k in unsup_keys)  # L_u, L_c are 0
        # L_s alone, unweighted for every method (UniMatch halves it only after the burn-in),
        # so every method's burn-in trains the same model: the student's plain mmseg loss.
        expected = model.student.loss(data['inputs']['sup'], data['data_samples']['sup'])
        assert_close(losses['decode.loss_ce'], expected['decode.loss_ce'])
    hub.update_info('iter', 2)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert unsup_keys <= set(losses) and 'pl_acc' in losses
    with pytest.raises(ValueError, match='burn_in_iters must be an int >= 0'):
        build(type_, semi_train_cfg=dict(burn_in_iters=-1))


def test_crop_mismatch_names_the_keys(build, semi_batch):
    model = build('FARCLUSS')
    model.train()
    data = model.data_preprocessor(semi_batch(), True)
    data['inputs']['sup'] = data['inputs']['sup'][..., :16]
    with pytest.raises(ValueError, match=r'data_preprocessor.size.*PackSemiInputs.size'):
        model.loss(data['inputs'], data['data_samples'])


@pytest.mark.parametrize('type_', SEGMENTOR_TYPES)
def test_unknown_keys_and_misplaced_pretrained_are_errors(build, type_):
    with pytest.raises(KeyError, match=r"\['cutmix_probability'\] in model.semi_train_cfg"):
        build(type_, semi_train_cfg=dict(cutmix_probability=0.5))
    with pytest.raises(ValueError, match=r'model.pretrained.*model.segmentor.pretrained'):
        build(type_, pretrained='x.pth')
    model = build(type_, pretrained=None, train_cfg=None)  # what mmseg.apis.init_model writes
    assert model.burn_in_iters == 0


@pytest.mark.parametrize('type_', SEGMENTOR_TYPES)
def test_plain_segmentor_checkpoint_fills_every_copy(build, segmentor_cfg, type_):
    model = build(type_)
    plain = MODELS.build(segmentor_cfg)
    with torch.no_grad():
        for p in plain.parameters():
            p.fill_(0.25)
    missing, unexpected = model.load_state_dict(plain.state_dict(), strict=False)
    assert unexpected == []
    assert all(k.startswith('projector.') for k in missing)
    copies = [model.student] + ([model.teacher] if hasattr(model, 'teacher') else [])
    for part in copies:
        assert all(torch.equal(p, torch.full_like(p, 0.25)) for p in part.parameters())
