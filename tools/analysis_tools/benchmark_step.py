"""Step cost of FARCLUSS against a plain mean teacher and UniMatch V1 on the same network.

    python tools/analysis_tools/benchmark_step.py CONFIG [--device cpu|cuda] [--iters N]
        [--warmup W] [--amp] [--batch L U] [--crop H W] [--preset r101-513] [--out JSON]
        [--smoke]

Everything runs in one process on one synthetic batch (random uint8 images and labels put through
the model's data preprocessor once, so the timings start from device tensors). A *step* is
``model.loss`` + backward + optimizer step (the config's SGD) + EMA update of the teacher
(``MeanTeacherHook``), as mmengine's train loop runs it. The three models are the registered
classes, each around the config's segmentor with the config's CutMix settings, and start from
the same weights; the burn-in is switched off, so every step is a full semi-supervised one:

- ``step_reference``: ``HardLabelMeanTeacher`` with ``confidence_threshold=None``, the plain
  mean teacher (``configs/_base_/methods/mean_teacher.py``): the same views, CutMix and network
  as FARCLUSS, hard-label cross-entropy on every valid pixel, no contrast, no feature
  perturbation.
- ``step_unimatch``: ``UniMatch`` (``configs/_base_/methods/unimatch.py``); no teacher, so no
  EMA. Its CutMix partner is another image of the same batch, so the step has no eval-mode pass
  over a second unlabeled batch, which the published UniMatch script runs: this step is
  cheaper than the published one by about that pass.
- ``step_farcluss``: the config's model as it is.
- ``losses_farcluss`` / ``losses_reference``: the unsupervised (+ contrastive) losses alone,
  forward + backward, on the inputs recorded from one step of each model.
- ``ema_foreach`` (``MeanTeacherHook``) and ``ema_loop`` (one lerp per tensor in Python).
- ``teacher_forward``: the teacher's no-grad pass on the weak views with FARCLUSS's
  pseudo-labels (``model.predict_pseudo_labels``: resize, softmax, top-K, entropy).
- ``contrast_prototype`` (FARCLUSS eq. 9-10) and ``contrast_pairwise`` (ReCo-style InfoNCE on
  sampled pixels, :func:`pairwise_contrast`) on the same recorded embeddings.

The three steps run round-robin (one of each per iteration), so that a change of machine load
hits all three alike; then each other item runs alone. Times are medians with p10/p90, from
CUDA events on a GPU and ``perf_counter`` on the CPU (where every op is synchronous). Peak
memory (GPU only) of a step is the resident state of its model and optimizer plus the peak the
step allocates on top; of other items, what they allocate on top. On every device the three
steps also report ``saved_mib``, the activations autograd holds for the backward pass
(:func:`saved_activation_bytes`, one extra call each), which gives a memory ratio on the CPU
too. On a GPU the host-device synchronisations of one step of each model are counted
(``torch.cuda.set_sync_debug_mode``). With ``--amp``, autocast runs in bf16 (fp16 with loss
scaling where the GPU lacks bf16; bf16 on the CPU) and the FARCLUSS losses are compared with
their fp32 values on the same inputs (``amp_loss_rel_error``).

``--preset r101-513`` swaps the config's segmentor for the paper's DeepLabV3+ ResNet-101 (output
stride 16, ASPP 6/12/18, 21 classes; ``configs/_base_/models/deeplabv3plus_r50-d16.py`` with
depth 101) at 513x513 and 8 + 8 images. Any config is made runnable in one process without
downloads: SyncBN becomes BN and pretrained weights are left out (random init; the cost is the
same). ``--smoke`` (for the tests): 2 + 2 images of 32x32, a tiny network, 2 warm-up and 2 timed
iterations.
"""

import argparse
import contextlib
import copy
import functools
import json
import os
import os.path as osp
import resource
import statistics
import time
import warnings
from dataclasses import fields
from types import SimpleNamespace
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.config import Config, ConfigDict
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.runner.amp import autocast
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch import Tensor, nn

