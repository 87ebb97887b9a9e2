"""Running mmengine's torch.distributed launcher on CPU processes (gloo)."""

import torch
from mmengine.config import Config


def setup_cpu_distributed(cfg: Config) -> None:
    """Let ``--launcher pytorch`` work without CUDA, e.g. 2 CPU processes on a laptop or CI.

    mmengine's launcher assumes one GPU per process (nccl, ``torch.cuda.set_device`` and DDP with
    ``device_ids``). Without CUDA this initialises the process group with gloo itself (mmengine
    then skips its own initialisation) and wraps the model in DDP without device ids (the
    config's ``model_wrapper_cfg``, if any, otherwise mmengine's default wrapper).
    Call it only when ``torch.cuda.is_available()`` is False and a launcher is used.
    """
    cfg.env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            broadcast_buffers=False,  # mmengine's default
            find_unused_parameters=cfg.get('find_unused_parameters', False),
        )
    cfg.model_wrapper_cfg.device_ids = None
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend='gloo')
