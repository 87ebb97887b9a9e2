from .cutmix import cutmix, cutmix_masks

__all__ = ['cutmix', 'cutmix_masks']
