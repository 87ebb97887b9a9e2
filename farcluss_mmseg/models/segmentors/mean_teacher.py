"""The mean teacher: a student and its EMA copy, which labels the weak views."""

import copy
from typing import Dict, Optional

import torch
from mmseg.models.segmentors import BaseSegmentor
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, SampleList
from torch import Tensor

from ..utils import PseudoLabels
from .semi_base import SemiSegmentor, StudentOutputs


class MeanTeacherSegmentor(SemiSegmentor):
    """A student and an EMA teacher built from one mmseg segmentor config.

    The teacher starts as a copy of the student, never receives gradients and stays in eval mode
    whatever the training loop does (mmengine calls ``model.train()`` at every epoch). Its
    weights are updated by :class:`MeanTeacherHook` after every optimizer step (paper eq. 1);
    training without that hook is an error unless ``semi_train_cfg.freeze_teacher=True``. The
    teacher labels the weak views (:meth:`predict_pseudo_labels`); a method turns its
    probabilities into :class:`PseudoLabels` in :meth:`make_pseudo_labels`. Inference runs the
    model named by ``semi_test_cfg.predict_on`` (``'teacher'``, the default, or
    ``'student'``).

    Args:
        segmentor (dict): Config of the segmentor used for student and teacher.
        **kwargs: See :class:`SemiSegmentor`.
    """

    semi_train_defaults: Dict = dict(
        SemiSegmentor.semi_train_defaults,
        freeze_teacher=False,  # True: train without MeanTeacherHook on purpose
    )

    def __init__(self, segmentor: ConfigType, **kwargs) -> None:
        super().__init__(segmentor, **kwargs)
        self.teacher = MODELS.build(copy.deepcopy(segmentor))
        self.teacher.load_state_dict(self.student.state_dict())
        self.teacher.requires_grad_(False)
        self.teacher.eval()
        self.predict_on = self.semi_test_cfg['predict_on']
        if self.predict_on not in ('teacher', 'student'):
            raise ValueError(
                "model.semi_test_cfg.predict_on must be 'teacher' or 'student', "
                f'got {self.predict_on!r}'
            )
        #: Set by the hook that updates the teacher (MeanTeacherHook.before_train).
        self.teacher_updater: Optional[str] = None

    @staticmethod
    def semi_test_defaults() -> Dict:
        return dict(predict_on='teacher')

    @property
    def predictor(self) -> BaseSegmentor:
        return getattr(self, self.predict_on)

    def init_weights(self) -> None:
        """Initialise the student, then make the teacher its exact copy."""
        super().init_weights()
        self.teacher.load_state_dict(self.student.state_dict())

    def train(self, mode: bool = True) -> 'MeanTeacherSegmentor':
        """Set the student's mode; the teacher always stays in eval mode."""
        super().train(mode)
        self.teacher.eval()
        return self

    def loss(self, inputs: Dict[str, Tensor], data_samples: Dict[str, SampleList]) -> dict:
        if self.teacher_updater is None and not self.semi_train_cfg['freeze_teacher']:
            raise RuntimeError(
                f'{type(self).__name__}: nothing updates model.teacher, so it would stay at its '
                "initial weights: custom_hooks has no dict(type='MeanTeacherHook'). Keep the "
                "runtime's hooks when overriding custom_hooks (custom_hooks = "
                '[*_base_.custom_hooks, ...]), or set model.semi_train_cfg.freeze_teacher=True '
                'to train with a fixed teacher on purpose.'
            )
        return super().loss(inputs, data_samples)

    def predict_pseudo_labels(
        self, weak: Tensor, valid: Tensor, out: Optional[StudentOutputs] = None
    ) -> PseudoLabels:
        """The teacher's probabilities on the weak views, made into pseudo-labels."""
        with torch.no_grad():
            feats = self.teacher.extract_feat(weak)
            logits = self.upsample(self.teacher.decode_head.forward(feats), weak.shape[-2:])
            return self.make_pseudo_labels(logits.softmax(dim=1), valid)

    def make_pseudo_labels(self, probs: Tensor, valid: Tensor) -> PseudoLabels:
        """*Method step.* Pseudo-labels from the teacher's probabilities.

        Args:
            probs (Tensor): (B_u, C, H, W) teacher probabilities on the weak views.
            valid (Tensor): (B_u, H, W) bool, False on padding.
        """
        raise NotImplementedError(f'{type(self).__name__} must implement make_pseudo_labels')
