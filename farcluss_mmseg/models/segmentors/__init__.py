from .farcluss import FARCLUSS
from .mean_teacher import MeanTeacherSegmentor

__all__ = ['MeanTeacherSegmentor', 'FARCLUSS']
