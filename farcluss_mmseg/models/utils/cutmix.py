"""Batch-level CutMix on the device (docs/method.md, "CutMix").

Each strong view gets, per image and with probability ``prob``, one box whose pixels come from a
partner image of the same batch. The teacher's probabilities and the validity mask are mixed with
the same box, so the student's targets stay aligned with its input. The box follows UniMatch's
``obtain_cutmix_box``: area share ``~ U(area)``, aspect ratio ``~ U(aspect)``, integer sides
truncated; here a box that is too large is clipped to the image instead of being redrawn, and its
position is uniform among the positions where it fits.
"""

from typing import Optional, Tuple

import torch
from torch import Tensor

__all__ = ['cutmix_masks', 'cutmix']


def cutmix_masks(
    batch_size: int,
    height: int,
    width: int,
    prob: float = 0.5,
    area: Tuple[float, float] = (0.02, 0.4),
    aspect: Tuple[float, float] = (0.3, 1 / 0.3),
    generator: Optional[torch.Generator] = None,
    device: Optional[torch.device] = None,
) -> Tensor:
    """Draws one CutMix box (or none) per sample.

    The random numbers are drawn on the CPU (from ``generator``, else torch's global RNG) as an
    (N, 5) tensor, the box corners are moved to ``device`` without waiting for it, and the masks
    are built there by broadcasting comparisons: no host-device synchronisation.

    Args:
        batch_size (int): N.
        height (int): H.
        width (int): W.
        prob (float): Probability that a sample gets a box. Defaults to 0.5.
        area (tuple[float, float]): Range of the box area as a share of H * W.
            Defaults to (0.02, 0.4).
        aspect (tuple[float, float]): Range of the box's width / height. Defaults to
            (0.3, 1 / 0.3).
        generator (torch.Generator, optional): CPU generator. Defaults to None.
        device (torch.device, optional): Device of the masks. Defaults to None (CPU).

    Returns:
        Tensor: (N, H, W) bool, True where the pixel comes from the partner image.
    """
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f'cutmix_masks: prob must be in [0, 1], got {prob}')
    if not 0.0 < area[0] <= area[1] <= 1.0:
        raise ValueError(f'cutmix_masks: area must satisfy 0 < min <= max <= 1, got {area}')
    if not 0.0 < aspect[0] <= aspect[1]:
        raise ValueError(f'cutmix_masks: aspect must satisfy 0 < min <= max, got {aspect}')
    u = torch.rand(batch_size, 5, generator=generator, dtype=torch.float64)
    box_area = (area[0] + (area[1] - area[0]) * u[:, 1]) * height * width
    ratio = aspect[0] + (aspect[1] - aspect[0]) * u[:, 2]  # width / height
    box_h = (box_area / ratio).sqrt().floor().clamp(1, height)
    box_w = (box_area * ratio).sqrt().floor().clamp(1, width)
    box_h = box_h * (u[:, 0] < prob)  # no box: zero rows
    top = (u[:, 3] * (height - box_h + 1)).floor().clamp(max=height - box_h)
    left = (u[:, 4] * (width - box_w + 1)).floor().clamp(max=width - box_w)
    corners = torch.stack([top, top + box_h, left, left + box_w], 1).long()
    y0, y1, x0, x1 = corners.to(device, non_blocking=True).unbind(1)
    rows = torch.arange(height, device=device)
    cols = torch.arange(width, device=device)
    in_rows = (rows >= y0[:, None]) & (rows < y1[:, None])  # (N, H)
    in_cols = (cols >= x0[:, None]) & (cols < x1[:, None])  # (N, W)
    return in_rows[:, :, None] & in_cols[:, None, :]


def cutmix(mask: Tensor, partner: Tensor, *tensors: Tensor) -> Tuple[Tensor, ...]:
    """Mixes each tensor with its partner sample inside the mask.

    Args:
        mask (Tensor): (N, H, W) bool, from :func:`cutmix_masks`.
        partner (Tensor): (N,) int64, ``partner[i]`` is the sample whose pixels fill sample
            ``i``'s box, e.g. ``torch.roll(torch.arange(N), 1)``.
        *tensors (Tensor): Tensors of shape (N, ..., H, W) on the mask's device: images,
            probabilities, masks, labels.

    Returns:
        tuple[Tensor]: ``where(mask, tensor[partner], tensor)`` for each tensor, in order.
    """
    if mask.dtype != torch.bool or mask.dim() != 3:
        raise ValueError(
            f'cutmix: mask must be a bool (N, H, W) tensor, got {mask.dtype} {tuple(mask.shape)}'
        )
    num, height, width = mask.shape
    if partner.shape != (num,):
        raise ValueError(f'cutmix: partner must have shape ({num},), got {tuple(partner.shape)}')
    mixed = []
    for i, tensor in enumerate(tensors):
        if tensor.dim() < 3 or tensor.shape[0] != num or tensor.shape[-2:] != (height, width):
            raise ValueError(
                f'cutmix: tensor {i} has shape {tuple(tensor.shape)}, expected '
                f'({num}, ..., {height}, {width}) like the mask'
            )
        box = mask.view(num, *([1] * (tensor.dim() - 3)), height, width)
        mixed.append(torch.where(box, tensor.index_select(0, partner), tensor))
    return tuple(mixed)