from farcluss_mmseg.engine.hooks import MeanTeacherHook  # (the package applies its compat layer)
from farcluss_mmseg.engine.hooks.mean_teacher_hook import _named_tensors
from farcluss_mmseg.models.segmentors import FARCLUSS, SemiSegmentor
from farcluss_mmseg.models.utils import PseudoLabels

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
R101_BASE = 'configs/_base_/models/deeplabv3plus_r50-d16.py'
METHODS = 'configs/_base_/methods'
#: semi_train_cfg keys the reference and UniMatch take from the FARCLUSS config.
SHARED_SEMI_KEYS = ('cutmix_prob', 'cutmix_area')
NOTES = [
    'step_reference: HardLabelMeanTeacher with confidence_threshold=None (the plain mean '
    "teacher) around the config's segmentor, with its CutMix settings.",
    'step_unimatch: UniMatch mixes each strong view with another image of the same batch, so '
    'its step has no extra eval-mode pass over a second unlabeled batch (the published '
    'UniMatch script has one): it is cheaper than the published step.',
]
PRESETS = {'r101-513': dict(crop=(513, 513), batch=(8, 8))}
STEPS = ('step_reference', 'step_unimatch', 'step_farcluss')
STEP_PAIRS = (
    ('step_farcluss', 'step_reference'),
    ('step_farcluss', 'step_unimatch'),
    ('step_reference', 'step_unimatch'),
)
SMOKE = dict(warmup=2, iters=2, crop=(32, 32), batch=(2, 2), pairwise=(16, 16))
TINY_SEGMENTOR = dict(  # --smoke: ResNetV1c-18 with 8 base channels, a 16-channel ASPP head
    backbone=dict(depth=18, stem_channels=8, base_channels=8),
    decode_head=dict(
        in_channels=64, channels=16, c1_in_channels=8, c1_channels=8, dilations=(1, 2)
    ),
)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='a FARCLUSS config')
    parser.add_argument(
        '--device', choices=['cpu', 'cuda'], default=None, help='default: cuda when available'
    )
    parser.add_argument('--iters', type=int, default=10, help='timed iterations per item')
    parser.add_argument('--warmup', type=int, default=3, help='untimed iterations per item')
    parser.add_argument('--amp', action='store_true', help='bf16 autocast (fp16 on old GPUs)')
    parser.add_argument(
        '--batch',
        type=int,
        nargs=2,
        metavar=('L', 'U'),
        default=None,
        help="labeled and unlabeled images (default: the config's, or 8 8)",
    )
    parser.add_argument(
        '--crop',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        default=None,
        help="crop size (default: the data preprocessor's size)",
    )
    parser.add_argument(
        '--preset',
        choices=sorted(PRESETS),
        default=None,
        help='replace the segmentor, crop and batch (see the module doc)',
    )
    parser.add_argument(
        '--pairwise',
        type=int,
        nargs=2,
        metavar=('Q', 'N'),
        default=(256, 256),
        help='pairwise contrast: queries per class, negatives per query',
    )
    parser.add_argument('--out', help='write the results as JSON here')
    parser.add_argument('--smoke', action='store_true', help='tiny everything, for the tests')
    args = parser.parse_args(argv)
    if args.smoke:
        args.warmup, args.iters = SMOKE['warmup'], SMOKE['iters']
        args.crop, args.batch = args.crop or SMOKE['crop'], args.batch or SMOKE['batch']
        args.pairwise = SMOKE['pairwise']
    if args.iters < 1 or args.warmup < 0:
        parser.error(f'--iters must be >= 1 and --warmup >= 0, got {args.iters}, {args.warmup}')
    if args.device is None:
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: torch sees no CUDA device; use --device cpu')
    return args


