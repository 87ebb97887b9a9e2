"""tools/analysis_tools/benchmark_step.py: smoke runs on the CPU and its helpers by hand.

Speed is never asserted: only that every item was timed, that the ratios are the quotients of
the medians of the same run, and that the device is named.
"""

import importlib.util
import json
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import ConfigDict

from farcluss_mmseg.models.utils import PseudoLabels

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = (
    'configs/farcluss/farcluss_deeplabv3plus_r18-w32-d8_1xb8+8-600it_farcluss-demo-1-16-96x96.py'
)
ITEMS = {
    'step_reference',
    'step_unimatch',
    'step_farcluss',
    'losses_farcluss',
    'losses_reference',
    'contrast_prototype',
    'contrast_pairwise',
    'ema_foreach',
    'ema_loop',
    'teacher_forward',
}


def _load_tool():
    path = osp.join(REPO, 'tools', 'analysis_tools', 'benchmark_step.py')
    spec = importlib.util.spec_from_file_location('benchmark_step', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load_tool()


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
    """One fp32 smoke run; its JSON file and the dict main() returned."""
    out = str(tmp_path_factory.mktemp('bench') / 'smoke.json')
    result = bench.main([osp.join(REPO, CONFIG), '--smoke', '--device', 'cpu', '--out', out])
    with open(out) as f:
        return json.load(f), result


def test_smoke_times_every_item(smoke):
    saved, _ = smoke
    assert set(saved['items']) == ITEMS
    for name, item in saved['items'].items():
        assert item['n'] == 2, name  # --smoke: 2 timed iterations
        assert 0 < item['p10_ms'] <= item['median_ms'] <= item['p90_ms'], name
        assert item['peak_mib'] is None  # no allocator statistics on the CPU
        assert (item.get('saved_mib', 0) > 0) == (name in bench.STEPS), name
    assert saved['device'].startswith('CPU: ') and saved['device_type'] == 'cpu'
    assert saved['batch'] == [2, 2] and saved['crop'] == [32, 32] and saved['amp'] == 'off'
    assert saved['host_syncs'] is None and saved['amp_loss_rel_error'] is None
    assert saved['torch'] == torch.__version__


def test_smoke_times_the_registered_models(smoke):
    saved, _ = smoke
    models = saved['models']
    assert {k: v['type'] for k, v in models.items()} == {
        'step_reference': 'HardLabelMeanTeacher',
        'step_unimatch': 'UniMatch',
        'step_farcluss': 'FARCLUSS',
    }
    assert models['step_reference']['semi_train_cfg']['confidence_threshold'] is None
    assert models['step_unimatch']['semi_train_cfg']['confidence_threshold'] == 0.95
    for name, model in models.items():
        cfg = model['semi_train_cfg']
        assert cfg['burn_in_iters'] == 0, name  # every timed step is a full one
        assert (cfg['cutmix_prob'], cfg['cutmix_area']) == (0.5, [0.02, 0.4]), name
    assert saved['notes'] == bench.NOTES
    assert 'no extra eval-mode pass over a second unlabeled batch' in bench.NOTES[1]


def test_smoke_ratios_are_quotients_of_the_same_run(smoke):
    saved, returned = smoke
    assert saved == json.loads(json.dumps(returned))  # the file holds what was computed
    items = saved['items']
    expected_pairs = {
        ('step_farcluss', 'step_reference'),
        ('step_farcluss', 'step_unimatch'),
        ('step_reference', 'step_unimatch'),
        ('losses_farcluss', 'step_farcluss'),
        ('teacher_forward', 'step_farcluss'),
        ('ema_foreach', 'step_farcluss'),
        ('ema_loop', 'ema_foreach'),
        ('contrast_prototype', 'contrast_pairwise'),
    }
    assert {tuple(k.split('/')) for k in saved['ratios']} == expected_pairs
    for a, b in expected_pairs:
        ratio = saved['ratios'][f'{a}/{b}']
        assert ratio['time'] == items[a]['median_ms'] / items[b]['median_ms']
        assert ratio['memory'] is None
        if a.startswith('step_') and b.startswith('step_'):
            assert ratio['saved'] == items[a]['saved_mib'] / items[b]['saved_mib']
        else:
            assert 'saved' not in ratio


def test_smoke_markdown_file(smoke, tmp_path):
    saved, _ = smoke
    text = bench.markdown(saved)
    assert text.splitlines()[0].startswith(f'**{saved["device"]}**')
    median = saved['items']['step_farcluss']['median_ms']
    assert f'| step_farcluss | {median:.2f} |' in text
    ratio = saved['ratios']['step_farcluss/step_reference']
    row = f'| step_farcluss/step_reference | {ratio["time"]:.3f} |  | {ratio["saved"]:.3f} |'
    assert row in text
    assert f'- {bench.NOTES[1]}' in text


def test_amp_smoke_on_cpu_keeps_the_unsupervised_loss_in_fp32(tmp_path):
    result = bench.main([osp.join(REPO, CONFIG), '--smoke', '--device', 'cpu', '--amp'])
    assert result['amp'] == 'bfloat16'
    assert set(result['items']) == ITEMS
    # L_u casts the student logits to fp32, so autocast does not change it at all.
    assert result['amp_loss_rel_error']['loss_u'] == 0.0
    assert 'loss_c' in result['amp_loss_rel_error']


def test_saved_activation_bytes_by_hand():
    weight = torch.ones(10, requires_grad=True)  # a parameter: resident, not counted
    x = torch.full((10,), 2.0)  # an input autograd keeps: counted

    def step():
        hidden = (weight * 3).exp()  # mul by a number saves nothing; exp saves its output
        loss = (hidden * x).sum() + (hidden * weight).sum()  # saves x and (again) hidden
        loss.backward()

    assert bench.saved_activation_bytes(step) == 2 * 10 * 4  # exp's output and x, fp32


def test_summarize_by_hand():
    stats = bench.summarize([5.0, 1.0, 4.0, 2.0, 3.0])
    # sorted 1..5: median 3; p10 at position 0.4 -> 1.4; p90 at position 3.6 -> 4.6.
    assert stats['median_ms'] == 3.0 and stats['n'] == 5
    assert stats['p10_ms'] == pytest.approx(1.4) and stats['p90_ms'] == pytest.approx(4.6)


def test_pairwise_contrast_by_hand():
    # Class 0 pixels all e0, class 1 pixels all e1 (orthogonal); class 2 absent. Every query
    # has its positive at cosine 1 and 4 negatives at cosine 0, temperature 0.5:
    # -log(e^2 / (e^2 + 4)) = log(1 + 4 e^-2) for both classes present.
    labels = torch.tensor([[[0, 0, 1, 1]]])
    embeddings = F.one_hot(labels, 3).permute(0, 3, 1, 2).float()  # (1, 3, 1, 4)
    loss = bench.pairwise_contrast(
        embeddings, labels, torch.ones(1, 1, 4), 3, num_queries=8, num_negatives=4
    )
    assert loss.item() == pytest.approx(math.log(1 + 4 * math.exp(-2)), rel=1e-6)


def test_for_one_process():
    cfg = {
        'pretrained': 'open-mmlab://resnet101_v1c',
        'backbone': {'norm_cfg': {'type': 'SyncBN'}, 'init_cfg': {'type': 'Pretrained'}},
        'heads': [{'norm_cfg': {'type': 'SyncBN', 'requires_grad': True}}],
    }
    assert bench._for_one_process(cfg) == {
        'pretrained': None,
        'backbone': {'norm_cfg': {'type': 'BN'}, 'init_cfg': None},
        'heads': [{'norm_cfg': {'type': 'BN', 'requires_grad': True}}],
    }


def _farcluss_cfg(**semi_train_cfg):
    return ConfigDict(
        type='FARCLUSS',
        segmentor=dict(type='EncoderDecoder', backbone=dict(depth=18)),
        unsup_loss=dict(type='FuzzyPseudoLabelLoss', loss_weight=0.25),
        contrast_loss=dict(type='PrototypeContrastiveLoss'),
        semi_train_cfg=dict(feature_perturbation=True, burn_in_iters=0, **semi_train_cfg),
    )


def test_reference_config_is_the_plain_mean_teacher():
    model = _farcluss_cfg(cutmix_prob=0.25, cutmix_area=(0.1, 0.2))
    ref = bench.reference_config(model)
    assert ref == dict(
        type='HardLabelMeanTeacher',
        segmentor=dict(type='EncoderDecoder', backbone=dict(depth=18)),
        semi_train_cfg=dict(
            confidence_threshold=None, cutmix_prob=0.25, cutmix_area=(0.1, 0.2), burn_in_iters=0
        ),
        unsup_loss=dict(type='HardPseudoLabelLoss', loss_weight=0.5),
        semi_test_cfg=dict(predict_on='teacher'),
    )
    ref['segmentor']['backbone']['depth'] = 50
    assert model['segmentor']['backbone']['depth'] == 18  # the input is left as it was


def test_unimatch_config_takes_the_cutmix_defaults():
    # The FARCLUSS config sets no CutMix key: SemiSegmentor's defaults, 0.5 and (0.02, 0.4).
    uni = bench.unimatch_config(_farcluss_cfg())
    assert uni['type'] == 'UniMatch'
    assert uni['semi_train_cfg'] == dict(
        confidence_threshold=0.95,
        fp_dropout=0.5,
        sup_weight=0.5,
        cutmix_prob=0.5,
        cutmix_area=(0.02, 0.4),
        burn_in_iters=0,
    )
    assert uni['strong_loss']['loss_weight'] == 0.125 and uni['fp_loss']['loss_weight'] == 0.25


def test_model_config_turns_the_burn_in_off(tmp_path):
    config = tmp_path / 'burn_in.py'
    config.write_text(
        f"_base_ = ['{osp.join(REPO, CONFIG)}']\n"
        'model = dict(semi_train_cfg=dict(burn_in_iters=50))\n'
    )
    cfg, extras = bench.model_config(bench.parse_args([str(config), '--smoke']))
    assert cfg['semi_train_cfg']['burn_in_iters'] == 0
    assert cfg['semi_train_cfg']['top_k'] == 2  # the rest of the config's values stay
    assert extras['momentum'] == 0.01


def test_detached_pseudo_labels_by_hand():
    weight = torch.tensor([[[0.25, 0.75]]], requires_grad=True)
    labels = torch.tensor([[[1, 0]]])
    used = torch.tensor([[[True, False]]])
    pseudo = PseudoLabels(labels=labels, weight=weight * 2, used=used, valid=used | True)
    copy = bench._detached(pseudo)
    assert copy.weight.tolist() == [[[0.5, 1.5]]] and not copy.weight.requires_grad
    assert copy.labels.tolist() == [[[1, 0]]] and copy.labels.data_ptr() != labels.data_ptr()
    assert copy.valid.tolist() == [[[True, True]]]
    assert copy.entropy is None and copy.fuzzy is None and copy.probs is None


@pytest.mark.parametrize(
    'config, model_type',
    [
        (
            'configs/baselines/deeplabv3plus_r18-w32-d8_1xb8-600it_farcluss-demo-1-16-96x96.py',
            'EncoderDecoder',
        ),
        (
            'configs/mean_teacher/'
            'mean-teacher-hard_deeplabv3plus_r18-w32-d8_1xb8+8-600it_farcluss-demo-1-16-96x96.py',
            'HardLabelMeanTeacher',
        ),
    ],
)
def test_not_a_farcluss_config(config, model_type):
    path = osp.join(REPO, config)
    args = bench.parse_args([path, '--smoke'])
    with pytest.raises(ValueError) as error:
        bench.model_config(args)
    assert str(error.value) == (
        f"{path}: model.type='{model_type}' is not FARCLUSS; give a FARCLUSS config "
        '(configs/farcluss/...).'
    )
