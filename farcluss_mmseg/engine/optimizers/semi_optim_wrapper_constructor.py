"""mmengine's optimizer wrapper constructor, without the EMA teacher."""

from typing import List, Optional

from mmengine.optim import DefaultOptimWrapperConstructor
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS
from torch import nn


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class SemiOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``DefaultOptimWrapperConstructor`` that leaves a top-level ``teacher`` out of the
    parameter groups.

    The teacher of a mean-teacher model is frozen and updated by ``MeanTeacherHook``, never by
    the optimizer. With a ``paramwise_cfg`` mmengine's constructor logs one "is skipped since
    its requires_grad=False" line per teacher parameter (hundreds at every start); here the
    teacher is left out without a line. Any other model is handled exactly as mmengine does.
    """

    def add_params(
        self,
        params: List[dict],
        module: nn.Module,
        prefix: str = '',
        is_dcn_module: Optional[int] = None,
    ) -> None:
        if prefix == 'teacher':
            return
        super().add_params(params, module, prefix=prefix, is_dcn_module=is_dcn_module)