# ---------------------------------------------------------------------------- configuration
def _for_one_process(node):
    """SyncBN -> BN, no pretrained weights: a config a single process runs without downloads."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == 'pretrained':
                value = None
            elif (
                key == 'init_cfg' and isinstance(value, dict) and value.get('type') == 'Pretrained'
            ):
                value = None
            elif key == 'type' and value == 'SyncBN':
                value = 'BN'
            out[key] = _for_one_process(value)
        return out
    if isinstance(node, (list, tuple)):
        return type(node)(_for_one_process(v) for v in node)
    return node


def model_config(args: argparse.Namespace) -> Tuple[ConfigDict, dict]:
    """The FARCLUSS model config to time, and the config's optimizer wrapper and EMA momentum.

    Also fills ``args.crop`` and ``args.batch`` where they were not given. The burn-in is set to
    0: outside a runner the iteration is 0, and a burn-in step would be supervised only.
    """
    cfg = Config.fromfile(args.config)
    model = cfg.model.to_dict()
    model_type = model.get('type')
    model_cls = MODELS.get(model_type) if isinstance(model_type, str) else model_type
    if not (isinstance(model_cls, type) and issubclass(model_cls, FARCLUSS)):
        raise ValueError(
            f'{args.config}: model.type={model_type!r} is not FARCLUSS; give a FARCLUSS config '
            '(configs/farcluss/...).'
        )
    if args.preset:
        base = Config.fromfile(osp.join(ROOT, R101_BASE)).model.to_dict()
        base['backbone']['depth'] = 101
        model['segmentor'] = base
        args.crop = args.crop or PRESETS[args.preset]['crop']
        args.batch = args.batch or PRESETS[args.preset]['batch']
    if args.smoke:
        seg = model['segmentor']
        seg['backbone'].update(TINY_SEGMENTOR['backbone'])
        seg['decode_head'].update(TINY_SEGMENTOR['decode_head'])
        seg['auxiliary_head'] = None
    pre = model['segmentor'].setdefault('data_preprocessor', {})
    if args.crop is None:
        if not pre.get('size'):
            raise ValueError(f'{args.config}: no data_preprocessor size; give --crop H W')
        args.crop = tuple(pre['size'])
    pre['size'] = tuple(args.crop)
    model.pop('data_preprocessor', None)  # the segmentor's, wrapped by the semi model
    model['semi_train_cfg'] = {**(model.get('semi_train_cfg') or {}), 'burn_in_iters': 0}
    if args.batch is None:
        per_source = cfg.get('train_dataloader', {}).get('batch_size', 16) // 2
        args.batch = (per_source, per_source)
    momentum = [
        h.get('momentum', 0.01)
        for h in cfg.get('custom_hooks', [])
        if h['type'] == 'MeanTeacherHook'
    ]
    extras = dict(
        optim_wrapper=cfg.optim_wrapper.to_dict(),
        momentum=momentum[0] if momentum else 0.01,
        cudnn_benchmark=cfg.get('env_cfg', {}).get('cudnn_benchmark', False),
    )
    return ConfigDict(_for_one_process(model)), extras


def method_config(model: ConfigDict, method: dict, **semi_train_cfg) -> ConfigDict:
    """``method`` (a ``configs/_base_/methods`` dict) around the FARCLUSS config's segmentor,
    with its CutMix settings, no burn-in and the ``semi_train_cfg`` values given."""
    given = model.get('semi_train_cfg') or {}
    shared = {k: given.get(k, SemiSegmentor.semi_train_defaults[k]) for k in SHARED_SEMI_KEYS}
    out = copy.deepcopy(dict(method))
    out['segmentor'] = copy.deepcopy(model['segmentor'])
    out['semi_train_cfg'] = {
        **(out.get('semi_train_cfg') or {}),
        **shared,
        'burn_in_iters': 0,
        **semi_train_cfg,
    }
    return ConfigDict(out)


def load_method(name: str) -> dict:
    """The ``method`` dict of ``configs/_base_/methods/<name>.py``."""
    return Config.fromfile(osp.join(ROOT, METHODS, f'{name}.py')).method.to_dict()


def reference_config(model: ConfigDict) -> ConfigDict:
    """The plain mean teacher: ``HardLabelMeanTeacher`` with ``confidence_threshold=None``."""
    return method_config(model, load_method('mean_teacher'), confidence_threshold=None)


def unimatch_config(model: ConfigDict) -> ConfigDict:
    """``UniMatch`` with its published (VOC) values."""
    return method_config(model, load_method('unimatch'))


# ---------------------------------------------------------------------------- data
def synthetic_batch(
    num_sup: int, num_unsup: int, crop: Tuple[int, int], num_classes: int, seed: int
) -> dict:
    """Random uint8 images as the loaders pack them: labeled images with labels, unlabeled
    images as a weak view and two strong views with a validity mask (last 1/8 rows padded)."""
    g = torch.Generator().manual_seed(seed)
    height, width = crop
    inputs, samples = [], []
    for i in range(num_sup + num_unsup):
        image = torch.randint(0, 256, (3, height, width), generator=g, dtype=torch.uint8)
        meta = dict(img_shape=crop, ori_shape=crop, pad_shape=crop)
        sample = SegDataSample(metainfo=meta)
        if i < num_sup:
            labels = torch.randint(0, num_classes, (1, height, width), generator=g)
            sample.gt_sem_seg = PixelData(data=labels)
            inputs.append(image)
        else:
            strong = torch.randint(0, 256, (2, 3, height, width), generator=g, dtype=torch.uint8)
            valid = torch.ones(1, height, width, dtype=torch.bool)
            valid[:, height - height // 8 :] = False
            sample.valid_mask = PixelData(data=valid)
            inputs.append(dict(weak=image, strong=strong))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


# ---------------------------------------------------------------------------- models and steps
class AutocastOptimWrapper(OptimWrapper):
    """An ``OptimWrapper`` whose forward context autocasts to bf16 without loss scaling.

    mmengine's ``AmpOptimWrapper`` refuses to be built without a GPU, so the CPU runs use this.
    """

    @contextlib.contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), autocast(device_type='cpu', dtype=torch.bfloat16):
            yield


def amp_dtype(device: str, amp: bool) -> Optional[torch.dtype]:
    """bf16 where it is supported, else fp16; None without --amp."""
    if not amp:
        return None
    if device == 'cuda' and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def make_optim_wrapper(
    module: nn.Module, optim_cfg: dict, device: str, dtype: Optional[torch.dtype]
) -> OptimWrapper:
    """The config's optimizer (and paramwise settings) in the wrapper training would use:
    ``AmpOptimWrapper`` on a GPU with --amp (no loss scaling for bf16)."""
    cfg = copy.deepcopy(optim_cfg)
    cfg.pop('clip_grad', None)
    if dtype is None:
        cfg['type'] = 'OptimWrapper'
    elif device == 'cuda':
        bf16 = dtype == torch.bfloat16
        cfg.update(type='AmpOptimWrapper', dtype='bfloat16' if bf16 else 'float16')
        cfg['loss_scale'] = dict(enabled=False) if bf16 else 'dynamic'
    else:
        cfg['type'] = 'OptimWrapper'
        wrapper = build_optim_wrapper(module, cfg)
        return AutocastOptimWrapper(optimizer=wrapper.optimizer)
    return build_optim_wrapper(module, cfg)


def build_model(cfg: ConfigDict, device: str) -> nn.Module:
    torch.manual_seed(0)  # every model starts from the same weights
    model = MODELS.build(copy.deepcopy(cfg))
    model.init_weights()
    return model.to(device).train()


def train_step(model, optim_wrapper, after_step, inputs, samples) -> None:
    """One training step of a semi-supervised model, as mmengine's train loop runs it;
    ``after_step`` stands for the hooks' ``after_train_iter`` (the EMA update)."""
    with optim_wrapper.optim_context(model):
        losses = model.loss(inputs, samples)
    loss, _ = model.parse_losses(losses)
    optim_wrapper.update_params(loss)
    after_step()


