from .farcluss import FARCLUSS
from .hard_label_mean_teacher import HardLabelMeanTeacher
from .mean_teacher import MeanTeacherSegmentor
from .semi_base import SemiSegmentor, StudentOutputs
from .unimatch import UniMatch

__all__ = [
    'SemiSegmentor',
    'StudentOutputs',
    'MeanTeacherSegmentor',
    'FARCLUSS',
    'HardLabelMeanTeacher',
    'UniMatch',
]
