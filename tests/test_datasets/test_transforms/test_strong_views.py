import numpy as np
import pytest
from mmseg.registry import TRANSFORMS

import farcluss_mmseg  # noqa: F401  (registers the transforms)
from farcluss_mmseg.datasets.transforms import (
    RandomColorJitter,
    RandomGaussianBlur,
    RandomLumaGrayscale,
    StrongViews,
)


def _random_image(seed=0, height=16, width=20):
    return np.random.RandomState(seed).randint(0, 256, (height, width, 3)).astype(np.uint8)


def test_grayscale_uses_601_weights_on_bgr():
    # BGR (10, 20, 200): 0.299 * 200 + 0.587 * 20 + 0.114 * 10 = 72.68 -> 73
    # BGR (255, 0, 0):   0.114 * 255 = 29.07 -> 29
    img = np.array([[[10, 20, 200], [255, 0, 0]]], np.uint8)
    out = RandomLumaGrayscale(prob=1.0)(dict(img=img))['img']
    assert out.dtype == np.uint8
    assert np.array_equal(out, np.array([[[73, 73, 73], [29, 29, 29]]], np.uint8))


@pytest.mark.parametrize(
    'transform',
    [RandomColorJitter(prob=0.0), RandomLumaGrayscale(prob=0.0), RandomGaussianBlur(prob=0.0)],
)
def test_prob_zero_is_identity(transform):
    img = _random_image()
    np.random.seed(0)
    for _ in range(5):
        assert np.array_equal(transform(dict(img=img.copy()))['img'], img)


@pytest.mark.parametrize('transform', [RandomColorJitter(prob=1.0), RandomGaussianBlur(prob=1.0)])
def test_prob_one_changes_the_image(transform):
    img = _random_image()
    np.random.seed(0)
    for _ in range(5):
        out = transform(dict(img=img.copy()))['img']
        assert out.shape == img.shape and out.dtype == np.uint8
        assert np.abs(out.astype(int) - img).mean() > 1


def test_blur_keeps_a_flat_image_and_averages_an_edge():
    flat = np.full((9, 9, 3), 77, np.uint8)
    assert np.array_equal(RandomGaussianBlur(prob=1.0)(dict(img=flat.copy()))['img'], flat)
    edge = np.zeros((9, 9, 3), np.uint8)
    edge[:, 5:] = 255
    np.random.seed(0)
    out = RandomGaussianBlur(prob=1.0, sigma=(1.0, 1.0))(dict(img=edge))['img']
    # sigma 1, kernel 7: weights exp(-k^2 / 2), k = -3..3, sum 2.5059; the pixel left of the
    # edge gets 255 * (0.6065 + 0.1353 + 0.0111) / 2.5059 = 76.6 -> 77, its neighbour 255 - 77.
    assert out[4, 4, 0] == 77 and out[4, 5, 0] == 178
    assert (out[:, 0] == 0).all() and (out[:, 8] == 255).all()


def test_brightness_and_contrast_follow_the_drawn_factor():
    img = np.array([[[0, 0, 0], [100, 100, 100], [200, 200, 200], [250, 250, 250]]], np.uint8)
    # Same draws as the transform: apply?, order, then the brightness factor.
    np.random.seed(3)
    np.random.rand()
    np.random.permutation(4)
    factor = np.random.uniform(0.5, 1.5)
    np.random.seed(3)
    out = RandomColorJitter(brightness=0.5, contrast=0, saturation=0, hue=0, prob=1.0)(
        dict(img=img.copy())
    )['img']
    assert np.array_equal(out, np.clip(np.round(img * factor), 0, 255).astype(np.uint8))

    # Contrast blends with the rounded mean grey level: mean(0, 100, 200, 250) = 137.5 -> 138.
    np.random.seed(3)
    out = RandomColorJitter(brightness=0, contrast=0.5, saturation=0, hue=0, prob=1.0)(
        dict(img=img.copy())
    )['img']
    expected = np.clip(np.round(factor * img + (1 - factor) * 138), 0, 255).astype(np.uint8)
    assert np.array_equal(out, expected)


