import copy
from typing import Dict, Optional

from mmseg.models.segmentors import BaseSegmentor
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, OptSampleList, SampleList
from torch import Tensor

SEMI_TEST_CFG_KEYS = ('predict_on',)


@MODELS.register_module()
class MeanTeacherSegmentor(BaseSegmentor):
    """A student and an EMA teacher built from one mmseg segmentor config.

    The teacher starts as a copy of the student, never receives gradients and stays in eval mode
    whatever the training loop does (mmengine calls ``model.train()`` at every epoch). Its
    weights are updated by :class:`MeanTeacherHook` after every optimizer step. Inference modes
    (``predict``, ``tensor``) run the model chosen by ``semi_test_cfg.predict_on``, so mmseg's
    ``tools/test.py``, ``init_model``/``inference_model`` and ``MMSegInferencer`` work on the
    checkpoint as they do on a plain segmentor. Loading a plain segmentor checkpoint (keys without
    ``student.``/``teacher.``) fills both.

    Subclasses implement :meth:`loss` for a semi-supervised batch as produced by
    :class:`SemiSegDataPreProcessor`.

    Args:
        segmentor (dict): Config of the segmentor used for student and teacher, e.g. an
            ``EncoderDecoder``.
        data_preprocessor (dict, optional): A ``SemiSegDataPreProcessor`` config, or a plain
            preprocessor config that gets wrapped in one. Defaults to
            ``segmentor.data_preprocessor``, wrapped.
        semi_train_cfg (dict, optional): Training options of the subclass.
        semi_test_cfg (dict, optional): ``predict_on='teacher'`` (default) or ``'student'``.
        init_cfg (dict, optional): Initialisation config.
        pretrained, train_cfg: Accepted only as ``None``, the values ``mmseg.apis.init_model``
            writes into any model config; set them inside ``segmentor`` instead.
    """

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
        data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.student = MODELS.build(copy.deepcopy(segmentor))
        self.teacher = MODELS.build(copy.deepcopy(segmentor))
        self.teacher.load_state_dict(self.student.state_dict())
        self.teacher.requires_grad_(False)
        self.teacher.eval()
        self.semi_train_cfg = dict(semi_train_cfg or {})
        self.semi_test_cfg = dict(semi_test_cfg or {})
        unknown = set(self.semi_test_cfg) - set(SEMI_TEST_CFG_KEYS)
        if unknown:
            raise KeyError(
                f'unknown key(s) {sorted(unknown)} in model.semi_test_cfg; '
                f'allowed: {list(SEMI_TEST_CFG_KEYS)}'
            )
        self.predict_on = self.semi_test_cfg.get('predict_on', 'teacher')
        if self.predict_on not in ('teacher', 'student'):
            raise ValueError(
                "model.semi_test_cfg.predict_on must be 'teacher' or 'student', "
                f'got {self.predict_on!r}'
            )

    # --- student/teacher bookkeeping -------------------------------------------------------
    def init_weights(self) -> None:
        """Initialise the student, then make the teacher its exact copy."""
        super().init_weights()
        self.teacher.load_state_dict(self.student.state_dict())

    def train(self, mode: bool = True) -> 'MeanTeacherSegmentor':
        """Set the student's mode; the teacher always stays in eval mode."""
        super().train(mode)
        self.teacher.eval()
        return self

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        """Fill student and teacher from a plain segmentor checkpoint."""
        names = [k[len(prefix) :] for k in state_dict if k.startswith(prefix)]
        plain = [n for n in names if not n.startswith(('student.', 'teacher.'))]
        own = {n.split('.', 1)[0] for n, _ in self.student.named_children()}
        if plain and not any(n.startswith('student.') for n in names):
            for name in plain:
                if name.split('.', 1)[0] in own:
                    value = state_dict.pop(prefix + name)
                    state_dict[f'{prefix}student.{name}'] = value
                    state_dict[f'{prefix}teacher.{name}'] = value
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def predictor(self) -> BaseSegmentor:
        """The segmentor used at inference (``semi_test_cfg.predict_on``)."""
        return getattr(self, self.predict_on)

    # --- inference: delegated to the predictor ---------------------------------------------
    def extract_feat(self, inputs: Tensor):
        return self.predictor.extract_feat(inputs)

    def encode_decode(self, inputs: Tensor, batch_data_samples: SampleList) -> Tensor:
        return self.predictor.encode_decode(inputs, batch_data_samples)

    def predict(self, inputs: Tensor, data_samples: OptSampleList = None) -> SampleList:
        return self.predictor.predict(inputs, data_samples)

    def _forward(self, inputs: Tensor, data_samples: OptSampleList = None):
        return self.predictor._forward(inputs, data_samples)

    def loss(self, inputs: Dict[str, Tensor], data_samples: Dict[str, SampleList]) -> dict:
        raise NotImplementedError(f'{type(self).__name__} must implement loss()')
