# mmseg's runtime with the plugin loaded and its safety hooks on.
_base_ = ['mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['farcluss_mmseg'], allow_failed_imports=False)
custom_hooks = [
    dict(type='FiniteLossHook'),  # stop with the loss name and iteration on NaN/inf
    dict(type='NumClassesCheckHook'),  # model num_classes must match the dataset's classes
    dict(type='RandomStateHook'),  # --resume continues with the same random draws
]
