"""The pseudo-label panel: what the teacher tells the student about unlabeled images.

One row per unlabeled image: its weak view, the teacher's prediction (the pseudo-label), the
normalised entropy ``H`` of the teacher's probabilities (eq. 5), the pixels that enter the
unsupervised loss, and the strong views after CutMix with their boxes outlined; with the
image's hidden label when the dataset keeps one. :func:`pseudo_label_rows` computes the rows
from a mean-teacher model, :func:`draw_pseudo_label_panel` draws them with colour bars; the
training hook (:class:`~farcluss_mmseg.engine.hooks.PseudoLabelVisHook`) and
``tools/analysis_tools/visualize_pseudo_labels.py`` both use them.
"""

from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = [
    'PanelRow',
    'teacher_pseudo_labels',
    'pseudo_label_rows',
    'draw_pseudo_label_panel',
]

IGNORE_INDEX = 255


@dataclass
class PanelRow:
    """One unlabeled image of the panel, as numpy arrays of one size (H, W).

    Attributes:
        weak (np.ndarray): uint8 (H, W, 3) RGB weak view.
        labels (np.ndarray): int64 (H, W) teacher top-1 class.
        entropy (np.ndarray): float32 (H, W) normalised entropy in [0, 1].
        used (np.ndarray): bool (H, W) pixels entering the unsupervised loss.
        valid (np.ndarray): bool (H, W) False on padding.
        views (list[np.ndarray]): uint8 (H, W, 3) RGB strong views after CutMix.
        boxes (list[np.ndarray]): bool (H, W) CutMix box of each view (all False: no box).
        gt (np.ndarray, optional): int64 (H, W) the image's label, 255 = ignore.
    """

    weak: np.ndarray
    labels: np.ndarray
    entropy: np.ndarray
    used: np.ndarray
    valid: np.ndarray
    views: List[np.ndarray] = field(default_factory=list)
    boxes: List[np.ndarray] = field(default_factory=list)
    gt: Optional[np.ndarray] = None

    def stats(self) -> dict:
        """Summary numbers over the valid pixels: ``mean_entropy``, ``used_ratio`` and the
        share of each predicted class (``class_share``, class index -> share)."""
        valid = self.valid
        n = max(int(valid.sum()), 1)
        counts = np.bincount(self.labels[valid].ravel(), minlength=0)
        return dict(
            mean_entropy=float(self.entropy[valid].sum() / n),
            used_ratio=float(self.used[valid].sum() / n),
            class_share={int(c): float(k / n) for c, k in enumerate(counts) if k},
        )


def _require_pseudo_labels(model):
    """The model without its DDP wrapper; it must make pseudo-labels."""
    model = getattr(model, 'module', model)
    if not hasattr(model, 'predict_pseudo_labels'):
        raise ValueError(
            f'{type(model).__name__} has no predict_pseudo_labels(): the pseudo-label panel '
            'needs a semi-supervised model (model.type FARCLUSS or another mean-teacher method)'
        )
    return model


def teacher_pseudo_labels(model, weak: Tensor, valid: Tensor):
    """The model's pseudo-labels of normalised weak views, without gradients.

    Uses the method's own ``predict_pseudo_labels(weak, valid)`` (so the used-pixel mask is
    the method's rule) and fills ``entropy`` from ``probs`` when the method leaves it out.

    Args:
        model: A semi-supervised segmentor with ``predict_pseudo_labels``.
        weak (Tensor): (N, 3, H, W) normalised weak views on the model's device.
        valid (Tensor): (N, H, W) bool, False on padding.

    Returns:
        PseudoLabels: With ``labels``, ``entropy``, ``used`` and ``valid`` set.

    Raises:
        ValueError: If the model has no ``predict_pseudo_labels``.
    """
    from ..models.losses import normalized_entropy

    model = _require_pseudo_labels(model)
    with torch.no_grad():
        pseudo = model.predict_pseudo_labels(weak, valid)
    if pseudo.entropy is None:
        if pseudo.probs is None:
            raise ValueError(
                f'{type(model).__name__}.predict_pseudo_labels() returned neither entropy nor '
                'probs; the panel cannot show H'
            )
        pseudo.entropy = normalized_entropy(pseudo.probs)
    return pseudo


