#!/usr/bin/env python
"""Generate the synthetic FARCLUSS demo dataset in the Pascal VOC layout.

    python tools/make_demo_data.py [--out data/farcluss_demo] [--seed 0] [--num-train 480]
        [--num-val 120] [--size 96] [--force]

Writes, below ``--out``::

    JPEGImages/demo_000000.jpg ...         images, RGB, JPEG quality 90
    SegmentationClass/demo_000000.png ...  palette PNGs (class index, 255 = ignore)
    splits/train.txt                        the train pool (demo_000000 .. num_train - 1)
    splits/val.txt                          the val images (the next num_val indices)
    splits/1_16/labeled.txt, unlabeled.txt  ceil(num_train / 16) labeled, the rest unlabeled
    splits/1_8/labeled.txt, unlabeled.txt   ceil(num_train / 8) labeled, the rest unlabeled
    class_stats.json                        arguments, counts, train-pool pixel frequencies

The scenes and the classes are described in :class:`farcluss_mmseg.datasets.FarclussDemoDataset`,
whose ``METAINFO`` is the one list of class names and colours. Image ``i`` is drawn from
``np.random.default_rng([seed, i])`` alone, so the output is byte-identical for the same
arguments (same library versions) and the first images do not depend on ``--num-train``
(the poles come from a second stream, ``default_rng([seed, i, 1])``). Unlabeled images keep
their label files (to monitor pseudo-label accuracy only). Every object scales with
``--size``. The rare class (``pole``) is in about one image in five and under 1 % of the
pixels, but 8-11 % of the image wide, so it spans about one cell of the network's stride-8
output at the default 96 px (the sizes are chosen so that a fully supervised run learns every
class: see docs/benchmarks/demo_design_cpu.md).

Labeled subsets are drawn without replacement from ``np.random.default_rng([seed, denominator,
attempt])`` with ``attempt = 0``; if no drawn image contains the rare class (``pole``), the
draw is repeated with ``attempt + 1`` (the count of redraws is printed and stored), so every
labeled subset shows the rare class at least once.

A second run with the same arguments finds ``class_stats.json`` and all files and does
nothing; ``--force`` regenerates. ``class_stats.json`` is written last, so an interrupted run
is redone.
"""

import argparse
import json
import math
import os
import os.path as osp
import time
from typing import Callable, Dict, List, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image

from farcluss_mmseg.datasets.farcluss_demo import FarclussDemoDataset

CLASSES: Tuple[str, ...] = tuple(FarclussDemoDataset.METAINFO['classes'])
PALETTE: List[List[int]] = FarclussDemoDataset.METAINFO['palette']
C = {name: index for index, name in enumerate(CLASSES)}
RARE_CLASS = 'pole'
IGNORE = 255
IGNORE_COLOUR = (224, 224, 192)  # as in Pascal VOC
SPLITS = {'1_16': 16, '1_8': 8}
GENERATOR_VERSION = 2  # bump when the drawing changes, so that old datasets are regenerated
JPEG_QUALITY = 90
MAX_REDRAWS = 1000
TYRE_COLOUR = np.array([35, 35, 35], np.float32)  # fixed: a drawn colour would shift the stream
POLE_PROBABILITY = 0.2  # share of images with poles: keeps the rare class under 1 % of pixels

# Colour ranges (RGB low, high) per class, one pair per look; a look is drawn uniformly.
# They overlap across classes on purpose: colour alone does not tell the classes apart.
COLOURS = {
    'sky': [((110, 150, 190), (170, 200, 245)), ((150, 150, 150), (215, 215, 220))],
    'ground': [((100, 80, 45), (170, 140, 100)), ((70, 105, 40), (125, 160, 85))],
    'building': [((85, 85, 85), (200, 195, 185)), ((150, 110, 80), (210, 170, 130))],
    'tree': [((35, 75, 25), (100, 150, 80)), ((140, 90, 30), (200, 150, 60))],
    'water': [((60, 100, 140), (150, 185, 230)), ((90, 110, 100), (150, 170, 160))],
    'rock': [((65, 65, 65), (100, 100, 100)), ((160, 160, 160), (200, 200, 200))],  # greys
    'vehicle': [((25, 25, 25), (235, 235, 235))],
    'pole': [((30, 25, 20), (95, 80, 65)), ((150, 150, 150), (215, 215, 210))],
}


