"""Strong views of an unlabeled image (docs/method.md, "Views").

The strong views are made from the *same* weak crop by photometric changes only, so teacher and
student pixels line up. The photometric transforms follow UniMatch's strong augmentation, which
uses torchvision on PIL images: ``RandomApply([ColorJitter(0.5, 0.5, 0.5, 0.25)], p=0.8)``,
``RandomGrayscale(p=0.2)`` and a Gaussian blur with ``sigma ~ U(0.1, 2.0)`` at ``p=0.5``. Here they
act on mmcv's uint8 BGR arrays with cv2, and draw their random numbers from ``np.random`` as
mmcv's transforms do (mmengine seeds it per dataloader worker). CutMix is applied later, on the
batch, by :func:`farcluss_mmseg.models.utils.cutmix`.
"""

from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform, Compose
from mmcv.transforms.utils import cache_randomness
from mmseg.registry import TRANSFORMS

__all__ = ['RandomColorJitter', 'RandomLumaGrayscale', 'RandomGaussianBlur', 'StrongViews']


def _check_prob(name: str, prob: float) -> float:
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f'{name}: prob must be in [0, 1], got {prob}')
    return float(prob)


def _gray(img: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luma of a uint8 BGR image (PIL's ``convert('L')``), shape (H, W)."""
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


@TRANSFORMS.register_module()
class RandomColorJitter(BaseTransform):
    """torchvision's ``RandomApply([ColorJitter(...)], p=prob)`` on a uint8 BGR image.

    With probability ``prob`` the four adjustments are applied in a random order, each with its
    own factor: brightness, contrast and saturation factors are drawn uniformly from
    ``[max(0, 1 - v), 1 + v]``, the hue shift uniformly from ``[-hue, hue]`` (a share of the hue
    circle). An adjustment whose strength is 0 is skipped. As in PIL, every adjustment rounds and
    clips to uint8: brightness ``f * x``; contrast ``f * x + (1 - f) * round(mean(gray))``;
    saturation ``f * x + (1 - f) * gray``; hue adds ``int(shift * 255)`` modulo 256 to the
    8-bit hue of the full-range HSV image.

    Required Keys: img. Modified Keys: img.

    Args:
        brightness (float): Brightness strength, >= 0. Defaults to 0.5.
        contrast (float): Contrast strength, >= 0. Defaults to 0.5.
        saturation (float): Saturation strength, >= 0. Defaults to 0.5.
        hue (float): Hue strength, in [0, 0.5]. Defaults to 0.25.
        prob (float): Probability of jittering at all. Defaults to 0.8.
    """

    def __init__(
        self,
        brightness: float = 0.5,
        contrast: float = 0.5,
        saturation: float = 0.5,
        hue: float = 0.25,
        prob: float = 0.8,
    ) -> None:
        super().__init__()
        for name, value in (
            ('brightness', brightness),
            ('contrast', contrast),
            ('saturation', saturation),
        ):
            if value < 0:
                raise ValueError(f'RandomColorJitter: {name} must be >= 0, got {value}')
        if not 0.0 <= hue <= 0.5:
            raise ValueError(f'RandomColorJitter: hue must be in [0, 0.5], got {hue}')
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.hue = hue
        self.prob = _check_prob('RandomColorJitter', prob)
        self._ranges = (
            (max(0.0, 1 - brightness), 1 + brightness),
            (max(0.0, 1 - contrast), 1 + contrast),
            (max(0.0, 1 - saturation), 1 + saturation),
            (-hue, hue),
        )
        self._strengths = (brightness, contrast, saturation, hue)

    @cache_randomness
    def _random_params(self) -> Optional[List[Tuple[int, float]]]:
        """Returns ``[(op index, factor), ...]`` in application order, or None for no jitter."""
        if np.random.rand() >= self.prob:
            return None
        order = np.random.permutation(4)  # drawn first, like torchvision's get_params
        factors = [
            np.random.uniform(lo, hi) if strength > 0 else None
            for (lo, hi), strength in zip(self._ranges, self._strengths)
        ]
        return [(int(i), factors[i]) for i in order if factors[i] is not None]

    @staticmethod
    def _adjust(img: np.ndarray, op: int, factor: float) -> np.ndarray:
        if op == 0:  # brightness: blend with black
            return cv2.addWeighted(img, factor, img, 0, 0)
        if op == 1:  # contrast: blend with the mean grey level
            mean = float(np.round(_gray(img).mean()))
            return cv2.addWeighted(img, factor, img, 0, (1 - factor) * mean)
        if op == 2:  # saturation: blend with the grey image
            gray = cv2.cvtColor(_gray(img), cv2.COLOR_GRAY2BGR)
            return cv2.addWeighted(img, factor, gray, 1 - factor, 0)
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV_FULL)  # hue in 0..255 as PIL's HSV
        hsv[..., 0] += np.uint8(int(factor * 255) % 256)  # uint8 addition wraps round the circle
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR_FULL)

    def transform(self, results: dict) -> dict:
        """Jitters ``results['img']`` (uint8 BGR)."""
        params = self._random_params()
        if params is None:
            return results
        img = results['img']
        for op, factor in params:
            img = self._adjust(img, op, factor)
        results['img'] = img
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(brightness={self.brightness}, contrast={self.contrast}, '
            f'saturation={self.saturation}, hue={self.hue}, prob={self.prob})'
        )