def make_ema(model: nn.Module, momentum: float) -> Callable[[], None]:
    """``MeanTeacherHook``'s update, called as the runner calls it after every step."""
    hook = MeanTeacherHook(momentum=momentum)
    runner = SimpleNamespace(model=model, iter=0)
    hook.before_train(runner)
    return lambda: hook.after_train_iter(runner, 0)


def ema_loop(model: nn.Module, momentum: float) -> None:
    """Eq. 1 the plain way: one in-place update per tensor, in a Python loop."""
    teacher, student = _named_tensors(model.teacher), _named_tensors(model.student)
    with torch.no_grad():
        for name, t in teacher.items():
            if t.is_floating_point():
                t.mul_(1 - momentum).add_(student[name], alpha=momentum)
            else:
                t.copy_(student[name])


def pairwise_contrast(
    embeddings: Tensor,
    labels: Tensor,
    weights: Tensor,
    num_classes: int,
    num_queries: int = 256,
    num_negatives: int = 256,
    threshold: float = 0.5,
    temperature: float = 0.5,
) -> Tensor:
    """ReCo-style pixel contrast (Liu et al., ICLR 2022), vectorised, for the cost comparison.

    Per class: ``num_queries`` confident pixels (weight > ``threshold``) drawn with replacement,
    each with one positive (another confident pixel of its class) and ``num_negatives``
    confident pixels of other classes; InfoNCE at ``temperature``, averaged over the classes
    present. Sampling uses ``torch.multinomial`` on a tiny floor weight, so absent classes draw
    junk that is masked out instead of stopping on an empty distribution (no host sync).

    Args:
        embeddings (Tensor): (N, D, h, w), L2-normalised along D.
        labels (Tensor): (N, h, w) long class per pixel.
        weights (Tensor): (N, h, w) confidence per pixel.
        num_classes (int): C.
        num_queries (int): Queries per class.
        num_negatives (int): Negatives per query.
        threshold (float): Confidence threshold of the pixels used.
        temperature (float): InfoNCE temperature.

    Returns:
        Tensor: The scalar loss.
    """
    dim = embeddings.shape[1]
    feats = embeddings.float().permute(0, 2, 3, 1).reshape(-1, dim)  # (P, D)
    confident = (weights.reshape(-1) > threshold).float()
    onehot = F.one_hot(labels.reshape(-1), num_classes).t().float()  # (C, P)
    member = onehot * confident
    other = (1 - onehot) * confident
    floor = 1e-12
    queries = torch.multinomial(member + floor, num_queries, replacement=True)  # (C, Q)
    positives = torch.multinomial(member + floor, num_queries, replacement=True)
    negatives = torch.multinomial(other + floor, num_queries * num_negatives, replacement=True)
    q, pos = feats[queries], feats[positives]  # (C, Q, D)
    neg = feats[negatives].reshape(num_classes, num_queries, num_negatives, dim)
    logits = torch.cat(
        [(q * pos).sum(-1, keepdim=True), torch.einsum('cqd,cqnd->cqn', q, neg)], dim=-1
    )
    nll = -(logits / temperature).log_softmax(dim=-1)[..., 0].mean(dim=1)  # (C,)
    present = ((member.sum(1) > 0) & (other.sum(1) > 0)).float()
    return (nll * present).sum() / present.sum().clamp_min(1)


