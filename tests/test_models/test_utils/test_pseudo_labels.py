"""PseudoLabels: CutMix, concatenation, split and resize of every quantity alike."""

import torch

from farcluss_mmseg.models.utils import PseudoLabels


def two_images():
    # Two images of 2x2 pixels: labels 0..3 and 4..7, weights labels / 10, all used and valid.
    labels = torch.arange(8).reshape(2, 2, 2)
    return PseudoLabels(
        labels=labels,
        weight=labels / 10,
        used=labels % 2 == 0,
        valid=torch.ones(2, 2, 2, dtype=torch.bool),
        fuzzy=torch.stack([labels, labels + 10], 1).float(),
        probs=torch.zeros(2, 3, 2, 2),
    )


def test_mixed_takes_the_partner_inside_the_box():
    pl = two_images()
    box = torch.tensor([[[True, False], [False, False]], [[False, False], [False, True]]])
    mixed = pl.mixed(box, partner=torch.tensor([1, 0]))
    assert mixed.labels.tolist() == [[[4, 1], [2, 3]], [[4, 5], [6, 3]]]
    assert torch.equal(mixed.weight, mixed.labels / 10)  # every field with the same box
    assert torch.equal(mixed.used, mixed.labels % 2 == 0)
    assert torch.equal(mixed.fuzzy[:, 1], mixed.labels.float() + 10)
    assert mixed.probs is None  # no loss reads probabilities of the mixed views


def test_cat_chunk_and_resize():
    pl = two_images()
    both = PseudoLabels.cat([pl, pl])
    assert both.labels.shape == (4, 2, 2)
    first, second = both.chunk(2)
    assert torch.equal(first.labels, pl.labels) and torch.equal(second.weight, pl.weight)
    big = pl.at_size((4, 4))  # nearest: each pixel becomes a 2x2 block
    assert big.labels[0].tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]
    assert big.used.dtype == torch.bool and big.fuzzy.shape == (2, 2, 4, 4)
    assert pl.at_size((2, 2)) is pl