def _to_rgb(images: Tensor) -> np.ndarray:
    """uint8 (..., 3, H, W) BGR tensors (as the packers store them) -> (..., H, W, 3) RGB."""
    return images.flip(-3).movedim(-3, -1).cpu().numpy()


def pseudo_label_rows(
    model,
    weak: Tensor,
    valid: Tensor,
    strong: Optional[Tensor] = None,
    gt: Optional[Tensor] = None,
    generator: Optional[torch.Generator] = None,
) -> List[PanelRow]:
    """Compute the panel rows of a batch of unlabeled images.

    CutMix is drawn as the model's training step draws it (``semi_train_cfg`` ``cutmix_prob`` /
    ``cutmix_area``, the box filled from the previous image of the batch) but from
    ``generator``, so calling this during training leaves the training's random stream alone.

    Args:
        model: The semi-supervised segmentor (its ``data_preprocessor`` must be a
            ``SemiSegDataPreProcessor``).
        weak (Tensor): uint8 (N, 3, H, W) BGR weak views, as packed by ``PackSemiInputs``.
        valid (Tensor): (N, H, W) bool, False on padding.
        strong (Tensor, optional): uint8 (V, N, 3, H, W) BGR strong views. Defaults to None
            (no CutMix columns).
        gt (Tensor, optional): (N, H, W) labels of the images, 255 = ignore.
        generator (torch.Generator, optional): CPU generator of the CutMix boxes.

    Returns:
        list[PanelRow]: One row an image.
    """
    from ..models.utils import cutmix, cutmix_masks

    model = _require_pseudo_labels(model)
    valid = valid.bool()
    pseudo = teacher_pseudo_labels(
        model, model.data_preprocessor.normalize(weak), valid.to(model.data_preprocessor.device)
    )
    num = weak.shape[0]
    views, boxes = [], []
    if strong is not None:
        cfg = getattr(model, 'semi_train_cfg', {}) or {}
        partner = torch.roll(torch.arange(num), 1)
        for view in strong:
            box = cutmix_masks(
                num,
                *view.shape[-2:],
                prob=cfg.get('cutmix_prob', 0.5),
                area=tuple(cfg.get('cutmix_area', (0.02, 0.4))),
                generator=generator,
            )
            views.append(_to_rgb(cutmix(box, partner, view.cpu())[0]))
            boxes.append(box.numpy())
    weak_rgb = _to_rgb(weak)
    labels = pseudo.labels.cpu().numpy()
    entropy = pseudo.entropy.float().cpu().numpy()
    used = pseudo.used.cpu().numpy()
    valid_np = valid.cpu().numpy()
    return [
        PanelRow(
            weak=weak_rgb[i],
            labels=labels[i],
            entropy=entropy[i],
            used=used[i],
            valid=valid_np[i],
            views=[v[i] for v in views],
            boxes=[b[i] for b in boxes],
            gt=None if gt is None else gt[i].cpu().numpy().astype(np.int64),
        )
        for i in range(num)
    ]


def _outline(mask: np.ndarray) -> np.ndarray:
    """The one-pixel border of a boolean mask."""
    inner = mask.copy()
    inner[1:-1, 1:-1] = (
        mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
    )
    return mask & ~inner


