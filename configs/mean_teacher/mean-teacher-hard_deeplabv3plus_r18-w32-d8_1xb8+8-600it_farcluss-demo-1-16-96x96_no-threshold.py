# The plain mean teacher: hard labels on every valid pixel (no confidence threshold). The
# "reference" step of tools/analysis_tools/benchmark_step.py.
_base_ = ['./mean-teacher-hard_deeplabv3plus_r18-w32-d8_1xb8+8-600it_farcluss-demo-1-16-96x96.py']
model = dict(semi_train_cfg=dict(confidence_threshold=None))
