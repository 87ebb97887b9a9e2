from .launcher import setup_cpu_distributed
from .splits import check_overlap, check_split_files, read_stem_list, write_stem_list

__all__ = [
    'setup_cpu_distributed',
    'check_overlap',
    'check_split_files',
    'read_stem_list',
    'write_stem_list',
]
