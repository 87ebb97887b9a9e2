"""The training step shared by the semi-supervised segmentors (a template method).

:meth:`SemiSegmentor.loss` runs the steps every method here has in common; a method overrides
the few marked *method step*::

    1. draw the CutMix boxes of the strong views and mix the images          (base)
    2. the student's pass over labeled images and strong views               student_forward
    3. pseudo-labels of the weak views                                       predict_pseudo_labels
    4. the pseudo-labels of each strong view, mixed with the same boxes      (base)
    5. supervised loss L_s (eq. 12) on the labeled images                    (base)
    6. unsupervised losses from the student's outputs and the pseudo-labels  unsup_losses
    7. pseudo-label statistics for the log                                   (base)

During the first ``burn_in_iters`` iterations only step 5 runs (on the labeled images alone).
"""

import copy
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.logging import MessageHub
from mmseg.models.segmentors import BaseSegmentor
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, OptSampleList, SampleList
from torch import Tensor, nn

from ..utils import PseudoLabels, cutmix, cutmix_masks
from ..utils.mmseg_adapter import auxiliary_losses, decode_with_features, stack_labels

SEMI_TEST_CFG_KEYS = ('predict_on',)


@dataclass
class StudentOutputs:
    """What the student's training pass produced.

    Attributes:
        sup_logits (Tensor): Decode-head logits of the labeled images, (B_l, C, h, w).
        sup_feats (list[Tensor]): The labeled images' encoder features (for auxiliary heads).
        view_logits (Tensor): Logits of the strong views, (V * B_u, C, h, w), view-major.
        view_features (Tensor, optional): The decode head's last feature map (its classifier's
            input) of the strong views, when the method asked for it.
        extra (dict): Method-specific outputs (e.g. UniMatch's feature-perturbed logits).
    """

    sup_logits: Tensor
    sup_feats: List[Tensor]
    view_logits: Tensor
    view_features: Optional[Tensor] = None
    extra: Optional[Dict[str, Tensor]] = None