def draw_pseudo_label_panel(
    rows: Sequence[PanelRow],
    palette: Sequence[Sequence[int]],
    classes: Optional[Sequence[str]] = None,
    title: Optional[str] = None,
) -> np.ndarray:
    """Draw the panel, with a colour bar for the classes and one for ``H``.

    Columns: weak view, label (when every row has one), teacher prediction (grey where the
    image is padding), ``H`` (magma, 0 = certain, 1 = uniform, grey on padding), used pixels
    (white: in L_u, grey: left out, black: padding), then each CutMix view with its box
    outlined in red.

    Args:
        rows (Sequence[PanelRow]): The images.
        palette (Sequence[Sequence[int]]): RGB colour of each class.
        classes (Sequence[str], optional): Class names for the colour bar.
        title (str, optional): A title above the panel (e.g. the iteration).

    Returns:
        np.ndarray: uint8 (H, W, 3) RGB image of the panel.
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import BoundaryNorm, ListedColormap, Normalize
    from matplotlib.figure import Figure

    num_classes = len(palette)
    colours = np.zeros((256, 3), np.uint8)
    colours[:num_classes] = np.asarray(palette, np.uint8)
    colours[IGNORE_INDEX] = (128, 128, 128)
    with_gt = all(row.gt is not None for row in rows)
    num_views = max((len(row.views) for row in rows), default=0)
    titles = ['weak view'] + ['label'] * with_gt + ['teacher prediction', 'entropy H']
    titles += ['used pixels (in L_u)'] + [f'CutMix view {v + 1}' for v in range(num_views)]
    num_rows, num_cols = len(rows), len(titles)
    fig = Figure(figsize=(2.2 * num_cols, 2.2 * num_rows + 0.9 + 0.4 * bool(title)))
    FigureCanvasAgg(fig)
    # One extra, thin row at the bottom holds the colour bars under their columns.
    grid = fig.add_gridspec(
        num_rows + 1,
        num_cols,
        height_ratios=[1] * num_rows + [0.07],
        left=0.02,
        right=0.98,
        bottom=0.1,
        top=0.9 if title else 0.95,
        wspace=0.06,
        hspace=0.15,
    )
    axes = np.array(
        [[fig.add_subplot(grid[r, c]) for c in range(num_cols)] for r in range(num_rows)]
    )
    pred_col, entropy_col = 1 + with_gt, 2 + with_gt
    magma = colormaps['magma'].with_extremes(bad=(0.5, 0.5, 0.5))
    for r, row in enumerate(rows):
        prediction = np.where(row.valid, row.labels, IGNORE_INDEX)
        used = np.where(row.valid, np.where(row.used, 255, 110), 0).astype(np.uint8)
        entropy = np.where(row.valid, row.entropy, np.nan)  # padding: grey, as in the others
        cells = [row.weak] + [colours[row.gt]] * with_gt + [colours[prediction], entropy, used]
        for view, box in zip(row.views, row.boxes):
            view = view.copy()
            view[_outline(box)] = (255, 0, 0)
            cells.append(view)
        for c in range(num_cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize=9)
            if c >= len(cells):  # a row with fewer CutMix views than the others
                ax.axis('off')
            elif c == entropy_col:
                ax.imshow(cells[c], cmap=magma, vmin=0, vmax=1, interpolation='nearest')
            elif cells[c].ndim == 2:
                ax.imshow(cells[c], cmap='gray', vmin=0, vmax=255, interpolation='nearest')
            else:
                ax.imshow(cells[c], interpolation='nearest')
    cmap = ListedColormap(colours[:num_classes] / 255.0)
    norm = BoundaryNorm(np.arange(num_classes + 1) - 0.5, num_classes)
    bar = fig.colorbar(
        ScalarMappable(norm=norm, cmap=cmap),
        cax=fig.add_subplot(grid[num_rows, pred_col]),
        orientation='horizontal',
        ticks=range(num_classes),
    )
    names = list(classes) if classes else [str(i) for i in range(num_classes)]
    bar.ax.set_xticklabels(names, rotation=90, fontsize=7)
    bar = fig.colorbar(
        ScalarMappable(norm=Normalize(0, 1), cmap=magma),
        cax=fig.add_subplot(grid[num_rows, entropy_col]),
        orientation='horizontal',
    )
    bar.set_label('H: 0 certain, 1 uniform', fontsize=7)
    bar.ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
