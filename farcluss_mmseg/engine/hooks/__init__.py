from .config_check_hook import ConfigCheckHook
from .finite_loss_hook import FiniteLossHook
from .mean_teacher_hook import MeanTeacherHook
from .num_classes_check_hook import NumClassesCheckHook
from .pseudo_label_vis_hook import PseudoLabelVisHook
from .random_state_hook import RandomStateHook
from .safe_checkpoint_hook import SafeCheckpointHook

__all__ = [
    'ConfigCheckHook',
    'FiniteLossHook',
    'MeanTeacherHook',
    'NumClassesCheckHook',
    'PseudoLabelVisHook',
    'RandomStateHook',
    'SafeCheckpointHook',
]
