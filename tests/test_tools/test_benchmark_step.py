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


def test_for_one_process_and_reference_config():
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
    model = ConfigDict(
        type='FARCLUSS',
        segmentor={},
        unsup_loss=dict(type='FuzzyPseudoLabelLoss', top_k=2, loss_weight=0.25),
        contrast_loss=dict(type='PrototypeContrastiveLoss'),
        semi_train_cfg=dict(cutmix_prob=0.5, feature_perturbation=True),
    )
    ref = bench.reference_config(model)
    assert ref['unsup_loss'] == dict(type='HardPseudoLabelLoss', threshold=None, loss_weight=0.25)
    assert ref['contrast_loss'] is None
    assert ref['semi_train_cfg'] == dict(cutmix_prob=0.5, feature_perturbation=False)
    assert model['contrast_loss'] is not None  # the input is left as it was


def test_not_a_farcluss_config():
    baseline = 'configs/baselines/deeplabv3plus_r18-w32-d8_1xb8-600it_farcluss-demo-1-16-96x96.py'
    args = bench.parse_args([osp.join(REPO, baseline), '--smoke'])
    with pytest.raises(ValueError, match=r"model.type='EncoderDecoder' has no `segmentor`"):
        bench.model_config(args)
