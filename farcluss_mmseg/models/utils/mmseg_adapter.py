"""The private mmseg 1.x calls the semi-supervised segmentors need, in one place.

``EncoderDecoder.loss`` runs the labeled images through the whole network on its own; the
semi-supervised step runs labeled and unlabeled images in one pass, so it needs three steps of
it that mmseg keeps private: stacking the labels, the auxiliary heads' losses, and (for the
projection head) the decode head's features before its classifier. Every such call is here;
when mmseg makes them public or renames them, this module is the only place to change.
Checked against mmseg 1.2.2.
"""

from contextlib import contextmanager
from typing import List, Tuple

from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.segmentors import EncoderDecoder
from mmseg.utils import SampleList
from torch import Tensor, nn

__all__ = ['stack_labels', 'auxiliary_losses', 'decode_with_features', 'normalize_enabled']


def stack_labels(head: BaseDecodeHead, samples: SampleList) -> Tensor:
    """The samples' ``gt_sem_seg`` as one (N, 1, H, W) long tensor, as the head's loss uses."""
    return head._stack_batch_gt(samples)


def auxiliary_losses(segmentor: EncoderDecoder, feats: List[Tensor], samples: SampleList) -> dict:
    """The losses of the segmentor's auxiliary heads on the labeled images' features."""
    return segmentor._auxiliary_head_forward_train(feats, samples)


def decode_with_features(head: BaseDecodeHead, feats: List[Tensor]) -> Tuple[Tensor, Tensor]:
    """Run the decode head; return its logits and the input of its classifier ``conv_seg``.

    mmseg's heads build that feature map inside ``forward`` (``DepthwiseSeparableASPPHead``
    has no ``_forward_feature``), so it is read with a forward pre-hook on ``conv_seg``.
    """
    with _capture_input(head.conv_seg) as captured:
        logits = head.forward(feats)
    return logits, captured[0]


def normalize_enabled(data_preprocessor: nn.Module) -> bool:
    """Whether mmseg's ``SegDataPreProcessor`` normalises with its mean and std."""
    return data_preprocessor._enable_normalize


@contextmanager
def _capture_input(module: nn.Module):
    captured: List[Tensor] = []
    handle = module.register_forward_pre_hook(lambda _, args: captured.append(args[0]))
    try:
        yield captured
    finally:
        handle.remove()