def _noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth Gaussian noise: a ``cells`` x ``cells`` grid upsampled to ``size`` (float32)."""
    grid = rng.standard_normal((cells, cells), dtype=np.float32)
    return cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)


def _pattern(name: str, rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """The class's texture as a mixing weight in [0, 1], shape (S, S)."""
    s = yy.shape[0]
    if name == 'sky':  # vertical gradient with soft clouds
        t = yy / s * rng.uniform(0.3, 1.0) + 0.3 * _noise(rng, s, 4)
    elif name == 'ground':  # fine-grained noise over a gradient
        fine = cv2.GaussianBlur(rng.standard_normal((s, s), dtype=np.float32), (0, 0), 0.7)
        t = 0.5 * yy / s + 0.6 * fine
    elif name == 'building':  # window grid
        py, px = rng.uniform(5, 9, size=2)
        oy, ox = rng.uniform(0, 9, size=2)
        t = (((yy + oy) % py) < 0.5 * py) & (((xx + ox) % px) < 0.55 * px)
        t = t.astype(np.float32) + 0.1 * _noise(rng, s, 8)
    elif name == 'tree':  # spotty blobs
        t = 1 / (1 + np.exp(-3 * _noise(rng, s, max(4, s // 6))))
    elif name == 'water':  # horizontal wavy stripes
        t = 0.5 + 0.5 * np.sin(2 * np.pi * yy / rng.uniform(3, 7) + 2 * _noise(rng, s, 3))
    elif name == 'rock':  # mottled noise with directional shading
        angle = rng.uniform(0, 2 * np.pi)
        shade = (xx * np.cos(angle) + yy * np.sin(angle)) / s
        t = 0.5 + 0.3 * _noise(rng, s, max(4, s // 8)) + 0.6 * (shade - shade.mean())
    elif name == 'vehicle':  # specular gradient bands
        angle = rng.uniform(0, 2 * np.pi)
        phase = (xx * np.cos(angle) + yy * np.sin(angle)) / rng.uniform(15, 35)
        t = (0.5 + 0.5 * np.sin(2 * np.pi * phase)) ** 2
    else:  # pole: horizontal bands (painted marker pole)
        period = rng.uniform(4, 8)
        t = ((yy + rng.uniform(0, period)) % period < 0.5 * period).astype(np.float32)
    return np.clip(t, 0, 1)


def _texture(name: str, rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """An RGB float32 texture (S, S, 3): two colours of one look mixed by the class pattern
    (the rare class: one colour of each of its two looks, so that its bands always contrast)."""
    if name == RARE_CLASS:
        looks = COLOURS[name][:: rng.choice([1, -1])]
        c1, c2 = (rng.uniform(lo, hi, size=3).astype(np.float32) for lo, hi in looks)
    else:
        lo, hi = COLOURS[name][rng.integers(len(COLOURS[name]))]
        c1, c2 = rng.uniform(lo, hi, size=(2, 3)).astype(np.float32)
    return c1 + (c2 - c1) * _pattern(name, rng, yy, xx)[..., None]


def _trapezoid(x: float, bottom: float, top: float, width: float, top_width: float) -> tuple:
    """A shape for :func:`_mask`: a trapezoid centred on ``x`` (a box if the widths agree)."""
    return ('poly', [(x - width / 2, bottom), (x + width / 2, bottom),
                     (x + top_width / 2, top), (x - top_width / 2, top)])  # fmt: skip


def _objects(
    rng: np.random.Generator, pole_rng: np.random.Generator, s: int, ground_y: Callable
) -> List[Tuple[float, str, list]]:
    """Draw the object list: ``(depth, class name, shapes)``, sorted far to near.

    ``ground_y(x)`` is the top edge of the ground in column ``x`` (the horizon). The poles (the
    rare class) come from their own ``pole_rng``, so adding or tuning them leaves the other
    objects of an image as they are.
    """
    objects = []
    for _ in range(rng.integers(0, 4)):  # buildings standing on the horizon, some with a roof
        w, h = rng.uniform(0.15, 0.35) * s, rng.uniform(0.2, 0.5) * s
        x = rng.uniform(-0.05, 1.05) * s
        base = ground_y(x) + rng.uniform(0, 0.05) * s
        shapes = [_trapezoid(x, base, base - h, w, w)]
        if rng.random() < 0.4:
            shapes.append(_trapezoid(x, base - h, base - h - rng.uniform(0.1, 0.25) * s, w, 0))
        objects.append((base, 'building', shapes))
    for _ in range(rng.integers(0, 4)):  # trees: a trunk and a canopy of discs
        x = rng.uniform(0, 1) * s
        base = ground_y(x) + rng.uniform(0, 0.25) * s
        trunk_h, r0 = rng.uniform(0.06, 0.14) * s, rng.uniform(0.07, 0.15) * s
        shapes = [_trapezoid(x, base, base - trunk_h, max(1.5, 0.03 * s), max(1.5, 0.03 * s))]
        for dx, dy, dr in rng.uniform(-1, 1, size=(rng.integers(2, 5), 3)):
            centre = (x + dx * r0, base - trunk_h - r0 + dy * 0.6 * r0)
            shapes.append(('circle', centre, r0 * (1 + 0.3 * dr)))
        objects.append((base, 'tree', shapes))
    for _ in range(rng.integers(0, 5)):  # rocks: irregular polygons on the ground
        x = rng.uniform(0, 1) * s
        y = rng.uniform(ground_y(x) + 0.05 * s, 1.05 * s)
        r = rng.uniform(0.13, 0.3) * s
        angles = np.sort(rng.uniform(0, 2 * np.pi, size=rng.integers(5, 10)))
        radii = r * rng.uniform(0.6, 1.0, size=angles.size)
        points = np.stack([x + radii * np.cos(angles), y + 0.7 * radii * np.sin(angles)], 1)
        objects.append((y + 0.7 * r, 'rock', [('poly', points)]))
    for _ in range(rng.choice([0, 1, 1, 2])):  # vehicles: body, cabin, wheels
        w = rng.uniform(0.3, 0.5) * s
        h, x = 0.35 * w, rng.uniform(0, 1) * s
        base = rng.uniform(ground_y(x) + 0.1 * s, 1.0 * s)
        cabin_x = x + rng.uniform(-0.15, 0.15) * w
        shapes = [_trapezoid(x, base - 0.1 * w, base - h, w, w),
                  _trapezoid(cabin_x, base - h, base - 1.6 * h, 0.56 * w, 0.4 * w)]  # fmt: skip
        for sign in (-1, 1):
            shapes.append(('circle', (x + sign * 0.3 * w, base - 0.12 * w), 0.12 * w))
        objects.append((base, 'vehicle', shapes))
    if pole_rng.random() < POLE_PROBABILITY:  # the rare class: poles with a crossarm
        for _ in range(pole_rng.choice([1, 1, 1, 2])):
            w, h = pole_rng.uniform(0.08, 0.11) * s, pole_rng.uniform(0.25, 0.4) * s
            x = pole_rng.uniform(0.05, 0.95) * s
            base = ground_y(x) + pole_rng.uniform(0.02, 0.3) * s
            arm_y, arm_w = base - 0.9 * h, pole_rng.uniform(2.5, 3.5) * w
            shapes = [_trapezoid(x, base, base - h, w, 0.8 * w),
                      _trapezoid(x, arm_y + 0.5 * w, arm_y, arm_w, arm_w)]  # fmt: skip
            objects.append((base, RARE_CLASS, shapes))
    return sorted(objects, key=lambda obj: obj[0])  # far (small y) first: near objects occlude


def _mask(s: int, shapes: list) -> np.ndarray:
    mask = np.zeros((s, s), np.uint8)
    for kind, *geometry in shapes:
        if kind == 'poly':
            cv2.fillPoly(mask, [np.round(np.asarray(geometry[0])).astype(np.int32)], 1)
        else:
            (cx, cy), r = geometry
            cv2.circle(mask, (round(cx), round(cy)), max(1, round(r)), 1, -1)
    return mask


def draw_image(seed: int, index: int, size: int) -> Tuple[np.ndarray, np.ndarray]:
    """Draw one scene.

    Args:
        seed (int): The dataset seed.
        index (int): The image index; the image depends on ``(seed, index)`` only.
        size (int): Height and width in pixels.

    Returns:
        tuple: The RGB image (uint8 (S, S, 3)) and the label (uint8 (S, S), 255 = ignore).
    """
    rng = np.random.default_rng([seed, index])
    s = size
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    canvas = _texture('sky', rng, yy, xx)
    label = np.full((s, s), C['sky'], np.uint8)

    def paint(name: str, mask: np.ndarray, sigma: float, layer_rng=rng) -> None:
        """Composite a layer with a blurred (soft) edge; the label edge stays sharp."""
        nonlocal canvas
        alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)[..., None]
        canvas = canvas + alpha * (_texture(name, layer_rng, yy, xx) - canvas)
        label[mask > 0] = C[name]

    # A wavy, tilted horizon: ground_y(x) is the ground's top edge in column x.
    horizon, tilt = rng.uniform(0.3, 0.55) * s, rng.uniform(-0.15, 0.15)
    amplitude, period, phase = rng.uniform([0, 0.8 * s, 0], [0.04 * s, 2 * s, 2 * np.pi])

    def ground_y(x):
        return horizon + amplitude * np.sin(2 * np.pi * x / period + phase) + tilt * (x - s / 2)

    paint('ground', (yy > ground_y(xx)).astype(np.uint8), rng.uniform(0.5, 1.5))
    if rng.random() < 0.6:  # a pond, flat on the ground, behind everything standing on it
        mask = np.zeros((s, s), np.uint8)
        x = rng.uniform(0, 1) * s
        centre = (round(x), round(rng.uniform(ground_y(x) + 0.2 * s, 1.0 * s)))
        axes = (round(rng.uniform(0.25, 0.5) * s), round(rng.uniform(0.08, 0.16) * s))
        cv2.ellipse(mask, centre, axes, 0, 0, 360, 1, -1)
        paint('water', mask, rng.uniform(0.5, 1.5))
    pole_rng = np.random.default_rng([seed, index, 1])
    for _, name, shapes in _objects(rng, pole_rng, s, ground_y):
        layer_rng = pole_rng if name == RARE_CLASS else rng
        paint(name, _mask(s, shapes), layer_rng.uniform(0.5, 1.5), layer_rng)
        if name == 'vehicle':  # dark tyres over the two wheels (a fixed colour: no draw)
            alpha = cv2.GaussianBlur(_mask(s, shapes[-2:]).astype(np.float32), (0, 0), 0.5)
            canvas = canvas + alpha[..., None] * (TYRE_COLOUR - canvas)

    # One-pixel ignore band along every region boundary, as in VOC.
    edge = np.zeros((s, s), bool)
    edge[:, :-1] |= label[:, :-1] != label[:, 1:]
    edge[:-1, :] |= label[:-1, :] != label[1:, :]
    label[edge] = IGNORE

    # Illumination: global gain, colour cast, linear gradient; then sensor noise.
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (xx * np.cos(angle) + yy * np.sin(angle)) / s
    light = rng.uniform(0.65, 1.25) * (1 + rng.uniform(0, 0.6) * (ramp - ramp.mean()))
    canvas = canvas * light[..., None] * rng.uniform(0.9, 1.1, size=3).astype(np.float32)
    canvas = canvas + rng.normal(0, 2.5, size=canvas.shape).astype(np.float32)
    return np.clip(np.round(canvas), 0, 255).astype(np.uint8), label


def draw_labeled(has_rare: Sequence[bool], denominator: int, seed: int) -> Tuple[List[int], int]:
    """Draw the labeled subset of a split, redrawing until it holds the rare class.

    Args:
        has_rare (Sequence[bool]): Whether each train image contains the rare class.
        denominator (int): The split is 1/denominator: ``ceil(N / denominator)`` images.
        seed (int): The dataset seed.

    Returns:
        tuple: Sorted indices of the labeled images, and the number of redraws (0 if the
        first draw, from ``default_rng([seed, denominator, 0])``, already held the class).
    """
    has_rare = np.asarray(has_rare, bool)
    if not has_rare.any():
        raise ValueError(f'no train image contains the rare class {RARE_CLASS!r}; use more images')
    num_labeled = math.ceil(has_rare.size / denominator)
    for attempt in range(MAX_REDRAWS):
        rng = np.random.default_rng([seed, denominator, attempt])
        chosen = np.sort(rng.choice(has_rare.size, size=num_labeled, replace=False))
        if has_rare[chosen].any():
            return chosen.tolist(), attempt
    raise ValueError(
        f'no 1/{denominator} draw in {MAX_REDRAWS} holds the rare class {RARE_CLASS!r}'
    )


def _write_lines(path: str, lines: Sequence[str]) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(''.join(f'{line}\n' for line in lines))


def _expected_files(out: str, stems: Sequence[str]) -> List[str]:
    files = [osp.join(out, 'splits', f'{name}.txt') for name in ('train', 'val')]
    files += [
        osp.join(out, 'splits', split, f'{part}.txt')
        for split in SPLITS
        for part in ('labeled', 'unlabeled')
    ]
    files += [osp.join(out, 'JPEGImages', f'{stem}.jpg') for stem in stems]
    return files + [osp.join(out, 'SegmentationClass', f'{stem}.png') for stem in stems]


def _summary(stats: dict) -> str:
    lines = [f'{"split":<16}{"images":>7}']
    for split, count in stats['counts'].items():
        redraws = stats['redraws'].get(split.split('/')[0]) if split.endswith('/labeled') else None
        note = f'  (redraws for the rare class: {redraws})' if redraws is not None else ''
        lines.append(f'{split:<16}{count:>7}{note}')
    lines.append('pixel frequency of the train pool (images containing the class):')
    for name, share in stats['train_pixel_frequency'].items():
        images = stats['train_images_with_class'].get(name)
        note = '' if images is None else f'  ({images} images)'
        rare = '  <- rare class' if name == RARE_CLASS else ''
        lines.append(f'  {name:<14}{100 * share:6.2f} %{note}{rare}')
    return '\n'.join(lines)


def make_demo_data(
    out: str,
    seed: int = 0,
    num_train: int = 480,
    num_val: int = 120,
    size: int = 96,
    force: bool = False,
    verbose: bool = True,
) -> Dict:
    """Generate the demo dataset (see the module docstring), or reuse an identical one.

    Args:
        out (str): The dataset root.
        seed (int): The seed (>= 0). Defaults to 0.
        num_train (int): Images in the train pool (>= 16). Defaults to 480.
        num_val (int): Validation images (>= 1). Defaults to 120.
        size (int): Image height and width, 32 to 128. Defaults to 96.
        force (bool): Regenerate even if ``out`` holds this dataset. Defaults to False.
        verbose (bool): Print the summary. Defaults to True.

    Returns:
        dict: The content of ``class_stats.json``: ``generator`` (the arguments), ``classes``,
        ``counts`` (images per split list, e.g. ``'1_16/labeled'``), ``redraws``,
        ``train_pixel_frequency`` (share of all train-pool pixels per class and ``'ignore'``)
        and ``train_images_with_class``.
    """
    if seed < 0 or num_train < 16 or num_val < 1 or not 32 <= size <= 128:
        raise ValueError(
            'need seed >= 0, num_train >= 16, num_val >= 1 and 32 <= size <= 128, got '
            f'seed={seed}, num_train={num_train}, num_val={num_val}, size={size}'
        )
    args = dict(
        version=GENERATOR_VERSION, seed=seed, num_train=num_train, num_val=num_val, size=size
    )
    stems = [f'demo_{i:06d}' for i in range(num_train + num_val)]
    stats_path = osp.join(out, 'class_stats.json')
    if not force and osp.isfile(stats_path):
        with open(stats_path) as f:
            stats = json.load(f)
        if stats.get('generator') == args and all(map(osp.isfile, _expected_files(out, stems))):
            if verbose:
                print(f'{out} already holds this dataset (--force regenerates)\n{_summary(stats)}')
            return stats
    start = time.perf_counter()
    if osp.isfile(stats_path):
        os.remove(stats_path)
    for folder in ('JPEGImages', 'SegmentationClass'):
        os.makedirs(osp.join(out, folder), exist_ok=True)
    palette = np.zeros((256, 3), np.uint8)
    palette[: len(PALETTE)] = PALETTE
    palette[IGNORE] = IGNORE_COLOUR
    pixels = np.zeros(256, np.int64)
    images_with = np.zeros(256, np.int64)
    has_rare = []
    for index, stem in enumerate(stems):
        img, label = draw_image(seed, index, size)
        Image.fromarray(img).save(
            osp.join(out, 'JPEGImages', f'{stem}.jpg'), quality=JPEG_QUALITY, subsampling=2
        )
        png = Image.frombytes('P', (size, size), label.tobytes())
        png.putpalette(palette.tobytes())
        png.save(osp.join(out, 'SegmentationClass', f'{stem}.png'))
        if index < num_train:
            counts = np.bincount(label.ravel(), minlength=256)
            pixels += counts
            images_with += counts > 0
            has_rare.append(bool(counts[C[RARE_CLASS]]))

    train, val = stems[:num_train], stems[num_train:]
    lists = {'train': train, 'val': val}
    redraws = {}
    for split, denominator in SPLITS.items():
        chosen, redraws[split] = draw_labeled(has_rare, denominator, seed)
        lists[f'{split}/labeled'] = [train[i] for i in chosen]
        lists[f'{split}/unlabeled'] = sorted(set(train) - set(lists[f'{split}/labeled']))
    for name, stems_of_list in lists.items():
        _write_lines(osp.join(out, 'splits', f'{name}.txt'), stems_of_list)

    total = int(pixels.sum())
    frequency = {name: round(pixels[i] / total, 6) for i, name in enumerate(CLASSES)}
    frequency['ignore'] = round(pixels[IGNORE] / total, 6)
    stats = dict(
        generator=args,
        classes=list(CLASSES),
        counts={name: len(stems_of_list) for name, stems_of_list in lists.items()},
        redraws=redraws,
        train_pixel_frequency=frequency,
        train_images_with_class={name: int(images_with[i]) for i, name in enumerate(CLASSES)},
    )
    with open(stats_path, 'w') as f:
        f.write(json.dumps(stats, indent=2) + '\n')
    if verbose:
        print(f'wrote {out} in {time.perf_counter() - start:.1f} s\n{_summary(stats)}')
    return stats


def main(argv: Sequence[str] = None) -> Dict:
    """Command line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default='data/farcluss_demo', help='dataset root')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--num-train', type=int, default=480, help='train pool images')
    parser.add_argument('--num-val', type=int, default=120, help='validation images')
    parser.add_argument('--size', type=int, default=96, help='image height and width, <= 128')
    parser.add_argument('--force', action='store_true', help='regenerate an existing dataset')
    args = parser.parse_args(argv)
    return make_demo_data(args.out, args.seed, args.num_train, args.num_val, args.size, args.force)


if __name__ == '__main__':
    main()
