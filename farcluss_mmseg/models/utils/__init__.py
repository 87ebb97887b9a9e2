from .cutmix import cutmix, cutmix_masks
from .projection_head import ProjectionHead
from .pseudo_labels import PseudoLabels

__all__ = ['cutmix', 'cutmix_masks', 'ProjectionHead', 'PseudoLabels']