def test_saturation_and_hue_adjustments():
    grey = np.full((1, 2, 3), 90, np.uint8)
    for factor in (0.5, 1.5):
        assert np.array_equal(RandomColorJitter._adjust(grey, 2, factor), grey)
    red = np.array([[[0, 0, 255]]], np.uint8)  # BGR
    # Saturation 0 gives the grey image: 0.299 * 255 = 76.2 -> 76.
    assert np.array_equal(RandomColorJitter._adjust(red, 2, 0.0), np.full((1, 1, 3), 76))
    # Half the hue circle turns red into cyan (B, G high; R zero).
    cyan = RandomColorJitter._adjust(red, 3, 0.5).astype(int)
    assert cyan[0, 0, 2] == 0 and cyan[0, 0, 1] == 255 and cyan[0, 0, 0] >= 245
    assert np.array_equal(RandomColorJitter._adjust(red, 3, 0.0), red)


def test_jitter_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r'hue must be in \[0, 0.5\], got 0.7'):
        RandomColorJitter(hue=0.7)
    with pytest.raises(
        ValueError, match=r'RandomLumaGrayscale: prob must be in \[0, 1\], got -0.1'
    ):
        RandomLumaGrayscale(prob=-0.1)
    with pytest.raises(ValueError, match=r'sigma must be \(min, max\) with 0 < min <= max'):
        RandomGaussianBlur(sigma=(2.0, 0.1))


def _strong_views(num_views=2):
    return TRANSFORMS.build(
        dict(
            type='StrongViews',
            num_views=num_views,
            transforms=[
                dict(type='RandomColorJitter', prob=1.0),
                dict(type='RandomLumaGrayscale', prob=0.5),
                dict(type='RandomGaussianBlur', prob=1.0),
            ],
        )
    )


def test_strong_views_are_distinct_photometric_copies():
    img = np.full((24, 32, 3), 220, np.uint8)
    img[:, :16] = 30  # dark left half
    weak = img.copy()
    np.random.seed(0)
    results = _strong_views(num_views=3)(dict(img=img))
    assert np.array_equal(results['img'], weak)  # the weak view is untouched
    views = results['img_strong']
    assert len(views) == 3
    for view in views:
        assert view.shape == weak.shape and view.dtype == np.uint8
        assert not np.array_equal(view, weak)
        # Geometry unchanged: the left half stays darker than the right one.
        assert view[:, :14].mean() + 20 < view[:, 18:].mean()
    assert not np.array_equal(views[0], views[1]) and not np.array_equal(views[1], views[2])


def test_strong_views_reject_geometric_transforms():
    views = StrongViews(transforms=[dict(type='Resize', scale=(8, 8))], num_views=2)
    with pytest.raises(
        ValueError, match=r'view 0 has shape \(8, 8, 3\), the weak view \(24, 32, 3\)'
    ):
        views(dict(img=np.zeros((24, 32, 3), np.uint8)))
    with pytest.raises(ValueError, match=r'num_views must be an int >= 1, got 0'):
        StrongViews(transforms=[], num_views=0)


def test_mmcv_random_grayscale_is_not_shadowed():
    """Importing the plugin leaves mmcv's RandomGrayscale (its arguments, its weights) to configs
    that name it; ours is RandomLumaGrayscale."""
    import mmcv.transforms

    cfg = dict(type='RandomGrayscale', prob=1.0, keep_channels=True, channel_weights=(1, 1, 1))
    transform = TRANSFORMS.build(cfg)
    assert type(transform) is mmcv.transforms.RandomGrayscale
    img = np.array([[[30, 60, 90]]], dtype=np.uint8)  # equal weights: the channel mean, 60
    assert transform(dict(img=img))['img'].tolist() == [[[60, 60, 60]]]
    assert type(TRANSFORMS.build(dict(type='RandomLumaGrayscale'))).__name__ == (
        'RandomLumaGrayscale'
    )
