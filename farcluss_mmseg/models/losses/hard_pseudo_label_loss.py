"""Hard (one class a pixel) pseudo-label cross-entropy: the hard-label mean teacher's and
UniMatch's unsupervised loss."""

from typing import Dict, Tuple

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from ..utils.pseudo_labels import PseudoLabels
from .fuzzy_pseudo_label_loss import PseudoLabelLoss, _check_inputs, class_pixel_counts

__all__ = ['HardPseudoLabelLoss']


@MODELS.register_module()
class HardPseudoLabelLoss(PseudoLabelLoss):
    """Cross-entropy of the student against the pseudo-labels' class, on the used pixels.

    .. math::
        L_u = \\lambda \\frac{1}{N_{valid}} \\sum_{h,w} M \\, (-\\log p^S_{y_{h,w}})

    ``y`` is ``pseudo_labels.labels``, ``M`` is ``pseudo_labels.used`` (e.g. valid and the
    confidence at or above a threshold) and ``N_valid`` the number of valid pixels (at least 1,
    so an empty batch gives 0): the sum over the kept pixels divided by all valid pixels, as
    FixMatch and UniMatch average it. One fused ``cross_entropy`` (unused pixels get the
    ignore label); no ``.item()``, ``nonzero`` or boolean-mask indexing.

    Args:
        loss_weight (float): The factor of the loss. Defaults to 0.5, as lambda_u of FARCLUSS.
        loss_name (str): Name of the loss item; must start with 'loss_' to be back-propagated.
            Defaults to 'loss_u'.
    """

    def __init__(self, loss_weight: float = 0.5, loss_name: str = 'loss_u') -> None:
        super().__init__(loss_weight, loss_name)

    def forward_with_stats(
        self, student_logits: Tensor, pseudo_labels: PseudoLabels
    ) -> Tuple[Tensor, Dict[str, Tensor]]:
        """Compute ``L_u`` and detached statistics to log.

        Args:
            student_logits (Tensor): Raw student logits, (N, C, H, W).
            pseudo_labels (PseudoLabels): Aligned with the logits.

        Returns:
            tuple[Tensor, dict[str, Tensor]]: The scalar loss and 0-dim detached tensors, named
            as :class:`FuzzyPseudoLabelLoss` names them: 'weight_mean' and 'used_ratio' (both
            the share of valid pixels used: a used pixel has weight 1) and
            'num_classes_present' (distinct classes over the valid pixels).
        """
        pl = pseudo_labels
        _check_inputs(student_logits, pl)
        target = torch.where(pl.used, pl.labels, -1)
        loss_sum = F.cross_entropy(student_logits.float(), target, ignore_index=-1, reduction='sum')
        num_valid = pl.valid.sum().float().clamp_min(1.0)
        loss = self.loss_weight * loss_sum / num_valid

        with torch.no_grad():
            used_ratio = pl.used.sum().float() / num_valid
            counts = class_pixel_counts(pl.labels, student_logits.shape[1], pl.valid)
            stats = {
                'weight_mean': used_ratio,
                'used_ratio': used_ratio,
                'num_classes_present': (counts > 0).sum(),
            }
        return loss, stats
