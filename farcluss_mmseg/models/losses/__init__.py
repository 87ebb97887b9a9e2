from .fuzzy_pseudo_label_loss import (
    FuzzyPseudoLabelLoss,
    PseudoLabelLoss,
    class_pixel_counts,
    class_rebalance_weights,
    fuzzy_pseudo_labels,
    normalized_entropy,
)
from .hard_pseudo_label_loss import HardPseudoLabelLoss
from .prototype_contrastive_loss import PrototypeContrastiveLoss

__all__ = [
    'FuzzyPseudoLabelLoss',
    'HardPseudoLabelLoss',
    'PseudoLabelLoss',
    'PrototypeContrastiveLoss',
    'class_pixel_counts',
    'class_rebalance_weights',
    'fuzzy_pseudo_labels',
    'normalized_entropy',
]
