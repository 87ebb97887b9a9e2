from .mean_teacher_hook import MeanTeacherHook

__all__ = ['MeanTeacherHook']
