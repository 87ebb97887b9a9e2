"""Send the teacher's pseudo-labels of a few unlabeled images to the vis backends."""

from typing import Optional, Sequence

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS

from ...visualization.pseudo_labels import draw_pseudo_label_panel, pseudo_label_rows

__all__ = ['PseudoLabelVisHook']


@HOOKS.register_module()
class PseudoLabelVisHook(Hook):
    """Every ``interval`` training iterations, draw the pseudo-label panel of the batch.

    The panel (:func:`~farcluss_mmseg.visualization.draw_pseudo_label_panel`) shows, for the
    first ``num_images`` unlabeled images of the batch just trained on, the weak view, the
    teacher's prediction, its normalised entropy ``H``, the pixels used in the unsupervised
    loss and the CutMix strong views (the hidden label too, when the dataset keeps it). It is
    sent with ``runner.visualizer.add_image(name, panel, step=iteration)`` to every configured
    vis backend: ``vis_data/vis_image/<name>_<iteration>.png`` with mmengine's
    ``LocalVisBackend``, the Images tab with ``TensorboardVisBackend``.

    The teacher runs once more, without gradients, on rank 0 only; CutMix boxes come from a
    generator seeded with ``seed + iteration``, so training draws the same random numbers with
    and without the hook.

    Args:
        interval (int): Draw every ``interval`` iterations. Defaults to 500.
        num_images (int): Unlabeled images drawn (at most the batch's). Defaults to 4.
        name (str): Image name in the backends. Defaults to 'pseudo_labels'.
        seed (int): Seed of the CutMix boxes drawn for the panel. Defaults to 0.
    """

    priority = 'LOW'

    def __init__(
        self, interval: int = 500, num_images: int = 4, name: str = 'pseudo_labels', seed: int = 0
    ) -> None:
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(
                f'PseudoLabelVisHook: interval must be a positive int, got {interval!r}'
            )
        if not isinstance(num_images, int) or num_images < 1:
            raise ValueError(
                f'PseudoLabelVisHook: num_images must be a positive int, got {num_images!r}'
            )
        self.interval = interval
        self.num_images = num_images
        self.name = name
        self.seed = seed

    def after_train_iter(
        self, runner, batch_idx: int, data_batch: Optional[dict] = None, outputs=None
    ) -> None:
        """Draw and send the panel every ``interval`` iterations."""
        if not self.every_n_train_iters(runner, self.interval) or not is_main_process():
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        inputs, samples = data_batch['inputs'], data_batch['data_samples']
        unlabeled = [i for i, x in enumerate(inputs) if isinstance(x, dict)][: self.num_images]
        if not unlabeled:
            raise ValueError(
                'PseudoLabelVisHook: the training batch holds no unlabeled sample; the hook '
                'needs a semi-supervised train_dataloader (MultiSourceSampler over labeled and '
                'unlabeled datasets)'
            )
        weak = torch.stack([inputs[i]['weak'] for i in unlabeled])
        strong = torch.stack([inputs[i]['strong'] for i in unlabeled], dim=1)
        valid = torch.cat([samples[i].valid_mask.data for i in unlabeled]).bool()
        gt = None
        if all('gt_sem_seg' in samples[i] for i in unlabeled):
            gt = torch.cat([samples[i].gt_sem_seg.data for i in unlabeled])
        iteration = runner.iter + 1
        generator = torch.Generator().manual_seed(self.seed + iteration)
        rows = pseudo_label_rows(model, weak, valid, strong, gt, generator)
        meta = _dataset_meta(runner, model)
        panel = draw_pseudo_label_panel(
            rows, meta['palette'], meta.get('classes'), title=f'iteration {iteration}'
        )
        runner.visualizer.add_image(self.name, panel, step=iteration)


def _dataset_meta(runner, model) -> dict:
    """Classes and palette: the model's ``dataset_meta`` or the train dataset's metainfo."""
    meta = getattr(model, 'dataset_meta', None) or runner.train_dataloader.dataset.metainfo
    palette: Sequence = meta.get('palette') or []
    if not palette:
        raise ValueError(
            'PseudoLabelVisHook: the train dataset has no palette in its metainfo; add '
            'metainfo=dict(classes=..., palette=[[r, g, b], ...]) to the dataset config'
        )
    return dict(meta, palette=palette)
