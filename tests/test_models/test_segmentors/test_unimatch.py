"""UniMatch V1 on the template: its loss by hand, the fp stream, its weighting, a full step."""

import math

import pytest
import torch
from torch.testing import assert_close

from farcluss_mmseg.models.segmentors import StudentOutputs
from farcluss_mmseg.models.utils import PseudoLabels

LN2, LN4 = math.log(2), math.log(4)


def logits(*pixels):
    """(1, C, 1, P) log-probabilities of the given per-pixel distributions."""
    return torch.tensor(pixels).log().t().reshape(1, len(pixels[0]), 1, len(pixels))


def test_unsup_losses_by_hand(build):
    """One unlabeled image of 1x2 pixels, C = 3, threshold 0.95.
    Weak prediction: pixel 0 [0.96, 0.02, 0.02] (used, class 0), pixel 1 [0.5, 0.3, 0.2]
    (confidence 0.5 < 0.95: not used); both valid.
    fp stream: pixel 0 [1/4, 1/2, 1/4]: CE ln 4; L_fp = ln 4 / 2 (2 valid pixels).
    Strong view 1 (no CutMix box): pixel 0 [1/2, 1/4, 1/4]: CE ln 2, L_s1 = ln 2 / 2.
    Strong view 2: pixel 0 labeled 1 by its CutMix partner, pixel 1 padding:
    [1/4, 1/4, 1/2]: CE ln 4, L_s2 = ln 4 / 1 (each view over its own valid pixels).
    Weights (L_x + 0.25 L_s1 + 0.25 L_s2 + 0.5 L_fp) / 2."""
    model = build('UniMatch')
    weak_logits = logits((0.96, 0.02, 0.02), (0.5, 0.3, 0.2))
    out = StudentOutputs(
        sup_logits=torch.zeros(0),
        sup_feats=[],
        view_logits=torch.cat(
            [logits((0.5, 0.25, 0.25), (0.2, 0.4, 0.4)), logits((0.25, 0.25, 0.5), (1, 1, 1))]
        ),
        extra=dict(weak_logits=weak_logits, fp_logits=logits((0.25, 0.5, 0.25), (0.1, 0.1, 0.8))),
    )
    valid = torch.ones(1, 1, 2, dtype=torch.bool)
    pseudo = model.predict_pseudo_labels(torch.zeros(1, 3, 1, 2), valid, out)
    assert pseudo.labels.flatten().tolist() == [0, 0]
    assert pseudo.used.flatten().tolist() == [True, False]
    view2 = PseudoLabels(
        labels=torch.tensor([[[1, 0]]]),
        weight=torch.tensor([[[1.0, 0.0]]]),
        used=torch.tensor([[[True, False]]]),
        valid=torch.tensor([[[True, False]]]),
        confidence=torch.ones(1, 1, 2),
    )
    view_pseudo = PseudoLabels.cat(
        [pseudo.mixed(torch.zeros(1, 1, 2).bool(), torch.zeros(1).long()), view2]
    )
    losses = model.unsup_losses(out, pseudo, view_pseudo)
    assert_close(losses['loss_u_fp'], torch.tensor(0.25 * LN4 / 2))
    assert_close(losses['loss_u_s'], torch.tensor(0.125 * (LN2 / 2 + LN4)))
    assert_close(losses['pl_used_ratio'], torch.tensor(50.0))  # of the weak views


def test_sup_loss_is_halved(build, semi_batch):
    model = build('UniMatch')
    samples = semi_batch(num_sup=2, num_unsup=0)['data_samples']
    head_logits = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    ours = model.sup_losses(head_logits, [], samples)
    plain = model.student.decode_head.loss_by_feat(head_logits, samples)
    assert_close(ours['decode.loss_ce'], 0.5 * plain['loss_ce'])
    assert_close(ours['decode.acc_seg'], plain['acc_seg'][0])  # a statistic, not weighted


def test_fp_stream_is_the_weak_pass_with_channel_dropout(build):
    g = torch.Generator().manual_seed(0)
    x_sup, weak = torch.randn(2, 3, 32, 32, generator=g), torch.randn(2, 3, 32, 32, generator=g)
    views = [torch.randn(2, 3, 32, 32, generator=g) for _ in range(2)]
    model = build('UniMatch', semi_train_cfg=dict(fp_dropout=0.0))
    model.train()
    out = model.student_forward(x_sup, weak, views)
    # Without dropout the fp copy equals the clean pass (train-mode BN sees each image twice,
    # which leaves the batch statistics unchanged).
    assert_close(out.extra['fp_logits'], out.extra['weak_logits'])
    head = model.student.decode_head
    alone = head.forward(model.student.extract_feat(torch.cat([x_sup, weak])))
    assert_close(torch.cat([out.sup_logits, out.extra['weak_logits']]), alone)
    # The strong views go through a pass of their own.
    assert_close(out.view_logits, head.forward(model.student.extract_feat(torch.cat(views))))
    dropped = build('UniMatch').student_forward(x_sup, weak, views)
    assert not torch.allclose(dropped.extra['fp_logits'], dropped.extra['weak_logits'])


def test_full_step_and_inference_on_the_trained_model(build, semi_batch):
    model = build('UniMatch')
    assert not hasattr(model, 'teacher') and model.predictor is model.student
    model.train()
    data = model.data_preprocessor(semi_batch(), True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert {'decode.loss_ce', 'loss_u_s', 'loss_u_fp', 'pl_acc'} <= set(losses)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    assert all(p.grad is not None for p in model.student.parameters() if p.requires_grad)
    with pytest.raises(KeyError, match=r"\['predict_on'\] in model.semi_test_cfg"):
        build('UniMatch', semi_test_cfg=dict(predict_on='teacher'))
    with pytest.raises(ValueError, match='fp_dropout must be < 1'):
        build('UniMatch', semi_train_cfg=dict(fp_dropout=1.0))
