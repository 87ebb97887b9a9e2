"""FARCLUSS (METHOD.md; paper eq. 1-12) as a mean-teacher segmentor.

Where each equation lives:
    eq. 1 (EMA)                       engine/hooks/mean_teacher_hook.py
    eq. 2-8 (fuzzy labels, entropy
      weight, class weights, L_u)     models/losses/fuzzy_pseudo_label_loss.py
    eq. 9-10 (prototypes, L_c)        models/losses/prototype_contrastive_loss.py
    eq. 11-12 (L_s, total)            FARCLUSS.loss below
    views, CutMix, feature perturb.   datasets/transforms/strong_views.py, models/utils/cutmix.py,
                                      FARCLUSS.loss below
"""

from contextlib import contextmanager
from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, SampleList
from torch import Tensor, nn

from ..losses import normalized_entropy
from ..utils import cutmix, cutmix_masks
from .mean_teacher import MeanTeacherSegmentor

SEMI_TRAIN_CFG_DEFAULTS = dict(
    cutmix_prob=0.5,  # METHOD.md step 1: per strong view and image
    cutmix_area=(0.02, 0.4),  # box area as a share of the crop
    feature_perturbation=True,  # METHOD.md step 7: complementary channel dropout
    embed_dim=128,  # METHOD.md step 8: projection head output
)