# ---------------------------------------------------------------------------- timing
class Stopwatch:
    """Times calls without waiting for the device between them; ``result`` then synchronises.

    On CUDA each call is bracketed by CUDA events and its peak allocation on top of what was
    allocated before it is read from the allocator (host-side, no sync).
    """

    def __init__(self, device: str) -> None:
        self.cuda = device == 'cuda'
        self.calls: Dict[str, list] = {}

    def __call__(self, name: str, fn: Callable[[], None], resident: int = 0) -> None:
        if self.cuda:
            before = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            peak = torch.cuda.max_memory_allocated() - before + resident
            self.calls.setdefault(name, []).append((start, end, peak))
        else:
            start = time.perf_counter()
            fn()
            self.calls.setdefault(name, []).append((start, time.perf_counter(), None))

    def result(self) -> Dict[str, dict]:
        if self.cuda:
            torch.cuda.synchronize()
        out = {}
        for name, calls in self.calls.items():
            if self.cuda:
                times = [s.elapsed_time(e) for s, e, _ in calls]
                peak = max(p for _, _, p in calls) / 2**20
            else:
                times = [(e - s) * 1e3 for s, e, _ in calls]
                peak = None
            out[name] = dict(summarize(times), peak_mib=peak)
        return out


def summarize(times_ms: List[float]) -> Dict[str, float]:
    """Median, 10th and 90th percentile (linear interpolation) of the times."""
    ordered = sorted(times_ms)

    def percentile(q: float) -> float:
        pos = q * (len(ordered) - 1)
        low = int(pos)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)

    return dict(
        median_ms=statistics.median(ordered),
        p10_ms=percentile(0.1),
        p90_ms=percentile(0.9),
        n=len(ordered),
    )


def resident_bytes(module: nn.Module, optim_wrapper: OptimWrapper) -> int:
    """Bytes of parameters, buffers and optimizer state: what a step's peak sits on."""
    tensors = list(module.parameters()) + list(module.buffers())
    for state in optim_wrapper.optimizer.state.values():
        tensors += [t for t in state.values() if isinstance(t, Tensor)]
    seen = {t.data_ptr(): t.numel() * t.element_size() for t in tensors if t.is_cuda}
    return sum(seen.values())


