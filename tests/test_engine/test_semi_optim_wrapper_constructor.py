"""The optimizer of a mean teacher holds the student (and projector), never the teacher, and
says nothing about the teacher's frozen parameters."""

import logging

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

SCHEDULE = 'configs/_base_/schedules/farcluss_sgd-poly.py'
FARCLUSS = (
    'configs/farcluss/farcluss_deeplabv3plus_r18-w32-d8_1xb8+8-600it_farcluss-demo-1-16-96x96.py'
)


def test_teacher_left_out_quietly():
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(FARCLUSS).model)
    wrapper_cfg = Config.fromfile(SCHEDULE).optim_wrapper  # with a paramwise_cfg
    assert wrapper_cfg.constructor == 'SemiOptimWrapperConstructor'
    records = []  # what mmengine's print_log sends to the current logger
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        wrapper = build_optim_wrapper(model, wrapper_cfg)
    finally:
        logger.removeHandler(handler)
    assert not [r for r in records if 'teacher.' in r.getMessage()]
    # mmengine's own constructor logs one line per frozen teacher parameter.
    records.clear()
    logger.addHandler(handler)
    try:
        build_optim_wrapper(model, dict(wrapper_cfg, constructor='DefaultOptimWrapperConstructor'))
    finally:
        logger.removeHandler(handler)
    skipped = [r for r in records if 'teacher.' in r.getMessage()]
    assert len(skipped) == sum(1 for _ in model.teacher.parameters())
    in_optimizer = {id(p) for g in wrapper.optimizer.param_groups for p in g['params']}
    trainable = [p for n, p in model.named_parameters() if not n.startswith('teacher.')]
    assert in_optimizer == {id(p) for p in trainable}
    assert len(in_optimizer) == sum(1 for _ in model.student.parameters()) + sum(
        1 for _ in model.projector.parameters()
    )
    # decode head at 10x lr, as mmengine's constructor does it
    head = {id(p) for p in model.student.decode_head.parameters()}
    lrs = {g['lr'] for g in wrapper.optimizer.param_groups if id(g['params'][0]) in head}
    assert lrs == {0.01}
