"""FARCLUSS: fuzzy pseudo-labels, entropy weighting, class rebalancing and prototype contrast.

Where each equation of the paper lives (docs/method.md has the decisions):
    eq. 1 (EMA teacher)                    engine/hooks/mean_teacher_hook.py
    eq. 2-3, 5-6 (fuzzy labels, H, W)      farcluss_pseudo_labels below
    eq. 4, 7-8 (L_u, class weights)        models/losses/fuzzy_pseudo_label_loss.py
    eq. 9-10 (prototypes, L_c)             models/losses/prototype_contrastive_loss.py
    eq. 11 (total)                         FARCLUSS.unsup_losses below
    eq. 12 (L_s)                           SemiSegmentor.sup_losses (semi_base.py)
    views, CutMix                          datasets/transforms/strong_views.py, semi_base.py
    complementary feature dropout          FARCLUSS.perturb_features below
"""

from typing import Dict, Optional

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from mmseg.utils import ConfigType
from torch import Tensor

from ..losses import fuzzy_pseudo_labels, normalized_entropy
from ..utils import PseudoLabels
from .mean_teacher import MeanTeacherSegmentor
from .semi_base import StudentOutputs


@MODELS.register_module()
class FARCLUSS(MeanTeacherSegmentor):
    """Fuzzy pseudo-labels, entropy weighting, class rebalancing and prototype contrast.

    One iteration: the teacher labels the weak view of each unlabeled image with its top-K
    classes, weighted by ``W = 1 - H``; the student sees the labeled images and two strong
    views of each unlabeled image (photometric changes from the pipeline, CutMix, complementary
    channel dropout on the encoder features) in one pass; the loss is ``L_s + L_u + L_c``,
    the loss modules carrying ``lambda_u`` and ``lambda_c`` as their ``loss_weight``.

    ``semi_train_cfg`` keys (besides those of :class:`MeanTeacherSegmentor`): ``top_k`` (K of
    eq. 2, default 2), ``entropy_threshold`` (pixels with ``H`` above it leave ``L_u``; None
    keeps all; default 0.7), ``entropy_weight`` (False: ``W = 1`` in ``L_u`` and ``L_c``;
    default True), ``feature_perturbation`` (complementary channel dropout; default True).

    Args:
        segmentor (dict): The student/teacher segmentor config (an ``EncoderDecoder``).
        unsup_loss (dict): ``FuzzyPseudoLabelLoss`` config (eq. 4-8).
        contrast_loss (dict, optional): ``PrototypeContrastiveLoss`` config (eq. 9-10);
            None turns the contrast (and the projection head) off.
        projector (dict): The projection head of the contrast, e.g.
            ``dict(type='ProjectionHead', embed_dim=128)``; its input width and norm come from
            the decode head.
        **kwargs: See :class:`MeanTeacherSegmentor`.
    """

    semi_train_defaults: Dict = dict(
        MeanTeacherSegmentor.semi_train_defaults,
        top_k=2,
        entropy_threshold=0.7,
        entropy_weight=True,
        feature_perturbation=True,
    )

    def __init__(
        self,
        segmentor: ConfigType,
        unsup_loss: ConfigType = dict(type='FuzzyPseudoLabelLoss'),
        contrast_loss: ConfigType = dict(type='PrototypeContrastiveLoss'),
        projector: ConfigType = dict(type='ProjectionHead'),
        **kwargs,
    ) -> None:
        super().__init__(segmentor, **kwargs)
        cfg = self.semi_train_cfg
        _check_top_k(cfg['top_k'], self.num_classes)
        threshold = cfg['entropy_threshold']
        if threshold is not None and not (
            isinstance(threshold, (int, float)) and 0 <= threshold <= 1
        ):
            raise ValueError(
                'model.semi_train_cfg.entropy_threshold must be a number in [0, 1] or None, '
                f'got {threshold!r}'
            )
        for key in ('entropy_weight', 'feature_perturbation'):
            if not isinstance(cfg[key], bool):
                raise ValueError(f'model.semi_train_cfg.{key} must be True or False')
        self.unsup_loss = MODELS.build(unsup_loss)
        self.contrast_loss = None
        if contrast_loss:
            self.contrast_loss = MODELS.build({'num_classes': self.num_classes, **contrast_loss})
            head = self.student.decode_head
            self.projector = MODELS.build(
                projector,
                default_args=dict(
                    in_channels=head.conv_seg.in_channels,
                    norm_cfg=getattr(head, 'norm_cfg', None),
                ),
            )

    @property
    def unsup_loss_names(self):
        names = [self.unsup_loss.loss_name]
        if self.contrast_loss is not None:
            names.append(self.contrast_loss.loss_name)
        return tuple(names)

    def make_pseudo_labels(self, probs: Tensor, valid: Tensor) -> PseudoLabels:
        cfg = self.semi_train_cfg
        return farcluss_pseudo_labels(
            probs, valid, cfg['top_k'], cfg['entropy_threshold'], cfg['entropy_weight']
        )

    def perturb_features(self, feat: Tensor, num_sup: int, num_views: int) -> Tensor:
        """Complementary channel dropout: view 1 keeps the channels of a Bernoulli(0.5) mask,
        view 2 its complement, both scaled by 2 as in inverted dropout. Labeled images and
        views beyond the second are left as they are. One broadcast multiply: autograd keeps
        only the (N, C, 1, 1) scale."""
        if not self.semi_train_cfg['feature_perturbation'] or num_views < 2:
            return feat
        num_unsup = (feat.shape[0] - num_sup) // num_views
        keep = torch.rand(num_unsup, feat.shape[1], 1, 1, device=feat.device) < 0.5
        scale = feat.new_ones(feat.shape[0], feat.shape[1], 1, 1)
        scale[num_sup : num_sup + 2 * num_unsup] = torch.cat([keep, ~keep]).to(feat.dtype) * 2
        return feat * scale

    def unsup_losses(
        self, out: StudentOutputs, pseudo: PseudoLabels, view_pseudo: PseudoLabels
    ) -> Dict[str, Tensor]:
        """``lambda_u L_u`` (eq. 8) on both strong views and ``lambda_c L_c`` (eq. 9-10) on
        their decoder features. Eq. 11 is their sum with ``L_s``: the lambdas are the losses'
        ``loss_weight`` and mmengine adds up every ``loss_*`` item."""
        logits = self.upsample(out.view_logits, view_pseudo.labels.shape[-2:])
        loss_u, stats = self.unsup_loss.forward_with_stats(logits, view_pseudo)
        losses = {self.unsup_loss.loss_name: loss_u, **self.log_stats(stats)}
        if self.contrast_loss is not None:
            embeddings = F.normalize(self.projector(out.view_features), dim=1)
            low = view_pseudo.at_size(embeddings.shape[-2:])  # nearest, where they are used
            losses[self.contrast_loss.loss_name] = self.contrast_loss(
                embeddings, low.labels, low.weight * low.valid
            )
        return losses