def saved_activation_bytes(fn: Callable[[], None]) -> int:
    """Bytes of the distinct storages autograd saves for the backward pass during one call of
    ``fn``: the activations a training step holds at its peak. Leaves that require grad (the
    parameters) are resident anyway and not counted."""
    storages: Dict[Tuple[int, str], int] = {}

    def pack(tensor: Tensor) -> Tensor:
        if not (tensor.is_leaf and tensor.requires_grad):
            storage = tensor.untyped_storage()
            storages[(storage.data_ptr(), str(tensor.device))] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fn()
    return sum(storages.values())


def count_host_syncs(fn: Callable[[], None]) -> dict:
    """Run ``fn`` once under ``torch.cuda.set_sync_debug_mode('warn')`` and count the
    synchronising calls by source line."""
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        torch.cuda.set_sync_debug_mode('warn')
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode('default')
    where: Dict[str, int] = {}
    for w in caught:
        if 'synchroniz' in str(w.message):
            key = f'{osp.relpath(w.filename, ROOT)}:{w.lineno}'
            where[key] = where.get(key, 0) + 1
    return dict(count=sum(where.values()), where=where)


def _detached(pseudo_labels: PseudoLabels) -> PseudoLabels:
    return PseudoLabels(
        **{
            f.name: None if t is None else t.detach().clone()
            for f in fields(pseudo_labels)
            for t in [getattr(pseudo_labels, f.name)]
        }
    )


@contextlib.contextmanager
def recorded_inputs(model: nn.Module, store: dict):
    """Record (detached copies of) the inputs of the model's loss modules during one call:
    ``store['unsup']`` = (student logits, PseudoLabels) of ``model.unsup_loss``,
    ``store['contrast']`` = (embeddings, labels, weights) of ``model.contrast_loss``, if any."""
    unsup = model.unsup_loss
    original = unsup.forward_with_stats

    def record_unsup(logits: Tensor, pseudo_labels: PseudoLabels):
        store['unsup'] = (logits.detach().clone(), _detached(pseudo_labels))
        return original(logits, pseudo_labels)

    unsup.forward_with_stats = record_unsup
    handles = []
    if getattr(model, 'contrast_loss', None) is not None:
        handles.append(
            model.contrast_loss.register_forward_pre_hook(
                lambda _, args: store.__setitem__('contrast', [a.detach().clone() for a in args])
            )
        )
    try:
        yield store
    finally:
        del unsup.forward_with_stats
        for handle in handles:
            handle.remove()


def loss_items(
    model, ref_model, stored: dict, ref_stored: dict, pairwise: Tuple[int, int]
) -> Dict[str, Callable]:
    """Forward + backward of the losses alone on the inputs recorded from one step of each
    model (``stored``: FARCLUSS's, ``ref_stored``: the reference's)."""
    logits, pseudo = stored['unsup']
    logits = logits.requires_grad_(True)
    ref_logits, ref_pseudo = ref_stored['unsup']
    ref_logits = ref_logits.requires_grad_(True)
    items = {}

    def run(loss_fn: Callable[[], Tensor], *leaves: Tensor) -> Callable[[], None]:
        def call():
            for leaf in leaves:
                leaf.grad = None
            loss_fn().backward()

        return call

    def farcluss_losses() -> Tensor:
        loss = model.unsup_loss(logits, pseudo)
        if 'contrast' in stored:
            loss = loss + model.contrast_loss(*stored['contrast'])
        return loss

    items['losses_farcluss'] = run(farcluss_losses, logits, *stored.get('contrast', [])[:1])
    items['losses_reference'] = run(
        lambda: ref_model.unsup_loss(ref_logits, ref_pseudo), ref_logits
    )
    if 'contrast' in stored:
        emb, labels, weights = stored['contrast']
        emb.requires_grad_(True)
        items['contrast_prototype'] = run(lambda: model.contrast_loss(emb, labels, weights), emb)
        items['contrast_pairwise'] = run(
            lambda: pairwise_contrast(emb, labels, weights, model.num_classes, *pairwise), emb
        )
    return items


