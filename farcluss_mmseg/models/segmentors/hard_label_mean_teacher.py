"""The hard-label mean teacher: the teacher's argmax where it is confident, cross-entropy."""

from typing import Dict

from mmseg.registry import MODELS
from mmseg.utils import ConfigType
from torch import Tensor

from ..utils import PseudoLabels
from .mean_teacher import MeanTeacherSegmentor
from .semi_base import StudentOutputs


@MODELS.register_module()
class HardLabelMeanTeacher(MeanTeacherSegmentor):
    """Mean teacher with hard pseudo-labels (FixMatch-style thresholding on the EMA teacher).

    Each unlabeled pixel takes the teacher's top-1 class where its probability is at least
    ``semi_train_cfg.confidence_threshold`` (default 0.95; None keeps every valid pixel, the
    plain mean teacher); the student learns it on both CutMix strong views with cross-entropy.
    Same views, CutMix, EMA and network as FARCLUSS; no fuzzy labels, weights or contrast.

    Args:
        segmentor (dict): The student/teacher segmentor config.
        unsup_loss (dict): ``HardPseudoLabelLoss`` config.
        **kwargs: See :class:`MeanTeacherSegmentor`.
    """

    semi_train_defaults: Dict = dict(
        MeanTeacherSegmentor.semi_train_defaults, confidence_threshold=0.95
    )

    def __init__(
        self,
        segmentor: ConfigType,
        unsup_loss: ConfigType = dict(type='HardPseudoLabelLoss'),
        **kwargs,
    ) -> None:
        super().__init__(segmentor, **kwargs)
        _check_threshold(self.semi_train_cfg['confidence_threshold'])
        self.unsup_loss = MODELS.build(unsup_loss)

    @property
    def unsup_loss_names(self):
        return (self.unsup_loss.loss_name,)

    def make_pseudo_labels(self, probs: Tensor, valid: Tensor) -> PseudoLabels:
        return hard_pseudo_labels(probs, valid, self.semi_train_cfg['confidence_threshold'])

    def unsup_losses(
        self, out: StudentOutputs, pseudo: PseudoLabels, view_pseudo: PseudoLabels
    ) -> Dict[str, Tensor]:
        logits = self.upsample(out.view_logits, view_pseudo.labels.shape[-2:])
        loss, stats = self.unsup_loss.forward_with_stats(logits, view_pseudo)
        return {self.unsup_loss.loss_name: loss, **self.log_stats(stats)}


def hard_pseudo_labels(probs: Tensor, valid: Tensor, threshold) -> PseudoLabels:
    """Top-1 class of each pixel; used where valid and its probability >= ``threshold``.

    Args:
        probs (Tensor): (N, C, H, W) probabilities.
        valid (Tensor): (N, H, W) bool.
        threshold (float, optional): None uses every valid pixel.
    """
    confidence, labels = probs.max(dim=1)
    used = valid if threshold is None else valid & (confidence >= threshold)
    return PseudoLabels(
        labels=labels,
        weight=used.float(),
        used=used,
        valid=valid,
        confidence=confidence,
        probs=probs,
    )


def _check_threshold(threshold) -> None:
    if threshold is not None and not (
        isinstance(threshold, (int, float))
        and not isinstance(threshold, bool)
        and 0 <= threshold <= 1
    ):
        raise ValueError(
            'model.semi_train_cfg.confidence_threshold must be a number in [0, 1] or None, '
            f'got {threshold!r}'
        )