def farcluss_pseudo_labels(
    probs: Tensor,
    valid: Tensor,
    top_k: int = 2,
    entropy_threshold: Optional[float] = 0.7,
    entropy_weight: bool = True,
) -> PseudoLabels:
    """Eq. 2-3 and 5-6: top-K fuzzy labels, ``H``, ``W = 1 - H`` and the entropy cut.

    Args:
        probs (Tensor): (N, C, H, W) teacher probabilities on the weak views.
        valid (Tensor): (N, H, W) bool, False on padding.
        top_k (int): K of eq. 2.
        entropy_threshold (float, optional): Pixels with ``H`` above it are not used in
            ``L_u``; None uses every valid pixel.
        entropy_weight (bool): False sets ``W = 1`` (the ablation without eq. 6).

    Returns:
        PseudoLabels: With ``fuzzy``, ``fuzzy_classes``, ``entropy`` and ``probs``.
    """
    fuzzy, classes = fuzzy_pseudo_labels(probs, top_k)  # eq. 2-3
    entropy = normalized_entropy(probs)  # eq. 5, full distribution
    weight = 1.0 - entropy if entropy_weight else torch.ones_like(entropy)  # eq. 6
    used = valid
    if entropy_threshold is not None:
        used = valid & (entropy <= entropy_threshold)
    return PseudoLabels(
        labels=classes[:, 0],
        weight=weight,
        used=used,
        valid=valid,
        entropy=entropy,
        fuzzy=fuzzy,
        fuzzy_classes=classes,
        probs=probs,
    )


def _check_top_k(k, num_classes: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= num_classes:
        raise ValueError(
            f'model.semi_train_cfg.top_k must be an int in [1, {num_classes}] (the decode '
            f"head's num_classes), got {k!r}"
        )