def amp_loss_errors(model, stored: dict, dtype: torch.dtype, device: str) -> Dict[str, float]:
    """Relative difference of each FARCLUSS loss under autocast against fp32, same inputs.

    An untrained teacher is rarely confident, so ``L_c`` is also computed with every pixel
    counted as confident (``loss_c_all_pixels``): that exercises its class sums.
    """
    calls = {'loss_u': lambda: model.unsup_loss(*stored['unsup'])}
    if 'contrast' in stored:
        emb, labels, weights = stored['contrast']
        calls['loss_c'] = lambda: model.contrast_loss(emb, labels, weights)
        calls['loss_c_all_pixels'] = lambda: model.contrast_loss(
            emb, labels, torch.ones_like(weights)
        )
    errors = {}
    with torch.no_grad():
        for name, call in calls.items():
            exact = call().double()
            with autocast(device_type=device, dtype=dtype):
                approx = call().double()
            errors[name] = ((approx - exact).abs() / exact.abs().clamp_min(1e-12)).item()
    return errors


# ---------------------------------------------------------------------------- main
def describe_device(device: str) -> str:
    if device == 'cuda':
        return torch.cuda.get_device_name()
    name = 'unknown CPU'
    with contextlib.suppress(OSError):
        with open('/proc/cpuinfo') as f:
            names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
        name = names[0] if names else name
    return f'CPU: {name}, {torch.get_num_threads()} torch threads'


def run(args: argparse.Namespace) -> dict:
    init_default_scope('mmseg')
    MMLogger.get_instance('benchmark_step', log_level='ERROR')  # no init or optimizer notes
    cfg, extras = model_config(args)
    device, dtype = args.device, amp_dtype(args.device, args.amp)
    if device == 'cuda':
        torch.backends.cudnn.benchmark = bool(extras['cudnn_benchmark'])
    num_sup, num_unsup = args.batch
    momentum = extras['momentum']

    model = build_model(cfg, device)
    ref_model = build_model(reference_config(cfg), device)
    unimatch = build_model(unimatch_config(cfg), device)
    owners = {'step_reference': ref_model, 'step_unimatch': unimatch, 'step_farcluss': model}
    optims = {
        name: make_optim_wrapper(owner, extras['optim_wrapper'], device, dtype)
        for name, owner in owners.items()
    }
    num_classes = model.num_classes
    data = model.data_preprocessor(
        synthetic_batch(num_sup, num_unsup, args.crop, num_classes, seed=0), True
    )
    inputs, samples = data['inputs'], data['data_samples']
    ema = make_ema(model, momentum)
    after_steps = {
        'step_reference': make_ema(ref_model, momentum),
        'step_unimatch': lambda: None,  # no teacher
        'step_farcluss': ema,
    }
    steps = {
        name: functools.partial(
            train_step, owners[name], optims[name], after_steps[name], inputs, samples
        )
        for name in STEPS
    }

    # Round-robin over the steps; the order turns every iteration.
    watch = Stopwatch(device)
    for i in range(args.warmup + args.iters):
        order = STEPS[i % 3 :] + STEPS[: i % 3]
        for name in order:
            if i < args.warmup:
                steps[name]()
            else:
                resident = resident_bytes(owners[name], optims[name]) if device == 'cuda' else 0
                watch(name, steps[name], resident)
    timed = watch.result()
    results = {name: timed[name] for name in STEPS}
    for name in STEPS:
        results[name]['saved_mib'] = saved_activation_bytes(steps[name]) / 2**20

    stored: dict = {}
    with recorded_inputs(model, stored):
        steps['step_farcluss']()
    ref_stored: dict = {}
    with recorded_inputs(ref_model, ref_stored):
        steps['step_reference']()
    items = loss_items(model, ref_model, stored, ref_stored, tuple(args.pairwise))
    items['ema_foreach'] = ema
    items['ema_loop'] = lambda: ema_loop(model, momentum)
    valid = torch.cat([s.valid_mask.data for s in samples['unsup']]).bool()
    items['teacher_forward'] = lambda: model.predict_pseudo_labels(inputs['weak'], valid)
    watch = Stopwatch(device)
    for name, fn in items.items():

        def call(fn=fn):
            with autocast(device_type=device, dtype=dtype, enabled=dtype is not None):
                fn()

        for _ in range(args.warmup):
            call()
        for _ in range(args.iters):
            watch(name, call)
    results.update(watch.result())

    syncs = None
    if device == 'cuda':
        syncs = {name: count_host_syncs(steps[name]) for name in STEPS}

    def ratio(a: str, b: str, key: str) -> Optional[float]:
        x, y = results[a][key], results[b][key]
        return None if x is None or not y else x / y  # an in-place EMA may allocate nothing

    ratios = {
        f'{a}/{b}': dict(time=ratio(a, b, 'median_ms'), memory=ratio(a, b, 'peak_mib'))
        for a, b in [
            *STEP_PAIRS,
            ('losses_farcluss', 'step_farcluss'),
            ('teacher_forward', 'step_farcluss'),
            ('ema_foreach', 'step_farcluss'),
            ('ema_loop', 'ema_foreach'),
        ]
        + ([('contrast_prototype', 'contrast_pairwise')] if 'contrast' in stored else [])
    }
    for a, b in STEP_PAIRS:
        ratios[f'{a}/{b}']['saved'] = ratio(a, b, 'saved_mib')
    return dict(
        device=describe_device(device),
        device_type=device,
        torch=torch.__version__,
        config=args.config,
        preset=args.preset,
        smoke=args.smoke,
        batch=list(args.batch),
        crop=list(args.crop),
        amp=str(dtype).replace('torch.', '') if dtype else 'off',
        warmup=args.warmup,
        iters=args.iters,
        pairwise=list(args.pairwise),
        load_average=list(os.getloadavg()) if device == 'cpu' else None,
        max_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        models={
            name: dict(type=type(owner).__name__, semi_train_cfg=owner.semi_train_cfg)
            for name, owner in owners.items()
        },
        items=results,
        ratios=ratios,
        host_syncs=syncs,
        amp_loss_rel_error=amp_loss_errors(model, stored, dtype, device) if dtype else None,
        notes=NOTES,
    )


