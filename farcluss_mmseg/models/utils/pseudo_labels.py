"""The per-pixel pseudo-label quantities of one training step, shared by every loss."""

from dataclasses import dataclass, fields, replace
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .cutmix import cutmix

__all__ = ['PseudoLabels']


@dataclass
class PseudoLabels:
    """Pseudo-labels of a batch of unlabeled images, computed once per step.

    A method builds it from the teacher's (or, for UniMatch, the online model's) prediction on
    the weak views; CutMix then mixes it like the images (:meth:`mixed`), and every loss reads
    the same object, so a switch such as FARCLUSS's ``entropy_weight=False`` reaches all of them.
    All fields are (N, H, W) unless said otherwise, at the resolution of the weak view.

    Attributes:
        labels (Tensor): Long, the top-1 class of each pixel.
        weight (Tensor): Float, the weight of each pixel (FARCLUSS: ``W = 1 - H``; hard labels:
            1).
        used (Tensor): Bool, the pixels that enter the unsupervised loss.
        valid (Tensor): Bool, False on padding; losses are averaged over the valid pixels.
        entropy (Tensor, optional): The normalised entropy ``H`` of the full distribution.
        confidence (Tensor, optional): The top-1 probability.
        fuzzy (Tensor, optional): (N, K, H, W) the renormalised top-K probabilities (eq. 2-3).
        fuzzy_classes (Tensor, optional): (N, K, H, W) long, their classes; index 0 is top-1.
        probs (Tensor, optional): (N, C, H, W) the probabilities they were made from. Only the
            weak-view object holds them; :meth:`mixed` leaves them out (no loss needs them).
    """

    labels: Tensor
    weight: Tensor
    used: Tensor
    valid: Tensor
    entropy: Optional[Tensor] = None
    confidence: Optional[Tensor] = None
    fuzzy: Optional[Tensor] = None
    fuzzy_classes: Optional[Tensor] = None
    probs: Optional[Tensor] = None

    def _tensors(self) -> List[Tuple[str, Tensor]]:
        return [
            (f.name, getattr(self, f.name))
            for f in fields(self)
            if f.name != 'probs' and getattr(self, f.name) is not None
        ]

    def mixed(self, box: Tensor, partner: Tensor) -> 'PseudoLabels':
        """The pseudo-labels of a CutMix view: ``partner``'s values inside ``box``.

        Every quantity is a per-pixel function of the probabilities, so mixing the quantities
        equals recomputing them from mixed probabilities.

        Args:
            box (Tensor): (N, H, W) bool, from :func:`cutmix_masks`.
            partner (Tensor): (N,) long, the image whose pixels fill the box.

        Returns:
            PseudoLabels: The mixed pseudo-labels, without ``probs``.
        """
        named = self._tensors()
        mixed = cutmix(box, partner, *[t for _, t in named])
        return PseudoLabels(**{name: t for (name, _), t in zip(named, mixed)})

    @staticmethod
    def cat(items: Sequence['PseudoLabels']) -> 'PseudoLabels':
        """Concatenate along the batch dimension (e.g. the two strong views)."""
        named = [item._tensors() for item in items]
        names = [name for name, _ in named[0]]
        return PseudoLabels(**{name: torch.cat([dict(n)[name] for n in named]) for name in names})

    def chunk(self, chunks: int) -> List['PseudoLabels']:
        """Split along the batch dimension into ``chunks`` equal parts (e.g. per view)."""
        named = self._tensors()
        parts = [t.chunk(chunks) for _, t in named]
        return [
            PseudoLabels(**{name: part[i] for (name, _), part in zip(named, parts)})
            for i in range(chunks)
        ]

    def at_size(self, size: Tuple[int, int]) -> 'PseudoLabels':
        """Nearest-neighbour resize of every quantity, e.g. to a decoder's resolution."""
        if tuple(size) == tuple(self.labels.shape[-2:]):
            return self
        resized = {}
        for name, t in self._tensors():
            grid = t if t.dim() == 4 else t[:, None]
            grid = F.interpolate(grid.float(), size=size, mode='nearest').to(t.dtype)
            resized[name] = grid if t.dim() == 4 else grid[:, 0]
        return replace(self, probs=None, **resized)
