from .fuzzy_pseudo_label_loss import (
    FuzzyPseudoLabelLoss,
    class_rebalance_weights,
    fuzzy_pseudo_labels,
    normalized_entropy,
)
from .prototype_contrastive_loss import PrototypeContrastiveLoss

__all__ = [
    'FuzzyPseudoLabelLoss',
    'PrototypeContrastiveLoss',
    'class_rebalance_weights',
    'fuzzy_pseudo_labels',
    'normalized_entropy',
]
