import pytest
import torch

from farcluss_mmseg.models.utils import cutmix, cutmix_masks


def _box_sides(masks):
    """Height and width of each mask's box, and whether the mask is exactly that rectangle."""
    rows, cols = masks.any(2), masks.any(1)
    rectangle = (rows[:, :, None] & cols[:, None, :]) == masks
    return rows.sum(1), cols.sum(1), rectangle.flatten(1).all(1)


def test_cutmix_takes_partner_values_inside_the_hand_placed_box():
    mask = torch.zeros(2, 3, 4, dtype=torch.bool)
    mask[0, 0:2, 1:3] = True  # sample 0: 2x2 box; sample 1: no box
    partner = torch.roll(torch.arange(2), 1)  # [1, 0]
    images = torch.arange(2 * 3 * 3 * 4, dtype=torch.float32).view(2, 3, 3, 4)
    probs = torch.rand(2, 5, 3, 4)
    valid = torch.tensor(
        [
            [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]],
            [[0, 0, 0, 0], [1, 0, 0, 1], [1, 1, 1, 1]],
        ],
        dtype=torch.bool,
    )
    labels = torch.tensor([[[1, 1, 1, 1]] * 3, [[2, 3, 4, 5]] * 3])

    mixed_images, mixed_probs, mixed_valid, mixed_labels = cutmix(
        mask, partner, images, probs, valid, labels
    )

    expected_images = images.clone()
    expected_images[0, :, 0:2, 1:3] = images[1, :, 0:2, 1:3]
    assert torch.equal(mixed_images, expected_images)
    expected_probs = probs.clone()
    expected_probs[0, :, 0:2, 1:3] = probs[1, :, 0:2, 1:3]
    assert torch.equal(mixed_probs, expected_probs)
    expected_valid = torch.tensor(
        [
            [[1, 0, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1]],
            [[0, 0, 0, 0], [1, 0, 0, 1], [1, 1, 1, 1]],
        ],
        dtype=torch.bool,
    )
    assert torch.equal(mixed_valid, expected_valid)
    expected_labels = torch.tensor([[[1, 3, 4, 1], [1, 3, 4, 1], [1, 1, 1, 1]], [[2, 3, 4, 5]] * 3])
    assert torch.equal(mixed_labels, expected_labels)
    assert mixed_labels.dtype == torch.int64 and mixed_valid.dtype == torch.bool


def test_cutmix_rejects_tensors_that_do_not_match_the_mask():
    mask = torch.zeros(2, 3, 4, dtype=torch.bool)
    partner = torch.tensor([1, 0])
    with pytest.raises(
        ValueError, match=r'tensor 1 has shape \(2, 4, 3\), expected \(2, \.\.\., 3, 4\)'
    ):
        cutmix(mask, partner, torch.zeros(2, 3, 4), torch.zeros(2, 4, 3))
    with pytest.raises(ValueError, match=r'mask must be a bool \(N, H, W\) tensor'):
        cutmix(mask.float(), partner, torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match=r'partner must have shape \(2,\), got \(3,\)'):
        cutmix(mask, torch.tensor([1, 0, 2]), torch.zeros(2, 3, 4))


def test_cutmix_masks_box_areas_stay_in_range_with_prob_one():
    height, width = 40, 60
    masks = cutmix_masks(200, height, width, prob=1.0, generator=torch.Generator().manual_seed(0))
    assert masks.shape == (200, height, width) and masks.dtype == torch.bool
    box_h, box_w, rectangle = _box_sides(masks)
    assert rectangle.all()  # one axis-aligned box per sample
    areas = masks.flatten(1).sum(1)
    assert torch.equal(areas, box_h * box_w)
    # Sides are truncated to whole pixels, so the area is at most 0.4 HW and exceeds 0.02 HW
    # once each side gets its lost fraction of a pixel back.
    assert (areas <= 0.4 * height * width).all()
    assert ((box_h + 1) * (box_w + 1) > 0.02 * height * width).all()
    assert areas.float().std() > 100  # the area share is drawn, not fixed
    assert (box_w > box_h).any() and (box_h > box_w).any()  # both aspect orientations occur


def test_cutmix_masks_box_positions_cover_the_image():
    masks = cutmix_masks(200, 20, 20, prob=1.0, generator=torch.Generator().manual_seed(1))
    hits = masks.sum(0)
    assert hits[0, 0] > 0 and hits[-1, -1] > 0 and hits[0, -1] > 0 and hits[-1, 0] > 0


def test_cutmix_masks_prob_zero_gives_empty_masks():
    masks = cutmix_masks(200, 16, 16, prob=0.0)
    assert not masks.any()


def test_cutmix_masks_prob_half_mixes_about_half_of_the_samples():
    masks = cutmix_masks(400, 16, 16, prob=0.5, generator=torch.Generator().manual_seed(2))
    share = masks.flatten(1).any(1).float().mean()
    assert 0.4 <= share <= 0.6


def test_cutmix_masks_seeded_generator_repeats():
    first = cutmix_masks(8, 16, 24, prob=0.5, generator=torch.Generator().manual_seed(3))
    second = cutmix_masks(8, 16, 24, prob=0.5, generator=torch.Generator().manual_seed(3))
    other = cutmix_masks(8, 16, 24, prob=0.5, generator=torch.Generator().manual_seed(4))
    assert torch.equal(first, second)
    assert not torch.equal(first, other)


def test_cutmix_masks_rejects_bad_ranges():
    with pytest.raises(ValueError, match=r'prob must be in \[0, 1\], got 1.5'):
        cutmix_masks(2, 4, 4, prob=1.5)
    with pytest.raises(
        ValueError, match=r'area must satisfy 0 < min <= max <= 1, got \(0.5, 0.2\)'
    ):
        cutmix_masks(2, 4, 4, area=(0.5, 0.2))
    with pytest.raises(ValueError, match=r'aspect must satisfy 0 < min <= max, got \(0, 1\)'):
        cutmix_masks(2, 4, 4, aspect=(0, 1))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_cutmix_on_gpu_does_not_synchronise():
    device = torch.device('cuda')
    images = torch.rand(4, 3, 32, 32, device=device)
    labels = torch.randint(0, 5, (4, 32, 32), device=device)
    partner = torch.roll(torch.arange(4, device=device), 1)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode('error')
    try:
        masks = cutmix_masks(4, 32, 32, prob=1.0, device=device)
        mixed_images, mixed_labels = cutmix(masks, partner, images, labels)
    finally:
        torch.cuda.set_sync_debug_mode('default')
    assert masks.device.type == 'cuda' and masks.flatten(1).any(1).all()
    assert torch.equal(mixed_labels[masks], labels[partner][masks])
    assert torch.equal(mixed_images[:, 0][~masks], images[:, 0][~masks])
