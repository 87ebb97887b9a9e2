"""UniMatch V1 (Yang et al., "Revisiting Weak-to-Strong Consistency in Semi-Supervised Semantic
Segmentation", CVPR 2023) on the same template, views and network as FARCLUSS: the peer to
compare with."""

from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, SampleList
from torch import Tensor

from ..utils import PseudoLabels
from .hard_label_mean_teacher import _check_threshold, hard_pseudo_labels
from .semi_base import SemiSegmentor, StudentOutputs


@MODELS.register_module()
class UniMatch(SemiSegmentor):
    """UniMatch V1: the online model labels the weak views; two CutMix strong views and a
    feature-perturbed weak view learn those labels.

    One iteration, as in the published training script:

    - one pass of the model (train mode) over the labeled images and the weak views, decoding
      the encoder features twice: as they are, and with channel dropout
      (``Dropout2d(fp_dropout)``) on every level (the ``fp`` stream);
    - pseudo-labels = argmax of the weak views' (detached) prediction, used where the
      confidence is at least ``confidence_threshold`` (0.95 on VOC, 0 on Cityscapes);
    - a second pass over the two strong views, each CutMixed with another image of the
      batch; their pseudo-labels mixed with the same boxes;
    - ``(L_x + 0.25 L_s1 + 0.25 L_s2 + 0.5 L_fp) / 2``: the loss modules' ``loss_weight`` and
      ``sup_weight`` hold those factors, halved.

    No EMA teacher: inference uses the trained model. One deliberate difference from the
    script: the CutMix partner is another image of the same batch (as for FARCLUSS), so its
    pseudo-labels come from this step's train-mode pass instead of an extra eval-mode pass over
    a second unlabeled batch.

    Args:
        segmentor (dict): The segmentor config (an ``EncoderDecoder``).
        strong_loss (dict): ``HardPseudoLabelLoss`` of each strong view.
        fp_loss (dict): ``HardPseudoLabelLoss`` of the feature-perturbed weak view.
        **kwargs: See :class:`SemiSegmentor`. ``semi_train_cfg`` adds
            ``confidence_threshold`` (0.95), ``fp_dropout`` (0.5) and ``sup_weight`` (0.5).
    """

    semi_train_defaults: Dict = dict(
        SemiSegmentor.semi_train_defaults,
        confidence_threshold=0.95,
        fp_dropout=0.5,
        sup_weight=0.5,
    )

    def __init__(
        self,
        segmentor: ConfigType,
        strong_loss: ConfigType = dict(
            type='HardPseudoLabelLoss', loss_weight=0.125, loss_name='loss_u_s'
        ),
        fp_loss: ConfigType = dict(
            type='HardPseudoLabelLoss', loss_weight=0.25, loss_name='loss_u_fp'
        ),
        **kwargs,
    ) -> None:
        super().__init__(segmentor, **kwargs)
        cfg = self.semi_train_cfg
        _check_threshold(cfg['confidence_threshold'])
        for key in ('fp_dropout', 'sup_weight'):
            value = cfg[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f'model.semi_train_cfg.{key} must be a number >= 0, got {value!r}')
        if cfg['fp_dropout'] >= 1:
            raise ValueError('model.semi_train_cfg.fp_dropout must be < 1 (a dropout rate)')
        self.strong_loss = MODELS.build(strong_loss)
        self.fp_loss = MODELS.build(fp_loss)
        if self.strong_loss.loss_name == self.fp_loss.loss_name:
            raise ValueError('model.strong_loss and model.fp_loss need different loss_name')

    @property
    def unsup_loss_names(self):
        return (self.strong_loss.loss_name, self.fp_loss.loss_name)

    def student_forward(self, x_sup: Tensor, weak: Tensor, views: List[Tensor]) -> StudentOutputs:
        num_sup = x_sup.shape[0]
        head = self.student.decode_head
        feats = self.student.extract_feat(torch.cat([x_sup, weak]))
        rate = self.semi_train_cfg['fp_dropout']
        both = [torch.cat([f, F.dropout2d(f, rate, training=True)]) for f in feats]
        clean, perturbed = head.forward(both).chunk(2)
        view_logits = head.forward(self.student.extract_feat(torch.cat(views)))
        return StudentOutputs(
            sup_logits=clean[:num_sup],
            sup_feats=[f[:num_sup] for f in feats],
            view_logits=view_logits,
            extra=dict(weak_logits=clean[num_sup:], fp_logits=perturbed[num_sup:]),
        )

    def predict_pseudo_labels(
        self, weak: Tensor, valid: Tensor, out: Optional[StudentOutputs] = None
    ) -> PseudoLabels:
        """The online model's own prediction on the weak views (this step's pass)."""
        with torch.no_grad():
            probs = self.upsample(out.extra['weak_logits'].detach(), weak.shape[-2:]).softmax(1)
            return hard_pseudo_labels(probs, valid, self.semi_train_cfg['confidence_threshold'])

    def sup_losses(self, logits: Tensor, sup_feats: List[Tensor], samples: SampleList) -> dict:
        losses = super().sup_losses(logits, sup_feats, samples)
        weight = self.semi_train_cfg['sup_weight']
        return {k: v * weight if 'loss' in k else v for k, v in losses.items()}

    def unsup_losses(
        self, out: StudentOutputs, pseudo: PseudoLabels, view_pseudo: PseudoLabels
    ) -> Dict[str, Tensor]:
        size = pseudo.labels.shape[-2:]
        loss_fp, stats = self.fp_loss.forward_with_stats(
            self.upsample(out.extra['fp_logits'], size), pseudo
        )
        view_logits = self.upsample(out.view_logits, size)
        num_views = view_logits.shape[0] // pseudo.labels.shape[0]
        loss_s = sum(
            self.strong_loss(logits, labels)  # each view averaged over its own valid pixels
            for logits, labels in zip(view_logits.chunk(num_views), view_pseudo.chunk(num_views))
        )
        return {
            self.strong_loss.loss_name: loss_s,
            self.fp_loss.loss_name: loss_fp,
            **self.log_stats(stats),
        }
