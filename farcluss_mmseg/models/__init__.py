from . import data_preprocessors, losses, segmentors, utils  # noqa: F401
