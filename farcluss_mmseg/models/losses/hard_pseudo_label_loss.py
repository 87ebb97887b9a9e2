"""Hard (argmax) pseudo-label cross-entropy: the mean-teacher and FixMatch/UniMatch baselines.

The FARCLUSS comparisons (issue 5) need the plain alternative to eq. 8 with the same interface as
:class:`FuzzyPseudoLabelLoss`, so that a config swaps one loss for the other and everything else
(views, CutMix, model, schedule) stays the same.
"""

from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from .fuzzy_pseudo_label_loss import PseudoLabelLoss, _check_number, _class_counts

__all__ = ['HardPseudoLabelLoss']


@MODELS.register_module()
class HardPseudoLabelLoss(PseudoLabelLoss):
    """Cross-entropy of the student against the teacher's argmax, on confident pixels.

    .. math::
        L_u = \\lambda \\frac{1}{N_{valid}} \\sum_{h,w} M \\, [\\max_c p^T_c \\geq \\tau]
              \\, (-\\log p^S_{\\arg\\max_c p^T_c})

    ``M`` is the valid mask and ``N_valid`` the number of valid pixels (at least 1, so an empty
    batch gives 0): the sum over the kept pixels divided by all valid pixels, as FixMatch and
    UniMatch average it. ``threshold=None`` keeps every valid pixel: the plain hard-label
    mean-teacher loss.

    One fused ``cross_entropy`` (unkept pixels get the ignore label); no ``.item()``,
    ``nonzero`` or boolean-mask indexing.

    Args:
        threshold (float, optional): Confidence ``tau`` in [0, 1] a pixel's teacher max
            probability must reach; None keeps all valid pixels. Defaults to 0.95.
        loss_weight (float): The factor lambda_u of eq. 11. Defaults to 0.5, as for
            :class:`FuzzyPseudoLabelLoss`.
        loss_name (str): Name of the loss item; must start with 'loss_' to be back-propagated.
            Defaults to 'loss_u'.
    """

    def __init__(
        self,
        threshold: Optional[float] = 0.95,
        loss_weight: float = 0.5,
        loss_name: str = 'loss_u',
    ) -> None:
        super().__init__(loss_weight, loss_name)
        _check_number('threshold', threshold, 0.0, 1.0, allow_none=True)
        self.threshold = threshold

    def forward_with_stats(
        self, student_logits: Tensor, teacher_probs: Tensor, valid_mask: Optional[Tensor] = None
    ) -> Tuple[Tensor, Dict[str, Tensor]]:
        """Compute ``L_u`` and detached statistics to log.

        Args:
            student_logits (Tensor): Raw student logits on the strong view, (N, C, H, W).
            teacher_probs (Tensor): Teacher probabilities on the aligned weak view,
                (N, C, H, W). No gradient flows into them.
            valid_mask (Tensor, optional): Bool (N, H, W), False for ignored (padded) pixels.
                Defaults to None (all valid).

        Returns:
            tuple[Tensor, dict[str, Tensor]]: The scalar loss and 0-dim detached tensors, named
            as :class:`FuzzyPseudoLabelLoss` names them: 'weight_mean' and 'used_ratio' (both
            the share of valid pixels at or above the threshold: a kept pixel has weight 1) and
            'num_classes_present' (distinct argmax classes over the valid pixels).
        """
        _check_inputs(student_logits, teacher_probs, valid_mask)
        num_classes = student_logits.shape[1]
        confidence, labels = teacher_probs.detach().float().max(dim=1)  # (N, H, W)
        if valid_mask is None:
            valid_mask = torch.ones_like(labels, dtype=torch.bool)
        keep = valid_mask
        if self.threshold is not None:
            keep = keep & (confidence >= self.threshold)
        target = torch.where(keep, labels, -1)
        loss_sum = F.cross_entropy(student_logits.float(), target, ignore_index=-1, reduction='sum')
        num_valid = valid_mask.sum().float().clamp_min(1.0)
        loss = self.loss_weight * loss_sum / num_valid

        with torch.no_grad():
            used_ratio = keep.sum().float() / num_valid
            counts = _class_counts(labels, num_classes, valid_mask)
            stats = {
                'weight_mean': used_ratio,
                'used_ratio': used_ratio,
                'num_classes_present': (counts > 0).sum(),
            }
        return loss, stats


def _check_inputs(student_logits: Tensor, teacher_probs: Tensor, valid_mask: Optional[Tensor]):
    """Raise a ValueError naming the argument whose shape or dtype is wrong."""
    if student_logits.dim() != 4:
        raise ValueError(
            f'student_logits must be (N, C, H, W), got shape {tuple(student_logits.shape)}'
        )
    if teacher_probs.shape != student_logits.shape:
        raise ValueError(
            f'teacher_probs shape {tuple(teacher_probs.shape)} must equal student_logits '
            f'shape {tuple(student_logits.shape)} (resize the teacher output first)'
        )
    if valid_mask is not None:
        expected = student_logits.shape[:1] + student_logits.shape[2:]
        if valid_mask.dtype != torch.bool or valid_mask.shape != expected:
            raise ValueError(
                f'valid_mask must be a bool tensor of shape {tuple(expected)}, got '
                f'{valid_mask.dtype} of shape {tuple(valid_mask.shape)}'
            )
