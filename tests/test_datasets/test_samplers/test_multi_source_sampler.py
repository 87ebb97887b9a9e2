import itertools

import pytest
import torch
from mmengine.dataset import BaseDataset, ConcatDataset
from mmseg.registry import DATA_SAMPLERS

from farcluss_mmseg.datasets.samplers import MultiSourceSampler, multi_source_sampler


class _ToyDataset(BaseDataset):
    def __init__(self, size: int) -> None:
        self.size = size
        super().__init__(serialize_data=False)

    def load_data_list(self) -> list:
        return [dict(idx=i) for i in range(self.size)]


def _concat(*sizes: int) -> ConcatDataset:
    return ConcatDataset([_ToyDataset(n) for n in sizes])


def _take(sampler: MultiSourceSampler, n: int) -> list:
    return list(itertools.islice(iter(sampler), n))


def _perm(size: int, seed: int, offset: int) -> list:
    return (torch.randperm(size, generator=torch.Generator().manual_seed(seed)) + offset).tolist()


def test_batches_hold_two_labeled_then_two_unlabeled():
    sampler = DATA_SAMPLERS.build(
        dict(
            type='MultiSourceSampler',
            dataset=_concat(5, 11),
            batch_size=4,
            source_ratio=[1, 1],
            seed=3,
        )
    )
    indices = _take(sampler, 40)
    chunks = [indices[i : i + 4] for i in range(0, 40, 4)]
    assert all(all(i < 5 for i in c[:2]) and all(5 <= i < 16 for i in c[2:]) for c in chunks)
    labeled = [i for c in chunks for i in c[:2]]
    unlabeled = [i for c in chunks for i in c[2:]]
    # Pass p over a source is the permutation drawn with seed + p.
    assert labeled == _perm(5, 3, 0) + _perm(5, 4, 0) + _perm(5, 5, 0) + _perm(5, 6, 0)
    assert unlabeled == _perm(11, 3, 5) + _perm(11, 4, 5)[:9]
    for p in range(4):
        assert sorted(labeled[5 * p : 5 * p + 5]) == [0, 1, 2, 3, 4]
    assert sorted(unlabeled[:11]) == list(range(5, 16))
    assert len(set(unlabeled[11:])) == 9
    # Each pass is reshuffled.
    assert len({tuple(labeled[5 * p : 5 * p + 5]) for p in range(4)}) > 1
    assert len(sampler) == 16


def test_unshuffled_order_and_ratio_one_to_three():
    sampler = MultiSourceSampler(_concat(3, 4), batch_size=4, source_ratio=[1, 3], shuffle=False)
    assert _take(sampler, 12) == [0, 3, 4, 5, 1, 6, 3, 4, 2, 5, 6, 3]
    sampler = MultiSourceSampler(_concat(3, 4), batch_size=8, source_ratio=[1, 1], shuffle=False)
    assert _take(sampler, 8) == [0, 1, 2, 0, 3, 4, 5, 6]


def test_same_seed_same_sequence_other_seed_differs():
    first = _take(MultiSourceSampler(_concat(5, 11), 4, [1, 1], seed=0), 40)
    again = _take(MultiSourceSampler(_concat(5, 11), 4, [1, 1], seed=0), 40)
    other = _take(MultiSourceSampler(_concat(5, 11), 4, [1, 1], seed=1), 40)
    assert first == again
    assert first != other


def test_iter_restarts_the_streams():
    sampler = MultiSourceSampler(_concat(5, 11), 4, [1, 1], seed=0)
    assert _take(sampler, 12) == _take(sampler, 12)


def test_ranks_take_disjoint_interleaved_slices(monkeypatch):
    full = _take(MultiSourceSampler(_concat(5, 11), 4, [1, 1], seed=7), 16)
    full_labeled = [i for i in full if i < 5]
    full_unlabeled = [i for i in full if i >= 5]
    per_rank = []
    for rank in range(2):
        monkeypatch.setattr(multi_source_sampler, 'get_dist_info', lambda r=rank: (r, 2))
        indices = _take(MultiSourceSampler(_concat(5, 11), 4, [1, 1], seed=7), 8)
        labeled = indices[0:2] + indices[4:6]
        unlabeled = indices[2:4] + indices[6:8]
        assert labeled == full_labeled[rank::2][:4]
        assert unlabeled == full_unlabeled[rank::2][:4]
        per_rank.append(indices)
    # First chunk of each rank: labeled from the first pass, all four distinct.
    assert len(set(per_rank[0][:2] + per_rank[1][:2])) == 4
    # First two chunks: eight distinct unlabeled samples (within the first pass of 11).
    assert len(set(per_rank[0][2:4] + per_rank[0][6:8] + per_rank[1][2:4] + per_rank[1][6:8])) == 8


def test_set_epoch_changes_nothing():
    sampler = MultiSourceSampler(_concat(5, 11), 4, [1, 1], seed=0)
    before = _take(sampler, 12)
    sampler.set_epoch(3)
    assert _take(sampler, 12) == before


def test_not_a_concat_dataset_raises():
    with pytest.raises(TypeError, match=r'must be a ConcatDataset .* got _ToyDataset'):
        MultiSourceSampler(_ToyDataset(4), 4, [1, 1], seed=0)


def test_ratio_count_mismatch_raises():
    with pytest.raises(
        ValueError, match=r'source_ratio has 3 entries \(\[1, 1, 2\]\) but the ConcatDataset has 2'
    ):
        MultiSourceSampler(_concat(5, 11), 4, [1, 1, 2], seed=0)


def test_empty_source_raises():
    with pytest.raises(ValueError, match=r'source 1 \(_ToyDataset, ann_file=.*\) .* is empty'):
        MultiSourceSampler(_concat(5, 0), 4, [1, 1], seed=0)


@pytest.mark.parametrize('ratio', [[0, 1], [-1, 2], [1.5, 1]])
def test_non_positive_int_ratio_raises(ratio):
    with pytest.raises(ValueError, match=r'source_ratio must be positive ints'):
        MultiSourceSampler(_concat(5, 11), 4, ratio, seed=0)


def test_batch_size_not_multiple_of_ratio_sum_raises():
    with pytest.raises(
        ValueError, match=r'batch_size \(5\) must be a positive multiple of sum\(source_ratio\) = 2'
    ):
        MultiSourceSampler(_concat(5, 11), 5, [1, 1], seed=0)
