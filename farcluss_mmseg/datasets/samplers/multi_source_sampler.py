"""Infinite sampler that fills each batch with a fixed number of samples from each source."""

import itertools
from typing import Iterator, Optional, Sequence

import torch
from mmengine.dataset import ConcatDataset
from mmengine.dist import get_dist_info, sync_random_seed
from mmseg.registry import DATA_SAMPLERS
from torch.utils.data import Sampler


@DATA_SAMPLERS.register_module()
class MultiSourceSampler(Sampler):
    """Infinite sampler mixing the sources of a ``ConcatDataset`` in a fixed ratio per batch.

    For iteration-based training (``IterBasedTrainLoop``). Every consecutive chunk of
    ``batch_size`` indices holds ``batch_size // sum(source_ratio) * source_ratio[i]`` indices of
    source ``i``, in the order of ``dataset.datasets``: all of source 0 first, then source 1, and so
    on. List the labeled dataset first and the unlabeled one second, and set ``batch_size`` to the
    dataloader's (per-GPU) ``batch_size``, e.g. ``batch_size=4, source_ratio=[1, 1]`` gives
    2 labeled + 2 unlabeled images per GPU.

    Each source is read from its own infinite stream: pass ``p`` over source ``i`` is a permutation
    of the source drawn with seed ``seed + p`` (or its natural order if ``shuffle`` is False), so
    every sample is seen once per pass. Like mmengine's ``InfiniteSampler``, rank ``r`` of
    ``world_size`` processes takes the elements ``r, r + world_size, ...`` of each stream, so the
    ranks read disjoint samples. Every call of ``iter()`` restarts the streams.

    Args:
        dataset (ConcatDataset): The sources, labeled first.
        batch_size (int): Samples per batch on one GPU; must equal the dataloader's batch size
            (``ConfigCheckHook`` refuses a run where they differ, naming both keys) and be a
            multiple of ``sum(source_ratio)``.
        source_ratio (Sequence[int]): Positive number of parts of a batch per source.
        shuffle (bool): Whether to shuffle each source every pass. Defaults to True.
        seed (int, optional): Random seed; if None, a random seed shared by all ranks.
            Defaults to None.
    """

    def __init__(
        self,
        dataset: ConcatDataset,
        batch_size: int,
        source_ratio: Sequence[int],
        shuffle: bool = True,
        seed: Optional[int] = None,
    ) -> None:
        if not isinstance(dataset, ConcatDataset):
            raise TypeError(
                'MultiSourceSampler: train_dataloader.dataset must be a ConcatDataset '
                f"(dict(type='ConcatDataset', datasets=[labeled, unlabeled])), "
                f'got {type(dataset).__name__}'
            )
        sizes = [len(ds) for ds in dataset.datasets]
        ratios = list(source_ratio)
        if len(ratios) != len(sizes):
            raise ValueError(
                f'MultiSourceSampler: source_ratio has {len(ratios)} entries ({ratios}) but the '
                f'ConcatDataset has {len(sizes)} datasets; give one ratio per dataset.'
            )
        if not all(isinstance(r, int) and not isinstance(r, bool) and r > 0 for r in ratios):
            raise ValueError(
                f'MultiSourceSampler: source_ratio must be positive ints, got {ratios}'
            )
        if not isinstance(batch_size, int) or batch_size <= 0 or batch_size % sum(ratios):
            raise ValueError(
                f'MultiSourceSampler: batch_size ({batch_size!r}) must be a positive multiple of '
                f'sum(source_ratio) = {sum(ratios)} (source_ratio={ratios}).'
            )
        for i, (ds, size) in enumerate(zip(dataset.datasets, sizes)):
            if size == 0:
                raise ValueError(
                    f'MultiSourceSampler: source {i} ({type(ds).__name__}, '
                    f'ann_file={getattr(ds, "ann_file", None)!r}) of the ConcatDataset is empty.'
                )
        self.dataset = dataset
        self.batch_size = batch_size
        self.num_per_source = [batch_size // sum(ratios) * r for r in ratios]
        self.sizes = sizes
        self.offsets = [0, *itertools.accumulate(sizes)][:-1]
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else seed
        self.rank, self.world_size = get_dist_info()

    def _source_stream(self, source: int) -> Iterator[int]:
        """This rank's share of the infinite stream of global indices of ``source``."""
        size, offset = self.sizes[source], self.offsets[source]

        def passes() -> Iterator[int]:
            for p in itertools.count():
                if self.shuffle:
                    order = torch.randperm(
                        size, generator=torch.Generator().manual_seed(self.seed + p)
                    )
                else:
                    order = torch.arange(size)
                yield from (order + offset).tolist()

        return itertools.islice(passes(), self.rank, None, self.world_size)

    def __iter__(self) -> Iterator[int]:
        streams = [self._source_stream(i) for i in range(len(self.sizes))]
        while True:
            for stream, num in zip(streams, self.num_per_source):
                yield from itertools.islice(stream, num)

    def __len__(self) -> int:
        return len(self.dataset)

    def set_epoch(self, epoch: int) -> None:
        """Do nothing: the sampler is infinite and reshuffles each source on every pass.

        Args:
            epoch (int): Ignored.
        """
