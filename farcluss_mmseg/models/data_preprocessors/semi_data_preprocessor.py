from typing import Dict, List

import torch
from mmengine.model import BaseDataPreprocessor
from mmseg.registry import MODELS
from mmseg.utils import ConfigType
from torch import Tensor


@MODELS.register_module()
class SemiSegDataPreProcessor(BaseDataPreprocessor):
    """Splits a mixed labeled/unlabeled batch and normalises each part.

    A training batch holds labeled samples packed by mmseg's ``PackSegInputs`` (``inputs`` is an
    image tensor) and unlabeled samples packed by :class:`PackSemiInputs` (``inputs`` is a dict
    with the weak view and the stacked strong views). Labeled samples go through the wrapped
    ``SegDataPreProcessor`` unchanged. Unlabeled views are already padded to one size, so they are
    normalised as one batch on the device.

    Outside training (validation, test, inference) the batch is handed to the wrapped
    preprocessor as it is, so mmseg's tools and APIs see the usual behaviour. A training batch
    without labeled or without unlabeled samples is a configuration error.

    Args:
        data_preprocessor (dict): Config of the wrapped preprocessor, usually
            ``SegDataPreProcessor`` with mean, std, ``bgr_to_rgb`` and the crop ``size``.

    Returns (training):
        dict: ``inputs`` = ``{'sup': (B_l, 3, H, W), 'weak': (B_u, 3, H, W),
        'strong': (V, B_u, 3, H, W)}`` and ``data_samples`` = ``{'sup': [...], 'unsup': [...]}``.
    """

    def __init__(self, data_preprocessor: ConfigType) -> None:
        super().__init__()
        self.data_preprocessor = MODELS.build(data_preprocessor)

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs = data['inputs']
        if not training:
            return self.data_preprocessor(data, training)
        samples = data['data_samples']
        sup = [i for i, x in enumerate(inputs) if not isinstance(x, dict)]
        unsup = [i for i, x in enumerate(inputs) if isinstance(x, dict)]
        if not sup or not unsup:
            raise ValueError(
                f'a training batch holds {len(sup)} labeled and {len(unsup)} unlabeled samples; '
                'every batch needs both: use train_dataloader.sampler='
                "dict(type='MultiSourceSampler', batch_size=<train_dataloader.batch_size>, "
                'source_ratio=[labeled, unlabeled]) '
                'over a ConcatDataset([labeled, unlabeled]).'
            )
        labeled = self.data_preprocessor(
            dict(inputs=[inputs[i] for i in sup], data_samples=[samples[i] for i in sup]), True
        )
        out_inputs: Dict[str, Tensor] = {'sup': labeled['inputs']}
        out_samples: Dict[str, List] = {'sup': labeled['data_samples'], 'unsup': []}
        weak = torch.stack([inputs[i]['weak'] for i in unsup])
        strong = torch.stack([inputs[i]['strong'] for i in unsup], dim=1)  # (V, B_u, 3, H, W)
        out_inputs['weak'] = self.normalize(weak)
        out_inputs['strong'] = self.normalize(strong)
        out_samples['unsup'] = [samples[i].to(self.device) for i in unsup]
        return dict(inputs=out_inputs, data_samples=out_samples)

    def normalize(self, images: Tensor) -> Tensor:
        """BGR->RGB, float and mean/std normalisation of a uint8 batch, as the wrapped one does.

        Args:
            images (Tensor): uint8 (..., 3, H, W) BGR images, as the packers store them.

        Returns:
            Tensor: float (..., 3, H, W) on this preprocessor's device.
        """
        pre = self.data_preprocessor
        images = images.to(self.device, non_blocking=True)
        if pre.channel_conversion:
            images = images.flip(-3)
        images = images.float()
        if pre._enable_normalize:
            images = (images - pre.mean) / pre.std
        return images
