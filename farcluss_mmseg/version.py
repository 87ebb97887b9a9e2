__version__ = '0.2.0'


def parse_version_info(version_str: str) -> tuple:
    """``'0.2.0'`` -> ``(0, 2, 0)``; a pre-release part stays a string, e.g. ``(1, 0, '0rc1')``."""
    return tuple(int(x) if x.isdigit() else x for x in version_str.split('.'))


version_info = parse_version_info(__version__)