@TRANSFORMS.register_module()
class RandomLumaGrayscale(BaseTransform):
    """torchvision's ``RandomGrayscale(p=prob)`` on a uint8 BGR image.

    With probability ``prob`` the image becomes three identical channels of its ITU-R 601-2 luma
    ``0.299 R + 0.587 G + 0.114 B`` (PIL's ``convert('L')``), rounded. mmcv's
    ``RandomGrayscale`` differs (its weights are arguments, it truncates and draws from Python's
    ``random``); this one has its own name so that configs using mmcv's keep getting it.

    Required Keys: img. Modified Keys: img.

    Args:
        prob (float): Probability of the conversion. Defaults to 0.2.
    """

    def __init__(self, prob: float = 0.2) -> None:
        super().__init__()
        self.prob = _check_prob('RandomLumaGrayscale', prob)

    @cache_randomness
    def _do(self) -> bool:
        return bool(np.random.rand() < self.prob)

    def transform(self, results: dict) -> dict:
        """Converts ``results['img']`` (uint8 BGR) to grey with probability ``prob``."""
        if self._do():
            results['img'] = cv2.cvtColor(_gray(results['img']), cv2.COLOR_GRAY2BGR)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob})'


@TRANSFORMS.register_module()
class RandomGaussianBlur(BaseTransform):
    """UniMatch's ``blur``: with probability ``prob`` a Gaussian blur with ``sigma ~ U(sigma)``.

    UniMatch uses PIL's ``GaussianBlur(radius=sigma)``, whose radius is the standard deviation.
    Here the kernel is ``cv2.GaussianBlur`` with size ``2 * ceil(3 * sigma) + 1`` (+-3 sigma).

    Required Keys: img. Modified Keys: img.

    Args:
        prob (float): Probability of blurring. Defaults to 0.5.
        sigma (tuple[float, float]): Range of the standard deviation, in pixels.
            Defaults to (0.1, 2.0).
    """

    def __init__(self, prob: float = 0.5, sigma: Sequence[float] = (0.1, 2.0)) -> None:
        super().__init__()
        if len(sigma) != 2 or not 0 < sigma[0] <= sigma[1]:
            raise ValueError(
                f'RandomGaussianBlur: sigma must be (min, max) with 0 < min <= max, got {sigma}'
            )
        self.prob = _check_prob('RandomGaussianBlur', prob)
        self.sigma = (float(sigma[0]), float(sigma[1]))

    @cache_randomness
    def _random_sigma(self) -> Optional[float]:
        if np.random.rand() >= self.prob:
            return None
        return float(np.random.uniform(*self.sigma))

    def transform(self, results: dict) -> dict:
        """Blurs ``results['img']`` with probability ``prob``."""
        sigma = self._random_sigma()
        if sigma is not None:
            size = 2 * int(np.ceil(3 * sigma)) + 1
            results['img'] = cv2.GaussianBlur(results['img'], (size, size), sigma, sigmaY=sigma)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob}, sigma={self.sigma})'


@TRANSFORMS.register_module()
class StrongViews(BaseTransform):
    """Makes ``num_views`` photometric strong views of the weak view.

    Each view runs ``transforms`` on its own copy of ``results['img']``, with its own random
    draws; ``results['img']`` (the weak view) is left as it is. A transform that changes the
    image's shape is an error: the views must keep the weak view's geometry.

    Required Keys: img. Added Keys: img_strong (list of ``num_views`` uint8 (H, W, 3) arrays).

    Args:
        transforms (list[dict | callable]): Photometric transforms, configs are built with mmseg's
            ``TRANSFORMS``.
        num_views (int): Number of strong views. Defaults to 2.
    """

    def __init__(self, transforms: Sequence, num_views: int = 2) -> None:
        super().__init__()
        if not isinstance(num_views, int) or num_views < 1:
            raise ValueError(f'StrongViews: num_views must be an int >= 1, got {num_views!r}')
        self.num_views = num_views
        self.transforms = Compose(
            [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in transforms]
        )

    def transform(self, results: dict) -> dict:
        """Adds ``results['img_strong']``."""
        weak = results['img']
        views = []
        for v in range(self.num_views):
            out = self.transforms(dict(results, img=weak.copy()))
            if out is None:
                raise RuntimeError(f'StrongViews: a transform in {self.transforms} returned None')
            if out['img'].shape != weak.shape:
                raise ValueError(
                    f'StrongViews: view {v} has shape {out["img"].shape}, the weak view '
                    f'{weak.shape}; strong-view transforms must be photometric only'
                )
            views.append(out['img'])
        results['img_strong'] = views
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(num_views={self.num_views}, transforms={self.transforms})'
        )
