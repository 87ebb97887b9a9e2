"""FARCLUSS unsupervised loss: fuzzy pseudo-labels, uncertainty and class weights (eq. 2-8).

Where each equation lives:

- eq. 2-3 (top-K fuzzy pseudo-labels): :func:`fuzzy_pseudo_labels`.
- eq. 5 (normalised entropy): :func:`normalized_entropy`. Eq. 6 ``W = 1 - H`` and the entropy
  threshold: ``farcluss_pseudo_labels`` (segmentors/farcluss.py), once per step.
- eq. 7 (median frequency class weights): :func:`class_pixel_counts` and
  :func:`class_rebalance_weights`.
- eq. 4 and 8 (the KL to the student, without and with class weights):
  :meth:`FuzzyPseudoLabelLoss.forward_with_stats`.

Everything is vectorised: no ``.item()``, ``nonzero`` or boolean-mask indexing, so nothing waits
for the GPU.
"""

import math
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
from mmseg.registry import MODELS
from torch import Tensor

from ..utils.pseudo_labels import PseudoLabels

__all__ = [
    'fuzzy_pseudo_labels',
    'normalized_entropy',
    'class_pixel_counts',
    'class_rebalance_weights',
    'FuzzyPseudoLabelLoss',
]

MEDIAN_OVER = ('present', 'all')
CLASS_WEIGHT_MODES = ('per_class', 'top1', 'none')


def fuzzy_pseudo_labels(probs: Tensor, k: int) -> Tuple[Tensor, Tensor]:
    """Fuzzy pseudo-labels (eq. 2-3): the top-K classes of every pixel, renormalised to sum 1.

    Returned sparse, as the K kept probabilities and their classes: the other C - K classes
    are 0 and never enter eq. 4/8. ``k=1`` gives hard labels, ``k=C`` the full distribution.
    K rounds of ``max`` (the winner set to -1 before the next round) instead of
    ``torch.topk``, which is much slower along the class dim of an (N, C, H, W) map on GPU.

    Args:
        probs (Tensor): Teacher probabilities (non-negative), shape (N, C, H, W).
        k (int): How many classes to keep, in [1, C].

    Returns:
        tuple[Tensor, Tensor]: The renormalised top-K probabilities and their class indices,
        both (N, k, H, W), by decreasing probability (index 0 is the top-1 class).
    """
    num_classes = probs.shape[1]
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= num_classes:
        raise ValueError(
            f'top_k must be an int in [1, C={num_classes}] (the number of classes of the '
            f'teacher probabilities), got {k!r}'
        )
    values, indices = [], []
    for round_ in range(k):
        value, index = probs.max(dim=1, keepdim=True)
        values.append(value)
        indices.append(index)
        if round_ < k - 1:
            probs = probs.scatter(1, index, -1.0)
    values, indices = torch.cat(values, dim=1), torch.cat(indices, dim=1)
    # A row of zeros (not a distribution) stays zeros instead of becoming NaN.
    total = values.sum(dim=1, keepdim=True).clamp_min(torch.finfo(values.dtype).tiny)
    return values / total, indices


def normalized_entropy(probs: Tensor) -> Tensor:
    """Normalised entropy ``H = -sum_c p_c log p_c / log C`` of every pixel (eq. 5).

    ``0 log 0`` is taken as 0 (``torch.special.entr`` is exactly 0 at p = 0, so one-hot pixels
    give 0, not NaN). The result is clamped to [0, 1] against rounding.

    Args:
        probs (Tensor): Probabilities, shape (N, C, H, W) with C >= 2.

    Returns:
        Tensor: Entropy in [0, 1], shape (N, H, W): 0 for one-hot, 1 for uniform.
    """
    num_classes = probs.shape[1]
    if num_classes < 2:
        raise ValueError(f'normalized_entropy needs at least 2 classes (dim 1), got {num_classes}')
    entropy = torch.special.entr(probs).sum(dim=1) / math.log(num_classes)
    return entropy.clamp(0.0, 1.0)