@MODELS.register_module()
class FARCLUSS(MeanTeacherSegmentor):
    """Fuzzy pseudo-labels, entropy weighting, class rebalancing and prototype contrast.

    One iteration (METHOD.md "One training iteration"): the teacher labels the weak view of each
    unlabeled image; the student sees the labeled images and two strong views of each unlabeled
    image (photometric changes from the pipeline, CutMix here, complementary channel dropout on
    the encoder features) in one forward pass; the loss is ``L_s + L_u + L_c`` where the loss
    modules carry ``lambda_u`` and ``lambda_c`` as their ``loss_weight``.

    Args:
        segmentor (dict): The student/teacher segmentor config (an ``EncoderDecoder``).
        unsup_loss (dict): ``FuzzyPseudoLabelLoss`` config (eq. 2-8).
        contrast_loss (dict): ``PrototypeContrastiveLoss`` config (eq. 9-10).
        semi_train_cfg (dict): ``cutmix_prob``, ``cutmix_area``, ``feature_perturbation``,
            ``embed_dim``; see ``SEMI_TRAIN_CFG_DEFAULTS``. Unknown keys are an error.
        **kwargs: See :class:`MeanTeacherSegmentor`.
    """

    def __init__(
        self,
        segmentor: ConfigType,
        unsup_loss: ConfigType = dict(type='FuzzyPseudoLabelLoss'),
        contrast_loss: OptConfigType = dict(type='PrototypeContrastiveLoss'),
        semi_train_cfg: OptConfigType = None,
        **kwargs,
    ) -> None:
        cfg = dict(semi_train_cfg or {})
        unknown = set(cfg) - set(SEMI_TRAIN_CFG_DEFAULTS)
        if unknown:
            raise KeyError(
                f'unknown key(s) {sorted(unknown)} in model.semi_train_cfg; '
                f'allowed: {sorted(SEMI_TRAIN_CFG_DEFAULTS)}'
            )
        super().__init__(segmentor, semi_train_cfg={**SEMI_TRAIN_CFG_DEFAULTS, **cfg}, **kwargs)
        head = self.student.decode_head
        self.num_classes = head.num_classes
        self.unsup_loss = MODELS.build(unsup_loss)
        self.contrast_loss = None
        if contrast_loss:
            self.contrast_loss = MODELS.build({'num_classes': self.num_classes, **contrast_loss})
        if self.contrast_loss is not None:
            # METHOD.md step 8's "light" head: 1x1 conv -> BN -> ReLU -> 1x1 conv. Its hidden
            # width is that of the decoder features, but never wider than the embedding: at
            # R101 (512 decoder channels, 16 views of 129x129) a 512-wide hidden layer costs
            # 4x the head's FLOPs and ~0.8 GiB more saved activations than a 128-wide one
            # (README "Step cost").
            channels = head.conv_seg.in_channels
            hidden = min(channels, self.semi_train_cfg['embed_dim'])
            norm_cfg = getattr(head, 'norm_cfg', None) or dict(type='BN')
            self.projector = nn.Sequential(
                ConvModule(channels, hidden, 1, norm_cfg=norm_cfg),
                nn.Conv2d(hidden, self.semi_train_cfg['embed_dim'], 1),
            )

    # ------------------------------------------------------------------------------------------
    def loss(self, inputs: Dict[str, Tensor], data_samples: Dict[str, SampleList]) -> dict:
        """Losses and pseudo-label statistics of one labeled + unlabeled batch."""
        cfg = self.semi_train_cfg
        x_sup, weak, strong = inputs['sup'], inputs['weak'], inputs['strong']
        unsup_samples = data_samples['unsup']
        num_sup, (num_views, num_unsup) = x_sup.shape[0], strong.shape[:2]
        valid = torch.cat([s.valid_mask.data for s in unsup_samples]).bool()  # (B_u, H, W)

        # Teacher on the weak view (step 2).
        with torch.no_grad():
            probs = self._teacher_probs(weak)

        # Strong views: CutMix with another image of the batch, same box for image, teacher
        # probabilities and validity mask (step 1).
        partner = torch.roll(torch.arange(num_unsup, device=weak.device), 1)
        views, view_probs, view_valid = [], [], []
        for v in range(num_views):
            box = cutmix_masks(
                num_unsup,
                *weak.shape[-2:],
                prob=cfg['cutmix_prob'],
                area=cfg['cutmix_area'],
                device=weak.device,
            )
            image, p, m = cutmix(box, partner, strong[v], probs, valid)
            views.append(image)
            view_probs.append(p)
            view_valid.append(m)
        view_probs, view_valid = torch.cat(view_probs), torch.cat(view_valid)

        # Student: labeled images and all strong views in one pass (step 7 inside).
        logits, decoder_feats, sup_feats = self._student_forward(x_sup, views)
        losses = self._sup_losses(logits[:num_sup], sup_feats, data_samples['sup'])

        # Unsupervised loss, eq. 2-8 (step 3-6), both views at once.
        logits_u = resize(
            logits[num_sup:],
            size=weak.shape[-2:],
            mode='bilinear',
            align_corners=self.student.decode_head.align_corners,
        )
        loss_u, stats = self.unsup_loss.forward_with_stats(logits_u, view_probs, view_valid)
        losses[self.unsup_loss.loss_name] = loss_u

        # Prototype contrast, eq. 9-10 (step 8), at the decoder's resolution.
        if self.contrast_loss is not None:
            embeddings = F.normalize(self.projector(decoder_feats[num_sup:]), dim=1)
            # Targets at the embeddings' resolution (nearest), where they are used.
            size = embeddings.shape[-2:]
            probs_low = resize(view_probs, size=size, mode='nearest')
            valid_low = resize(view_valid[:, None].float(), size=size, mode='nearest')[:, 0]
            weights = (1 - normalized_entropy(probs_low)) * valid_low  # W, 0 where invalid
            losses[self.contrast_loss.loss_name] = self.contrast_loss(
                embeddings, probs_low.argmax(1), weights
            )

        losses.update(self._pseudo_label_stats(stats, probs, valid, unsup_samples))
        return losses

    # ------------------------------------------------------------------------------------------
    def _teacher_probs(self, weak: Tensor) -> Tensor:
        """Teacher probabilities on the weak view at input resolution."""
        head = self.teacher.decode_head
        logits = head.forward(self.teacher.extract_feat(weak))
        logits = resize(
            logits, size=weak.shape[-2:], mode='bilinear', align_corners=head.align_corners
        )
        return logits.softmax(dim=1)

    def _student_forward(
        self, x_sup: Tensor, views: List[Tensor]
    ) -> Tuple[Tensor, Tensor, List[Tensor]]:
        """One student pass over labeled images and strong views.

        Returns:
            tuple: decode-head logits of all images, the decoder's last feature map (the input of
            its classifier) and the labeled part of the encoder features (for auxiliary heads).
        """
        num_sup, num_unsup = x_sup.shape[0], views[0].shape[0]
        if x_sup.shape[-2:] != views[0].shape[-2:]:
            raise ValueError(
                f'labeled crops {tuple(x_sup.shape[-2:])} and unlabeled crops '
                f'{tuple(views[0].shape[-2:])} differ: use one crop_size for both '
                'pipelines (train_dataloader labeled and unlabeled datasets).'
            )
        feats = self.student.extract_feat(torch.cat([x_sup, *views]))
        sup_feats = [f[:num_sup] for f in feats]
        if self.semi_train_cfg['feature_perturbation']:
            feats = [self._complementary_dropout(f, num_sup, num_unsup, len(views)) for f in feats]
        head = self.student.decode_head
        with _capture_input(head.conv_seg) as captured:
            logits = head.forward(feats)
        return logits, captured[0], sup_feats

    @staticmethod
    def _complementary_dropout(
        feat: Tensor, num_sup: int, num_unsup: int, num_views: int
    ) -> Tensor:
        """Drop encoder channels of view 1 with a Bernoulli(0.5) mask and of view 2 with its
        complement (METHOD.md step 7), scaled by 2 as in inverted dropout. Labeled images and
        views beyond the second are left as they are (scale 1). One broadcast multiply: a single
        new feature map, and autograd keeps only the (N, C, 1, 1) scale."""
        if num_views < 2:
            return feat
        keep = torch.rand(num_unsup, feat.shape[1], 1, 1, device=feat.device) < 0.5
        scale = feat.new_ones(feat.shape[0], feat.shape[1], 1, 1)
        scale[num_sup : num_sup + 2 * num_unsup] = torch.cat([keep, ~keep]).to(feat.dtype) * 2
        return feat * scale

    def _sup_losses(self, logits: Tensor, sup_feats: List[Tensor], samples: SampleList) -> dict:
        """Eq. 12: the decode head's ``loss_decode`` (cross-entropy, ignore 255) on the labeled
        images, named ``loss_sup``, plus auxiliary heads if the segmentor has them.

        The computation of mmseg's ``BaseDecodeHead.loss_by_feat``, except for the logged pixel
        accuracy ``sup_acc_seg`` (%): mmseg's ``accuracy()`` indexes with a boolean mask and
        reads a count back, two host-device synchronisations per step; this one stays on the
        device.
        """
        head = self.student.decode_head
        labels = head._stack_batch_gt(samples)  # (B_l, 1, H, W)
        logits = resize(
            logits, size=labels.shape[2:], mode='bilinear', align_corners=head.align_corners
        )
        weight = head.sampler.sample(logits, labels) if head.sampler is not None else None
        labels = labels.squeeze(1)
        loss_modules = head.loss_decode
        if not isinstance(loss_modules, nn.ModuleList):
            loss_modules = [loss_modules]
        losses = {}
        for module in loss_modules:
            key = 'loss_sup' if len(loss_modules) == 1 else f'loss_sup_{module.loss_name[5:]}'
            loss = module(logits, labels, weight=weight, ignore_index=head.ignore_index)
            losses[key] = losses[key] + loss if key in losses else loss
        counted = labels != head.ignore_index
        losses['sup_acc_seg'] = 100 * _accuracy(logits.argmax(1), labels, counted).detach()
        if self.student.with_auxiliary_head:
            aux = self.student._auxiliary_head_forward_train(sup_feats, samples)
            losses.update({k.replace('aux.', 'sup_aux_'): v for k, v in aux.items()})
        return losses

    def _pseudo_label_stats(
        self, stats: Dict[str, Tensor], probs: Tensor, valid: Tensor, samples: SampleList
    ) -> Dict[str, Tensor]:
        """Pseudo-label statistics for the log; detached tensors, no host synchronisation."""
        out = {f'pl_{k}': v.detach().float() for k, v in stats.items()}
        if all('gt_sem_seg' in s for s in samples):
            gt = torch.cat([s.gt_sem_seg.data for s in samples])  # (B_u, H, W)
            out['pl_acc'] = _accuracy(probs.argmax(1), gt, valid & (gt != 255))
        return out


def _accuracy(pred: Tensor, labels: Tensor, counted: Tensor) -> Tensor:
    """Share of the ``counted`` pixels where ``pred == labels`` (0 if none is counted), computed
    on the device: no boolean indexing, no ``.item()``."""
    correct = (pred == labels) & counted
    return correct.sum() / counted.sum().clamp(min=1)


@contextmanager
def _capture_input(module: nn.Module):
    """Collect the input of ``module`` (the decode head's classifier) during a forward."""
    captured: List[Tensor] = []
    handle = module.register_forward_pre_hook(lambda _, args: captured.append(args[0]))
    try:
        yield captured
    finally:
        handle.remove()
