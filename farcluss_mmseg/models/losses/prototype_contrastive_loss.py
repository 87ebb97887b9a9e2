"""FARCLUSS prototype contrastive loss ``L_c`` (eq. 9-10)."""

import math
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from .fuzzy_pseudo_label_loss import _check_number

__all__ = ['PrototypeContrastiveLoss']


def _class_sums(member: Tensor, values: Tensor) -> Tuple[Tensor, Tensor]:
    """Sums of the pixel vectors per class, split into two halves.

    Args:
        member (Tensor): Memberships, (N, 2C, P): two sets of C classes.
        values (Tensor): Pixel vectors, (N, D, P).

    Returns:
        tuple[Tensor, Tensor]: Two (C, D) sums. One matrix product over all N * P pixels
        (faster on GPU than a batched product over N, whose per-image products are too thin).
    """
    member = member.transpose(0, 1).reshape(member.shape[1], -1)
    values = values.transpose(0, 1).reshape(values.shape[1], -1)
    return torch.mm(member, values.t()).chunk(2)


@MODELS.register_module()
class PrototypeContrastiveLoss(nn.Module):
    """Pull confident pixel embeddings towards their class prototype (eq. 9-10).

    A pixel is confident when its weight ``W = 1 - H`` exceeds ``confidence_threshold`` (the
    paper's pseudocode, ``w_px > 0.5``); the caller gives ignored pixels weight 0. The
    prototype of class c is the mean embedding of its confident pixels in the batch (eq. 9),
    not re-normalised (eq. 10 uses the cosine, which normalises it). Then (METHOD step 8)

    .. math::
        L_c = \\lambda \\frac{1}{|\\{c: P_c \\neq \\emptyset\\}|} \\sum_{c: P_c \\neq \\emptyset}
              \\frac{1}{|P_c|} \\sum_{i \\in P_c} (1 - \\cos(f_i, f_c)),

    the mean over the classes present, not over all C as eq. 10 writes, and not over pixels
    as the pseudocode does (which lets large classes dominate). No confident pixel gives
    exactly 0, still attached to the graph of ``embeddings``.

    ``detach_prototypes`` defaults to True. For L2-normalised embeddings (the projection head
    normalises them) it does not change the gradient: the prototype path contributes
    ``(I - u u^T) sum_i f_i / (|P_c| |f_c|)`` with ``u = f_c / |f_c|``, and ``sum_i f_i`` is
    parallel to ``u``, so that term is 0. Detaching skips computing it. For embeddings that
    are not normalised the two differ; detached, each prototype is a fixed target of the step.

    Everything is vectorised (a scatter to a confident one-hot map, then one matrix product),
    without ``.item()``, ``nonzero`` or boolean-mask indexing.

    Args:
        num_classes (int): Number of classes C; labels must lie in [0, C).
        confidence_threshold (float): Pixels with weight above it build and use prototypes.
            Defaults to 0.5.
        detach_prototypes (bool): Stop the gradient through the prototypes. Defaults to True.
        loss_weight (float): The factor lambda_c of eq. 11. Defaults to 0.1.
        eps (float): Lower bound of the norms in the cosine. Defaults to 1e-6.
        loss_name (str): Name of the loss item; must start with 'loss_' to be back-propagated.
            Defaults to 'loss_c'.
    """

    def __init__(
        self,
        num_classes: int,
        confidence_threshold: float = 0.5,
        detach_prototypes: bool = True,
        loss_weight: float = 0.1,
        eps: float = 1e-6,
        loss_name: str = 'loss_c',
    ) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f'num_classes must be an int >= 1, got {num_classes!r}')
        _check_number('confidence_threshold', confidence_threshold, 0.0, 1.0)
        if not isinstance(detach_prototypes, bool):
            raise ValueError(f'detach_prototypes must be True or False, got {detach_prototypes!r}')
        _check_number('loss_weight', loss_weight, 0.0, math.inf)
        _check_number('eps', eps, 1e-12, 1.0)
        if not isinstance(loss_name, str) or not loss_name.startswith('loss_'):
            raise ValueError(f"loss_name must be a str starting with 'loss_', got {loss_name!r}")
        self.num_classes = num_classes
        self.confidence_threshold = confidence_threshold
        self.detach_prototypes = detach_prototypes
        self.loss_weight = loss_weight
        self.eps = eps
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """str: Name of the loss item."""
        return self._loss_name

    def forward(self, embeddings: Tensor, pseudo_labels: Tensor, pixel_weights: Tensor) -> Tensor:
        """Compute ``L_c``.

        Args:
            embeddings (Tensor): Pixel embeddings, (N, D, h, w), L2-normalised along D.
            pseudo_labels (Tensor): Long class per pixel in [0, C), (N, h, w), e.g. the fuzzy
                top-1 class taken to the embedding resolution (nearest).
            pixel_weights (Tensor): Confidence per pixel, (N, h, w), e.g. ``W = 1 - H``;
                0 for ignored pixels.

        Returns:
            Tensor: The scalar loss (already multiplied by ``loss_weight``).
        """
        self._check_inputs(embeddings, pseudo_labels, pixel_weights)
        # fp32 even under autocast: the class sums below lose ~14 % in bf16.
        with torch.autocast(embeddings.device.type, enabled=False):
            return self._loss(embeddings.float(), pseudo_labels, pixel_weights.float())

    def _loss(self, embeddings: Tensor, pseudo_labels: Tensor, pixel_weights: Tensor) -> Tensor:
        num, dim = embeddings.shape[:2]
        features = embeddings.reshape(num, dim, -1)  # (N, D, P), fp32 (see forward)
        confident = (pixel_weights > self.confidence_threshold).float().reshape(num, 1, -1)
        # member[n, c, i] = 1 where pixel i is confident and labeled c: the sets P_c.
        member = features.new_zeros(num, self.num_classes, features.shape[2])
        member.scatter_(1, pseudo_labels.reshape(num, 1, -1), confident)
        size = member.sum(dim=(0, 2))  # |P_c|

        # One matrix product gives, per class, the sum of f_i (eq. 9) and of f_i / |f_i|:
        # sum_{i in P_c} cos(f_i, f_c) = (sum_{i in P_c} f_i / |f_i|) . f_c / |f_c|, so no
        # (N, C, h, w) map of cosines is needed.
        norms = features.norm(dim=1, keepdim=True).clamp_min(self.eps)
        sums, unit_sums = _class_sums(torch.cat([member, member / norms], dim=1), features)
        prototypes = sums / size.clamp_min(1.0).unsqueeze(1)  # eq. 9
        if self.detach_prototypes:
            prototypes = prototypes.detach()
        cosine_sums = (unit_sums * F.normalize(prototypes, dim=1, eps=self.eps)).sum(dim=1)
        per_class = (size - cosine_sums) / size.clamp_min(1.0)  # mean over P_c of 1 - cos
        num_present = (size > 0).sum().clamp_min(1)
        return self.loss_weight * per_class.sum() / num_present  # eq. 10, classes present

    def _check_inputs(self, embeddings: Tensor, pseudo_labels: Tensor, pixel_weights: Tensor):
        """Raise a ValueError naming the argument whose shape or dtype is wrong."""
        if embeddings.dim() != 4:
            raise ValueError(f'embeddings must be (N, D, h, w), got {tuple(embeddings.shape)}')
        expected = embeddings.shape[:1] + embeddings.shape[2:]
        if pseudo_labels.shape != expected or pseudo_labels.dtype != torch.long:
            raise ValueError(
                f'pseudo_labels must be a long tensor of shape {tuple(expected)} (resize them '
                f'to the embeddings), got {pseudo_labels.dtype} of shape '
                f'{tuple(pseudo_labels.shape)}'
            )
        if pixel_weights.shape != expected:
            raise ValueError(
                f'pixel_weights must have shape {tuple(expected)}, got {tuple(pixel_weights.shape)}'
            )