def class_pixel_counts(
    labels: Tensor, num_classes: int, valid_mask: Optional[Tensor] = None
) -> Tensor:
    """Per-class pixel counts ``F_c`` of eq. 7 over the valid pixels, shape (C,), float32.

    Invalid pixels become -1, outside the histogram's range. ``torch.histc`` with a fixed range
    does not sync (CUDA ``torch.bincount`` reads the input's max back to the host) and is
    faster than ``index_add_`` on a GPU. It has no
    deterministic CUDA kernel, so under ``torch.use_deterministic_algorithms`` the counts come
    from a (slower) comparison with every class. Counts are exact up to 2**24 per class.
    """
    if valid_mask is not None:
        labels = torch.where(valid_mask, labels, -1)
    labels = labels.reshape(-1).float()
    if labels.is_cuda and torch.are_deterministic_algorithms_enabled():
        classes = torch.arange(num_classes, device=labels.device, dtype=labels.dtype)
        return (labels.unsqueeze(1) == classes).sum(dim=0).float()
    return torch.histc(labels, bins=num_classes, min=0, max=num_classes)


def class_rebalance_weights(
    counts: Tensor,
    median_over: str = 'present',
    max_weight: Optional[float] = 10.0,
    eps: float = 1e-6,
) -> Tensor:
    """Median-frequency class weights ``w_c = median(F) / (F_c + eps)`` (eq. 7).

    ``F_c`` (from :func:`class_pixel_counts`) counts the valid pixels whose fuzzy top-1 class
    is c. The median of an even number of values is the lower of the two middle ones, as
    ``torch.median`` (and the paper's pseudocode, ``cnt.median()``) gives.

    ``median_over='present'`` (default) takes the median over the classes with ``F_c > 0``;
    ``'all'`` takes it over all C classes, the literal eq. 7: a VOC batch holds 3-6 of 21
    classes, so that median is 0 and every weight is 0.

    ``max_weight`` bounds every weight. It is needed: a class that is some pixel's 2nd choice
    but no pixel's top-1 has ``F_c = 0``, so ``w_c = median / eps``, about 1e6 x median, and
    eq. 8 (which weights every class of the fuzzy label) would explode. The default 10 keeps
    the true eq. 7 weight of every class holding at least a tenth of the median count, and
    bounds a stray or absent class at 10x a median class, so ``L_u`` stays within an order of
    magnitude of the unweighted KL. It is a reasoned default, not a tuned one. ``None``
    disables the clip (the literal formula).

    With no valid pixel all counts are 0 and all weights 0 (no NaN).

    Args:
        counts (Tensor): ``F_c``, float, shape (C,).
        median_over (str): 'present' or 'all'. Defaults to 'present'.
        max_weight (float, optional): Upper clip of the weights. Defaults to 10.0.
        eps (float): The eq. 7 epsilon. Defaults to 1e-6.

    Returns:
        Tensor: Class weights, float32, shape (C,).
    """
    if median_over not in MEDIAN_OVER:
        raise ValueError(f'median_over must be one of {MEDIAN_OVER}, got {median_over!r}')
    num_classes = counts.numel()
    if median_over == 'present':
        num_used = (counts > 0).sum()
    else:
        num_used = torch.full((), num_classes, device=counts.device)
    # Sorted descending, the classes present come first (absent ones are 0). The lower middle
    # of the n values used, a_{(n-1)//2} in ascending order, sits at index n//2 here; n = 0
    # reads a 0, so every weight is 0. A gather keeps the index on the device (no sync).
    descending = counts.sort(descending=True).values
    median = descending.gather(0, (num_used // 2).reshape(1))
    weights = median / (counts + eps)
    if max_weight is not None:
        weights = weights.clamp(0.0, max_weight)
    return weights


def _check_choice(key: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f'{key} must be one of {allowed}, got {value!r}')


def _check_number(key: str, value, low: float, high: float, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        none = ' or None' if allow_none else ''
        raise ValueError(f'{key} must be a number in [{low}, {high}]{none}, got {value!r}')


class PseudoLabelLoss(nn.Module):
    """The interface of the unsupervised losses: student logits against :class:`PseudoLabels`.

    ``forward_with_stats(student_logits, pseudo_labels)`` returns the scalar loss (already
    multiplied by ``loss_weight``) and detached 0-dim statistics for the log; ``forward``
    returns the loss alone.

    Args:
        loss_weight (float): The loss factor (lambda_u of eq. 11).
        loss_name (str): Name of the loss item; must start with 'loss_' to be back-propagated.
    """

    def __init__(self, loss_weight: float, loss_name: str) -> None:
        super().__init__()
        _check_number('loss_weight', loss_weight, 0.0, math.inf)
        if not isinstance(loss_name, str) or not loss_name.startswith('loss_'):
            raise ValueError(f"loss_name must be a str starting with 'loss_', got {loss_name!r}")
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """str: Name of the loss item."""
        return self._loss_name

    def forward(self, student_logits: Tensor, pseudo_labels: PseudoLabels) -> Tensor:
        """Compute the loss; see :meth:`forward_with_stats` for the arguments.

        Returns:
            Tensor: The scalar loss (already multiplied by ``loss_weight``).
        """
        return self.forward_with_stats(student_logits, pseudo_labels)[0]

    def forward_with_stats(
        self, student_logits: Tensor, pseudo_labels: PseudoLabels
    ) -> Tuple[Tensor, Dict[str, Tensor]]:
        raise NotImplementedError


@MODELS.register_module()
class FuzzyPseudoLabelLoss(PseudoLabelLoss):
    """FARCLUSS unsupervised loss ``L_u`` (eq. 4 with the class weights of eq. 7: eq. 8).

    .. math::
        L_u = \\lambda \\frac{1}{N_{valid}} \\sum_{h,w} M W \\sum_c w_c p^{fuzzy}_c
              (\\log p^{fuzzy}_c - \\log p^S_c)

    The pseudo-labels carry ``p^fuzzy`` (top-K, eq. 2-3), ``W`` (eq. 6), ``M`` (``used``: valid
    and, by default, ``H <= 0.7``) and the valid mask. ``N_valid`` counts the valid pixels
    before the entropy cut (at least 1, so an empty batch gives 0). ``w_c`` (eq. 7) are counted
    over the *valid* pixels' fuzzy top-1 classes: a pseudo-labeled pixel counts even when its
    entropy is above the threshold. Only the K fuzzy classes are evaluated: the others have
    ``p^fuzzy_c = 0`` and contribute exactly 0.

    ``class_weight_mode``: 'per_class' is eq. 8 (``w_c`` inside the class sum). Note that it
    also reshapes the target: the minimiser is ``p^S`` proportional to ``w_c p^fuzzy_c``, so a
    rare 2nd choice can outweigh a frequent top-1 class, and the loss can be negative.
    'top1' is the paper's pseudocode (the whole pixel term times the weight of its top-1
    class; unlike the pseudocode, it is not also divided by C). 'none' is eq. 4.

    Args:
        median_over (str): 'present' or 'all', see :func:`class_rebalance_weights`.
            Defaults to 'present'.
        max_class_weight (float, optional): Clip of the class weights, see
            :func:`class_rebalance_weights`; None disables it. Defaults to 10.0.
        class_weight_mode (str): 'per_class', 'top1' or 'none'. Defaults to 'per_class'.
        loss_weight (float): The factor lambda_u of eq. 11. Defaults to 0.5.
        eps (float): The eq. 7 epsilon. Defaults to 1e-6.
        loss_name (str): Name of the loss item; must start with 'loss_' to be back-propagated.
            Defaults to 'loss_u'.
    """

    def __init__(
        self,
        median_over: str = 'present',
        max_class_weight: Optional[float] = 10.0,
        class_weight_mode: str = 'per_class',
        loss_weight: float = 0.5,
        eps: float = 1e-6,
        loss_name: str = 'loss_u',
    ) -> None:
        super().__init__(loss_weight, loss_name)
        _check_choice('median_over', median_over, MEDIAN_OVER)
        _check_number('max_class_weight', max_class_weight, 0.0, math.inf, allow_none=True)
        _check_choice('class_weight_mode', class_weight_mode, CLASS_WEIGHT_MODES)
        _check_number('eps', eps, 1e-12, 1.0)
        self.median_over = median_over
        self.max_class_weight = max_class_weight
        self.class_weight_mode = class_weight_mode
        self.eps = eps

    def forward_with_stats(
        self, student_logits: Tensor, pseudo_labels: PseudoLabels
    ) -> Tuple[Tensor, Dict[str, Tensor]]:
        """Compute ``L_u`` and detached statistics to log.

        Args:
            student_logits (Tensor): Raw student logits on the strong views, (N, C, H, W).
            pseudo_labels (PseudoLabels): Aligned with the logits, with ``fuzzy`` and
                ``fuzzy_classes`` (N, K, H, W). No gradient flows into them.

        Returns:
            tuple[Tensor, dict[str, Tensor]]: The scalar loss and 0-dim detached tensors:
            'weight_mean' (mean W over valid pixels), 'used_ratio' (share of valid pixels with
            M = 1), 'num_classes_present' (classes with F_c > 0), 'class_weight_min' and
            'class_weight_max' (over the classes present; 0 when none).
        """
        pl = pseudo_labels
        _check_inputs(student_logits, pl, fuzzy=True)
        num_classes = student_logits.shape[1]
        fuzzy, classes = pl.fuzzy.detach().float(), pl.fuzzy_classes
        counts = class_pixel_counts(classes[:, 0], num_classes, pl.valid)
        class_weight = class_rebalance_weights(
            counts, self.median_over, self.max_class_weight, self.eps
        )  # eq. 7

        # KL terms of the K fuzzy classes: p_f (log p_f - log_softmax(s)); the other C - K
        # classes have p_f = 0, so their terms are 0 and never computed. A kept class with
        # p_f = 0 (a one-hot teacher) gives exactly 0 too, even where log p_S = -inf.
        log_student = student_logits.float().log_softmax(dim=1).gather(1, classes)
        cross = torch.where(fuzzy > 0, fuzzy * log_student, 0.0)
        kl = torch.xlogy(fuzzy, fuzzy) - cross
        if self.class_weight_mode == 'per_class':  # eq. 8
            pixel_loss = (class_weight[classes] * kl).sum(dim=1)
        elif self.class_weight_mode == 'top1':  # pseudocode
            pixel_loss = class_weight[classes[:, 0]] * kl.sum(dim=1)
        else:  # eq. 4
            pixel_loss = kl.sum(dim=1)
        valid = pl.valid.float()
        num_valid = valid.sum().clamp_min(1.0)
        pixel_weight = pl.weight.detach().float()
        loss = self.loss_weight * (pl.used * pixel_weight * pixel_loss).sum() / num_valid

        with torch.no_grad():
            present = counts > 0
            any_present = present.any()
            inf = torch.full_like(class_weight, math.inf)
            weight_min = torch.where(present, class_weight, inf).amin()
            weight_max = torch.where(present, class_weight, -inf).amax()
            stats = {
                'weight_mean': (valid * pixel_weight).sum() / num_valid,
                'used_ratio': pl.used.sum() / num_valid,
                'num_classes_present': present.sum(),
                'class_weight_min': torch.where(any_present, weight_min, 0.0),
                'class_weight_max': torch.where(any_present, weight_max, 0.0),
            }
        return loss, stats


def _check_inputs(student_logits: Tensor, pl: PseudoLabels, fuzzy: bool = False) -> None:
    """Raise a ValueError naming the argument whose shape or dtype is wrong."""
    if student_logits.dim() != 4:
        raise ValueError(
            f'student_logits must be (N, C, H, W), got shape {tuple(student_logits.shape)}'
        )
    expected = student_logits.shape[:1] + student_logits.shape[2:]
    for name in ('labels', 'weight', 'used', 'valid'):
        value = getattr(pl, name)
        if value.shape != expected:
            raise ValueError(
                f'pseudo_labels.{name} has shape {tuple(value.shape)}, expected {tuple(expected)}'
                ' like student_logits (resize the logits to the pseudo-labels first)'
            )
    for name in ('used', 'valid'):
        if getattr(pl, name).dtype != torch.bool:
            raise ValueError(f'pseudo_labels.{name} must be bool, got {getattr(pl, name).dtype}')
    if fuzzy:
        if pl.fuzzy is None or pl.fuzzy_classes is None:
            raise ValueError(
                'FuzzyPseudoLabelLoss needs pseudo_labels.fuzzy and fuzzy_classes (top-K '
                'labels, eq. 2-3), as farcluss_pseudo_labels makes them'
            )
        if pl.fuzzy.shape[2:] != expected[1:] or pl.fuzzy.shape[1] > student_logits.shape[1]:
            raise ValueError(
                f'pseudo_labels.fuzzy has shape {tuple(pl.fuzzy.shape)}, expected '
                f'({expected[0]}, K <= C={student_logits.shape[1]}, {expected[1]}, {expected[2]})'
            )
