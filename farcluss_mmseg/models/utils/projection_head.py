"""The light projection head of FARCLUSS's prototype contrast (eq. 9-10)."""

from typing import Optional

from mmcv.cnn import ConvModule
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType
from torch import nn


@MODELS.register_module()
class ProjectionHead(nn.Sequential):
    """1x1 conv -> norm -> ReLU -> 1x1 conv to ``embed_dim`` channels (not normalised here).

    The hidden width is that of the input, but never wider than the embedding: the head runs on
    every strong view at decoder resolution, where a hidden layer as wide as a 512-channel
    decoder costs 4x the FLOPs and activations of a 128-wide one for the same embedding size.

    Args:
        in_channels (int): Channels of the input feature map (FARCLUSS passes the decode head's
            classifier input width).
        embed_dim (int): Output channels. Defaults to 128.
        hidden_channels (int, optional): Width of the hidden layer. Defaults to
            ``min(in_channels, embed_dim)``.
        norm_cfg (dict, optional): Norm layer of the hidden layer. Defaults to BN.
    """

    def __init__(
        self,
        in_channels: int,
        embed_dim: int = 128,
        hidden_channels: Optional[int] = None,
        norm_cfg: OptConfigType = None,
    ) -> None:
        hidden = hidden_channels or min(in_channels, embed_dim)
        super().__init__(
            ConvModule(in_channels, hidden, 1, norm_cfg=norm_cfg or dict(type='BN')),
            nn.Conv2d(hidden, embed_dim, 1),
        )
