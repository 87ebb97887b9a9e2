from . import samplers, transforms  # noqa: F401
from .base import *  # noqa: F401,F403
from .cityscapes_semi import *  # noqa: F401,F403
from .farcluss_demo import *  # noqa: F401,F403
from .voc_semi import *  # noqa: F401,F403