class SemiSegmentor(BaseSegmentor):
    """A semi-supervised segmentor around one mmseg segmentor (the *student*).

    Training batches come from :class:`SemiSegDataPreProcessor`: ``inputs`` holds the labeled
    images (``sup``), the weak view of each unlabeled image (``weak``) and its strong views
    (``strong``, (V, B_u, 3, H, W)). Inference (``predict``, ``tensor``) runs the model named
    by :attr:`predictor`, so mmseg's ``tools/test.py``, ``init_model``/``inference_model`` and
    ``MMSegInferencer`` work on the checkpoint as on a plain segmentor. A plain segmentor
    checkpoint (keys without a ``student.`` prefix) fills every copy of the segmentor.

    Args:
        segmentor (dict): Config of the segmentor, e.g. an ``EncoderDecoder``.
        data_preprocessor (dict, optional): A ``SemiSegDataPreProcessor`` config, or a plain
            preprocessor config that gets wrapped in one. Defaults to
            ``segmentor.data_preprocessor``, wrapped.
        semi_train_cfg (dict, optional): Training options; see ``semi_train_defaults`` of the
            class. Unknown keys are an error.
        semi_test_cfg (dict, optional): ``predict_on`` where the class has a teacher.
        init_cfg (dict, optional): Initialisation config.
        pretrained, train_cfg: Accepted only as ``None`` (``mmseg.apis.init_model`` writes
            ``train_cfg=None`` into any model config); set them in ``segmentor`` instead.
    """

    #: Defaults of ``semi_train_cfg``: the keys a config may set.
    semi_train_defaults: Dict = dict(
        burn_in_iters=0,  # supervised-only iterations before the unsupervised losses start
        cutmix_prob=0.5,  # per strong view and image
        cutmix_area=(0.02, 0.4),  # box area as a share of the crop
        rare_class=None,  # class index whose pseudo-label precision/recall is logged
    )
    #: The unsupervised loss keys; logged as 0 during the burn-in.
    unsup_loss_names: Tuple[str, ...] = ()

    def __init__(
        self,
        segmentor: ConfigType,
        data_preprocessor: OptConfigType = None,
        semi_train_cfg: OptConfigType = None,
        semi_test_cfg: OptConfigType = None,
        init_cfg: OptConfigType = None,
        pretrained: Optional[str] = None,
        train_cfg: OptConfigType = None,
    ) -> None:
        for key, value in (('pretrained', pretrained), ('train_cfg', train_cfg)):
            if value is not None:
                raise ValueError(
                    f'model.{key} is not used by {type(self).__name__}: '
                    f'set model.segmentor.{key} instead.'
                )
        if data_preprocessor is None:
            data_preprocessor = segmentor['data_preprocessor']
        if data_preprocessor['type'] != 'SemiSegDataPreProcessor':
            # mmengine's Runner copies a config's top-level `data_preprocessor` (mmseg's model
            # bases define one) into the model: wrap such a plain preprocessor.
            data_preprocessor = dict(
                type='SemiSegDataPreProcessor', data_preprocessor=data_preprocessor
            )
        super().__init__(data_preprocessor=MODELS.build(data_preprocessor), init_cfg=init_cfg)
        self.semi_train_cfg = _with_defaults(
            'model.semi_train_cfg', semi_train_cfg, self.semi_train_defaults
        )
        self.semi_test_cfg = _with_defaults(
            'model.semi_test_cfg', semi_test_cfg, self.semi_test_defaults()
        )
        burn_in = self.semi_train_cfg['burn_in_iters']
        if isinstance(burn_in, bool) or not isinstance(burn_in, int) or burn_in < 0:
            raise ValueError(
                f'model.semi_train_cfg.burn_in_iters must be an int >= 0, got {burn_in!r}'
            )
        self.student = MODELS.build(copy.deepcopy(segmentor))

    @staticmethod
    def semi_test_defaults() -> Dict:
        """Defaults of ``semi_test_cfg``."""
        return {}

    @property
    def burn_in_iters(self) -> int:
        """int: Supervised-only iterations at the start of training."""
        return self.semi_train_cfg['burn_in_iters']

    @property
    def predictor(self) -> BaseSegmentor:
        """The segmentor used at inference."""
        return self.student

    @property
    def num_classes(self) -> int:
        return self.student.decode_head.num_classes

    @property
    def out_channels(self) -> int:
        """The predictor's output channels (mmseg's ``SegTTAModel`` reads them)."""
        return self.predictor.out_channels

    @property
    def decode_head(self):
        """The predictor's decode head (``SegTTAModel`` reads its ``threshold``)."""
        return self.predictor.decode_head

    # --- the training step ---------------------------------------------------------------
    def loss(self, inputs: Dict[str, Tensor], data_samples: Dict[str, SampleList]) -> dict:
        """Losses and pseudo-label statistics of one labeled + unlabeled batch."""
        x_sup, weak, strong = inputs['sup'], inputs['weak'], inputs['strong']
        sup_samples, unsup_samples = data_samples['sup'], data_samples['unsup']
        if _current_iter() < self.burn_in_iters:
            return self._burn_in_losses(x_sup, sup_samples)
        _check_crops(x_sup, weak)
        valid = torch.cat([s.valid_mask.data for s in unsup_samples]).bool()  # (B_u, H, W)

        # 1. CutMix: each strong view takes a box from another image of the batch.
        num_unsup = weak.shape[0]
        partner = torch.roll(torch.arange(num_unsup, device=weak.device), 1)
        boxes = [self._cutmix_box(weak) for _ in range(strong.shape[0])]
        views = [cutmix(box, partner, view)[0] for box, view in zip(boxes, strong)]

        out = self.student_forward(x_sup, weak, views)  # 2.
        pseudo = self.predict_pseudo_labels(weak, valid, out)  # 3.
        view_pseudo = PseudoLabels.cat([pseudo.mixed(box, partner) for box in boxes])  # 4.

        losses = self.sup_losses(out.sup_logits, out.sup_feats, sup_samples)  # 5.
        losses.update(self.unsup_losses(out, pseudo, view_pseudo))  # 6.
        losses.update(self._pseudo_label_stats(pseudo, unsup_samples))  # 7.
        return losses

    # --- method steps --------------------------------------------------------------------
    def student_forward(self, x_sup: Tensor, weak: Tensor, views: List[Tensor]) -> StudentOutputs:
        """*Method step.* One student pass over the labeled images and the strong views.

        The encoder features go through :meth:`perturb_features` before the decode head.

        Args:
            x_sup (Tensor): Labeled images, (B_l, 3, H, W).
            weak (Tensor): Weak views, (B_u, 3, H, W) (not used here).
            views (list[Tensor]): The mixed strong views, each (B_u, 3, H, W).

        Returns:
            StudentOutputs: Logits of both parts, the decode head's features of the views.
        """
        num_sup = x_sup.shape[0]
        feats = self.student.extract_feat(torch.cat([x_sup, *views]))
        sup_feats = [f[:num_sup] for f in feats]
        feats = [self.perturb_features(f, num_sup, len(views)) for f in feats]
        logits, decoder_feats = decode_with_features(self.student.decode_head, feats)
        return StudentOutputs(
            sup_logits=logits[:num_sup],
            sup_feats=sup_feats,
            view_logits=logits[num_sup:],
            view_features=decoder_feats[num_sup:],
        )

    def perturb_features(self, feat: Tensor, num_sup: int, num_views: int) -> Tensor:
        """*Method step.* Perturb one level of encoder features before the decode head: the
        ``num_sup`` labeled images, then ``num_views`` strong views of the unlabeled images,
        view-major. Identity by default."""
        return feat

    def predict_pseudo_labels(
        self, weak: Tensor, valid: Tensor, out: Optional[StudentOutputs] = None
    ) -> PseudoLabels:
        """*Method step.* Pseudo-labels of the weak views.

        Args:
            weak (Tensor): Weak views, (B_u, 3, H, W).
            valid (Tensor): (B_u, H, W) bool, False on padding.
            out (StudentOutputs, optional): The student's pass of this step, for methods that
                label with the online model.

        Returns:
            PseudoLabels: At the weak views' resolution.
        """
        raise NotImplementedError(f'{type(self).__name__} must implement predict_pseudo_labels')

    def unsup_losses(
        self, out: StudentOutputs, pseudo: PseudoLabels, view_pseudo: PseudoLabels
    ) -> Dict[str, Tensor]:
        """*Method step.* The unsupervised losses (keys starting with ``loss_``) and their
        statistics (keys starting with ``pl_``).

        Args:
            out (StudentOutputs): The student's pass.
            pseudo (PseudoLabels): Pseudo-labels of the weak views.
            view_pseudo (PseudoLabels): Pseudo-labels of the strong views (CutMix applied),
                aligned with ``out.view_logits``.
        """
        raise NotImplementedError(f'{type(self).__name__} must implement unsup_losses')

    # --- shared pieces -------------------------------------------------------------------
    def upsample(self, logits: Tensor, size: Tuple[int, int]) -> Tensor:
        """Bilinear resize of decode-head logits to ``size``, as the head does."""
        align = self.student.decode_head.align_corners
        return resize(logits, size=size, mode='bilinear', align_corners=align)

    def sup_losses(self, logits: Tensor, sup_feats: List[Tensor], samples: SampleList) -> dict:
        """Eq. 12: the decode head's ``loss_decode`` on the labeled images (ignore 255), plus
        the auxiliary heads', under mmseg's names (``decode.loss_ce``, ``decode.acc_seg``,
        ``aux.*``), so a semi-supervised run logs the keys of its supervised twin.

        This is mmseg's ``BaseDecodeHead.loss_by_feat`` except for the pixel accuracy, computed
        on the device: mmseg's ``accuracy()`` reads a count back, two host-device
        synchronisations per step.
        """
        head = self.student.decode_head
        labels = stack_labels(head, samples)  # (B_l, 1, H, W)
        logits = self.upsample(logits, labels.shape[2:])
        weight = head.sampler.sample(logits, labels) if head.sampler is not None else None
        labels = labels.squeeze(1)
        modules = (
            head.loss_decode if isinstance(head.loss_decode, nn.ModuleList) else [head.loss_decode]
        )
        counted = labels != head.ignore_index
        losses = {}
        for module in modules:
            key = f'decode.{module.loss_name}'
            kwargs = {}
            if getattr(module, 'avg_non_ignore', False) and module.class_weight is None:
                # The count mmseg would read back with .item(), kept on the device.
                kwargs['avg_factor'] = counted.sum()
            loss = module(logits, labels, weight=weight, ignore_index=head.ignore_index, **kwargs)
            losses[key] = losses[key] + loss if key in losses else loss
        losses['decode.acc_seg'] = 100 * _accuracy(logits.argmax(1), labels, counted).detach()
        if self.student.with_auxiliary_head:
            losses.update(auxiliary_losses(self.student, sup_feats, samples))
        return losses

    @staticmethod
    def log_stats(stats: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """A loss's statistics as log items: ``pl_`` prefix, detached, ratios in %."""
        out = {f'pl_{k}': v.detach().float() for k, v in stats.items()}
        if 'pl_used_ratio' in out:
            out['pl_used_ratio'] = 100 * out['pl_used_ratio']
        return out

    def _burn_in_losses(self, x_sup: Tensor, samples: SampleList) -> dict:
        """Plain supervised training, alike for every method (no method's L_s weighting), so
        runs of different methods with one seed leave the burn-in with the same model."""
        feats = self.student.extract_feat(x_sup)
        logits = self.student.decode_head.forward(feats)
        losses = SemiSegmentor.sup_losses(self, logits, feats, samples)
        zero = logits.new_zeros(())
        losses.update({name: zero for name in self.unsup_loss_names})
        return losses

    def _cutmix_box(self, weak: Tensor) -> Tensor:
        cfg = self.semi_train_cfg
        return cutmix_masks(
            weak.shape[0],
            *weak.shape[-2:],
            prob=cfg['cutmix_prob'],
            area=cfg['cutmix_area'],
            device=weak.device,
        )

    def _pseudo_label_stats(self, pseudo: PseudoLabels, samples: SampleList) -> Dict[str, Tensor]:
        """Accuracy of the weak views' pseudo-labels against the unlabeled images' labels,
        where the dataset keeps them (monitoring only), in %; detached, no host sync."""
        if not all('gt_sem_seg' in s for s in samples):
            return {}
        gt = torch.cat([s.gt_sem_seg.data for s in samples])  # (B_u, H, W)
        known = pseudo.valid & (gt != 255)
        correct = pseudo.labels == gt
        stats = {
            'pl_acc': _ratio(correct & known, known),
            'pl_used_acc': _ratio(correct & known & pseudo.used, known & pseudo.used),
        }
        rare = self.semi_train_cfg['rare_class']
        if rare is not None:
            labeled_rare = known & pseudo.used & (pseudo.labels == rare)
            is_rare = known & (gt == rare)
            stats['pl_rare_precision'] = _ratio(labeled_rare & correct, labeled_rare)
            stats['pl_rare_recall'] = _ratio(labeled_rare & correct, is_rare)
        return {k: (100 * v).detach() for k, v in stats.items()}

    # --- inference: delegated to the predictor -------------------------------------------
    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        """Fill every copy of the segmentor from a plain segmentor checkpoint."""
        names = [k[len(prefix) :] for k in state_dict if k.startswith(prefix)]
        copies = [n for n, m in self.named_children() if type(m) is type(self.student)]
        plain = [n for n in names if n.split('.', 1)[0] not in copies]
        own = {n.split('.', 1)[0] for n, _ in self.student.named_children()}
        if plain and not any(n.startswith('student.') for n in names):
            for name in plain:
                if name.split('.', 1)[0] in own:
                    value = state_dict.pop(prefix + name)
                    for copy_name in copies:
                        state_dict[f'{prefix}{copy_name}.{name}'] = value
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extract_feat(self, inputs: Tensor):
        return self.predictor.extract_feat(inputs)

    def encode_decode(self, inputs: Tensor, batch_data_samples: SampleList) -> Tensor:
        return self.predictor.encode_decode(inputs, batch_data_samples)

    def predict(self, inputs: Tensor, data_samples: OptSampleList = None) -> SampleList:
        return self.predictor.predict(inputs, data_samples)

    def _forward(self, inputs: Tensor, data_samples: OptSampleList = None):
        return self.predictor._forward(inputs, data_samples)


def _with_defaults(key: str, cfg: OptConfigType, defaults: Dict) -> Dict:
    cfg = dict(cfg or {})
    unknown = set(cfg) - set(defaults)
    if unknown:
        raise KeyError(f'unknown key(s) {sorted(unknown)} in {key}; allowed: {sorted(defaults)}')
    return {**defaults, **cfg}


def _current_iter() -> int:
    """The runner's iteration (0 outside a runner, e.g. in a benchmark)."""
    return MessageHub.get_current_instance().get_info('iter', 0)


def _check_crops(x_sup: Tensor, weak: Tensor) -> None:
    if x_sup.shape[-2:] != weak.shape[-2:]:
        raise ValueError(
            f'labeled crops {tuple(x_sup.shape[-2:])} and unlabeled crops '
            f'{tuple(weak.shape[-2:])} differ: the labeled images are padded to '
            'data_preprocessor.size and the unlabeled views to PackSemiInputs.size; make '
            "both equal the pipelines' crop_size."
        )


def _ratio(hit: Tensor, counted: Tensor) -> Tensor:
    return hit.sum() / counted.sum().clamp(min=1)


def _accuracy(pred: Tensor, labels: Tensor, counted: Tensor) -> Tensor:
    """Share of the ``counted`` pixels where ``pred == labels`` (0 if none is counted), on the
    device: no boolean indexing, no ``.item()``."""
    return _ratio((pred == labels) & counted, counted)
