from .formatting import *  # noqa: F401,F403
from .loading import *  # noqa: F401,F403
from .strong_views import *  # noqa: F401,F403
