"""Draw the teacher's pseudo-labels of a checkpoint on your own images.

    python tools/analysis_tools/visualize_pseudo_labels.py CONFIG CHECKPOINT IMAGES... --out DIR
        [--max-side 512] [--per-panel 4] [--seed 0] [--device cpu] [--cfg-options k=v ...]

``IMAGES`` are image files or folders (their ``.jpg`` / ``.jpeg`` / ``.png`` files, sorted).
Each image is scaled so that its longer side is at most ``--max-side`` and padded at the
bottom/right to the batch's largest size (padding is left out everywhere, as in training).
The panel is the one the training hook ``PseudoLabelVisHook`` sends to the vis backends: per
image its weak view, the teacher's prediction, the normalised entropy ``H`` with a colour bar,
the pixels the unsupervised loss would use, and two strong views made by the config's
``StrongViews`` transform then mixed by CutMix with the other images of the panel (boxes
outlined). It writes ``DIR/pseudo_labels_000.png`` (``--per-panel`` images each) and
``DIR/summary.json`` with, per image, the mean ``H``, the share of used pixels and the share
of each predicted class over the image's pixels.
"""

import argparse
import glob
import json
import os
import os.path as osp
import sys
from typing import List, Optional, Sequence

import mmcv
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmseg.apis import init_model
from mmseg.registry import TRANSFORMS

import farcluss_mmseg  # noqa: F401  (registers the plugin)
from farcluss_mmseg.visualization import draw_pseudo_label_panel, pseudo_label_rows

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')


def list_images(items: Sequence[str]) -> List[str]:
    """Expand folders into their image files (sorted); keep files as given."""
    paths = []
    for item in items:
        if osp.isdir(item):
            found = sorted(
                p for p in glob.glob(osp.join(item, '*')) if p.lower().endswith(IMAGE_SUFFIXES)
            )
            if not found:
                raise FileNotFoundError(f'no {"/".join(IMAGE_SUFFIXES)} image in folder {item}')
            paths += found
        elif osp.isfile(item):
            paths.append(item)
        else:
            raise FileNotFoundError(f'image {item} does not exist')
    return paths


def load_image(path: str, max_side: int) -> np.ndarray:
    """uint8 (H, W, 3) BGR, scaled down so that the longer side is at most ``max_side``."""
    image = mmcv.imread(path, channel_order='bgr')
    if image is None:
        raise ValueError(f'cannot decode image {path}')
    scale = max_side / max(image.shape[:2])
    if scale < 1:
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        image = mmcv.imresize(image, size, interpolation='bilinear')
    return np.ascontiguousarray(image)


def find_strong_views(cfg: Config) -> Optional[dict]:
    """The ``StrongViews`` step of the config's unlabeled training pipeline, if any."""

    def walk(node):
        if isinstance(node, dict):
            if node.get('type') == 'StrongViews':
                return node
            children = node.values()
        elif isinstance(node, (list, tuple)):
            children = node
        else:
            return None
        for child in children:
            found = walk(child)
            if found is not None:
                return found
        return None

    return walk(cfg.get('train_dataloader', {}))


def make_batch(images: List[np.ndarray], strong_cfg: Optional[dict], seed: int):
    """Pad the images to one size and make their strong views.

    Returns:
        tuple: weak (N, 3, H, W) uint8 BGR, strong (V, N, 3, H, W) or None, valid (N, H, W).
    """
    height = max(i.shape[0] for i in images)
    width = max(i.shape[1] for i in images)
    views = None
    if strong_cfg is not None:
        transform = TRANSFORMS.build(strong_cfg)
        np.random.seed(seed)  # mmcv's photometric transforms draw from numpy's global RNG
        views = [transform(dict(img=image.copy()))['img_strong'] for image in images]

    def pad(array: np.ndarray) -> np.ndarray:
        out = np.zeros((height, width) + array.shape[2:], array.dtype)
        out[: array.shape[0], : array.shape[1]] = array
        return out

    def to_tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(pad(array).transpose(2, 0, 1)))

    weak = torch.stack([to_tensor(i) for i in images])
    valid = torch.stack([torch.from_numpy(pad(np.ones(i.shape[:2], bool))) for i in images])
    strong = None
    if views is not None:
        strong = torch.stack(
            [torch.stack([to_tensor(v[k]) for v in views]) for k in range(len(views[0]))]
        )
    return weak, strong, valid


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='the training config of the checkpoint')
    parser.add_argument('checkpoint', help='a FARCLUSS (or other mean-teacher) checkpoint')
    parser.add_argument('images', nargs='+', help='image files or folders of images')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--max-side', type=int, default=512, help='longest image side (px)')
    parser.add_argument('--per-panel', type=int, default=4, help='images per panel file')
    parser.add_argument('--seed', type=int, default=0, help='seed of strong views and CutMix')
    parser.add_argument('--device', default='cpu', help="e.g. 'cpu' or 'cuda:0'")
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help='override settings of the config'
    )
    args = parser.parse_args(argv)
    if args.max_side < 1 or args.per_panel < 1:
        parser.error('--max-side and --per-panel must be positive')
    return args


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Draw the panels; return the summary written to ``summary.json``."""
    args = parse_args(argv)
    paths = list_images(args.images)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model = init_model(cfg, args.checkpoint, device=args.device)
    meta = model.dataset_meta or {}
    if not meta.get('palette'):
        raise ValueError(
            f'{args.checkpoint} has no class palette in its meta (dataset_meta); train it with a '
            'dataset whose metainfo has classes and palette'
        )
    strong_cfg = find_strong_views(cfg)
    os.makedirs(args.out, exist_ok=True)
    generator = torch.Generator().manual_seed(args.seed)
    summary = {}
    for p, start in enumerate(range(0, len(paths), args.per_panel)):
        chunk = paths[start : start + args.per_panel]
        images = [load_image(path, args.max_side) for path in chunk]
        weak, strong, valid = make_batch(images, strong_cfg, args.seed + p)
        rows = pseudo_label_rows(model, weak, valid, strong, generator=generator)
        for path, row in zip(chunk, rows):
            summary[path] = row.stats()
        panel = draw_pseudo_label_panel(rows, meta['palette'], meta.get('classes'))
        out_file = osp.join(args.out, f'pseudo_labels_{p:03d}.png')
        mmcv.imwrite(panel[..., ::-1], out_file)
        print(f'wrote {out_file}: {", ".join(osp.basename(c) for c in chunk)}')
    with open(osp.join(args.out, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    return summary


if __name__ == '__main__':
    try:
        main()
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f'error: {err}')
