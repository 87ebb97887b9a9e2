# mmseg's runtime with the plugin loaded and its safety hooks on.
_base_ = ['mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['farcluss_mmseg'], allow_failed_imports=False)
custom_hooks = [
    dict(type='FiniteLossHook'),  # stop with the loss name and iteration on NaN/inf
    dict(type='NumClassesCheckHook'),  # model num_classes must match the dataset's classes
    dict(type='RandomStateHook'),  # --resume continues with the same random draws
    # before training: pretrained files reachable, batch and crop sizes consistent
    dict(type='ConfigCheckHook'),
]
# DDP broadcasts rank 0's buffers (BN running statistics of student and teacher) to every rank
# before each forward: torch's default, which mmengine's default wrapper turns off. Without it
# each rank's statistics follow its own batches while only rank 0's are saved, so a resumed run
# differs from an uninterrupted one. Chosen over SyncBN: each rank's batch is normalised as in a
# one-GPU run, there is no all-reduce per BN layer (one small broadcast a step), and torch's
# SyncBN does not run on CPU processes.
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=False)
