"""The pseudo-label panel: rows computed from a real (tiny) FARCLUSS model, and the drawing."""

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.models.utils import resize
from mmseg.registry import MODELS

from farcluss_mmseg.models.losses import normalized_entropy
from farcluss_mmseg.models.utils import cutmix_masks
from farcluss_mmseg.visualization import PanelRow, draw_pseudo_label_panel, pseudo_label_rows

init_default_scope('mmseg')

BASELINE = 'configs/baselines/deeplabv3plus_r18-w32-d8_1xb8-600it_farcluss-demo-1-16-96x96.py'


@pytest.fixture(scope='module')
def model():
    """FARCLUSS (paper defaults) around an 8-channel ResNet-18 DeepLabV3+, random weights."""
    torch.manual_seed(0)
    segmentor = Config.fromfile(BASELINE).model
    segmentor.backbone.update(base_channels=8, stem_channels=8)
    segmentor.decode_head.update(in_channels=64, c1_in_channels=8, channels=16, c1_channels=8)
    model = MODELS.build(dict(type='FARCLUSS', segmentor=segmentor))
    model.init_weights()
    return model


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    weak = torch.randint(0, 256, (3, 3, 40, 48), dtype=torch.uint8, generator=g)
    strong = torch.randint(0, 256, (2, 3, 3, 40, 48), dtype=torch.uint8, generator=g)
    valid = torch.ones(3, 40, 48, dtype=torch.bool)
    valid[2, 30:] = False  # image 2 is padded at the bottom
    return weak, strong, valid


def test_rows_hold_the_teachers_prediction_entropy_and_used_pixels(model):
    weak, strong, valid = _batch()
    rows = pseudo_label_rows(model, weak, valid, strong)
    # The teacher's probabilities, computed here without the plugin's pseudo-label code.
    x = model.data_preprocessor.normalize(weak)
    teacher = model.teacher
    with torch.no_grad():
        logits = teacher.decode_head.forward(teacher.extract_feat(x))
        logits = resize(logits, size=(40, 48), mode='bilinear', align_corners=False)
    probs = logits.softmax(1)
    entropy = normalized_entropy(probs)
    with torch.no_grad():
        pseudo = model.predict_pseudo_labels(x, valid)
    for i, row in enumerate(rows):
        assert row.weak.shape == (40, 48, 3) and row.weak.dtype == np.uint8
        assert (row.weak == weak[i].flip(0).permute(1, 2, 0).numpy()).all()  # BGR -> RGB
        assert (row.labels == probs[i].argmax(0).numpy()).all()
        np.testing.assert_allclose(row.entropy, entropy[i].numpy(), atol=1e-6)
        assert (row.used == pseudo.used[i].numpy()).all()
        assert (row.valid == valid[i].numpy()).all()
        assert row.gt is None
    assert not rows[2].used[30:].any()  # padding never enters L_u


def test_cutmix_views_follow_the_generator_and_leave_torch_rng_alone(model):
    weak, strong, valid = _batch()
    state = torch.get_rng_state()
    rows = pseudo_label_rows(model, weak, valid, strong, generator=torch.Generator().manual_seed(5))
    assert torch.equal(torch.get_rng_state(), state)
    g = torch.Generator().manual_seed(5)
    cfg = model.semi_train_cfg
    for v in range(2):
        box = cutmix_masks(3, 40, 48, cfg['cutmix_prob'], cfg['cutmix_area'], generator=g)
        for i in range(3):
            partner = (i - 1) % 3  # the box is filled from the previous image (torch.roll by 1)
            source = torch.where(box[i], strong[v, partner], strong[v, i])
            assert (rows[i].boxes[v] == box[i].numpy()).all()
            assert (rows[i].views[v] == source.flip(0).permute(1, 2, 0).numpy()).all()
    assert sum(int(b.any()) for row in rows for b in row.boxes) > 0  # some box was drawn


def test_stats_over_valid_pixels():
    row = PanelRow(
        weak=np.zeros((2, 2, 3), np.uint8),
        labels=np.array([[1, 1], [3, 0]]),
        entropy=np.array([[0.2, 0.4], [0.6, 1.0]], np.float32),
        used=np.array([[True, False], [True, True]]),
        valid=np.array([[True, True], [True, False]]),
    )
    stats = row.stats()
    assert stats['mean_entropy'] == pytest.approx(0.4)
    assert stats['used_ratio'] == pytest.approx(2 / 3)
    assert stats['class_share'] == pytest.approx({1: 2 / 3, 3: 1 / 3})


def _has(image, colour):
    return bool((image == np.asarray(colour, np.uint8)).all(-1).any())


def test_panel_size_and_colours(model):
    weak, strong, valid = _batch()
    gt = torch.full((3, 40, 48), 255, dtype=torch.long)
    gt[:, :20] = 2
    palette = [[10 * i, 200 - 10 * i, 50] for i in range(8)]
    rows = pseudo_label_rows(model, weak, valid, strong)
    panel = draw_pseudo_label_panel(rows, palette, [f'c{i}' for i in range(8)], title='iteration 1')
    # 6 columns of 2.2 in, 3 rows of 2.2 in plus colour bars and title, at 100 dpi.
    assert panel.shape == (790, 1320, 3) and panel.dtype == np.uint8
    assert _has(panel, (255, 0, 0))  # a CutMix box outline
    assert _has(panel, palette[int(rows[0].labels[0, 0])])
    rows = pseudo_label_rows(model, weak, valid, strong, gt=gt)
    panel = draw_pseudo_label_panel(rows, palette)
    assert panel.shape == (750, 1540, 3)  # the label column added, no title
    assert _has(panel, palette[2])


def test_a_model_without_pseudo_labels_is_named(model):
    weak, _, valid = _batch()
    with pytest.raises(ValueError, match=r'^EncoderDecoder has no predict_pseudo_labels\(\)'):
        pseudo_label_rows(model.student, weak, valid)