def markdown(result: dict) -> str:
    """The results as a Markdown table plus the ratios."""
    peak = result['device_type'] == 'cuda'
    lines = [
        f'**{result["device"]}**, torch {result["torch"]}, `{osp.basename(result["config"])}`'
        + (f' (preset {result["preset"]})' if result['preset'] else '')
        + f', batch {result["batch"][0]} + {result["batch"][1]}, crop '
        f'{result["crop"][0]}x{result["crop"][1]}, AMP {result["amp"]}, '
        f'{result["warmup"]} warm-up + {result["iters"]} timed iterations',
        '',
        '| item | median ms | p10 ms | p90 ms | saved MiB |' + (' peak MiB |' if peak else ''),
        '|---|---:|---:|---:|---:|' + ('---:|' if peak else ''),
    ]
    for name, r in result['items'].items():
        row = f'| {name} | {r["median_ms"]:.2f} | {r["p10_ms"]:.2f} | {r["p90_ms"]:.2f} |'
        row += f' {r["saved_mib"]:.0f} |' if 'saved_mib' in r else ' |'
        lines.append(row + (f' {r["peak_mib"]:.0f} |' if peak else ''))
    lines += ['', '| ratio | time | peak memory | saved activations |', '|---|---:|---:|---:|']

    def cell(value: Optional[float]) -> str:
        return '' if value is None else f'{value:.3f}'

    for name, r in result['ratios'].items():
        lines.append(f'| {name} | {r["time"]:.3f} | {cell(r["memory"])} | {cell(r.get("saved"))} |')
    if result['host_syncs']:
        lines.append('')
        for name, s in result['host_syncs'].items():
            where = ', '.join(f'{k} x{v}' for k, v in s['where'].items()) or 'none'
            lines.append(f'host syncs in one {name}: {s["count"]} ({where})')
    if result['amp_loss_rel_error']:
        errors = ', '.join(f'{k} {v:.2e}' for k, v in result['amp_loss_rel_error'].items())
        lines.append(f'\nrelative error of the losses under autocast vs fp32: {errors}')
    lines += ['', *(f'- {note}' for note in result['notes'])]
    if result['load_average']:
        lines.append(f'\nCPU load average (1, 5, 15 min) at the end: {result["load_average"]}')
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    result = run(args)
    print(markdown(result), flush=True)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)
        with open(osp.splitext(args.out)[0] + '.md', 'w') as f:
            f.write(markdown(result) + '\n')
    return result


if __name__ == '__main__':
    main()
