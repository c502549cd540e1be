from __future__ import annotations

import numpy as np
import pytest

from trainer.errors import PartitionError
from trainer.partitions import (
    Partition,
    class_imbalanced,
    different_sharing,
    imbalanced,
    make_partition,
    same_sharing,
)


def _disjoint(p: Partition) -> bool:
    joined = np.concatenate(p.indices)
    return len(np.unique(joined)) == len(joined)


def _same(a: Partition, b: Partition) -> bool:
    return a.levels == b.levels and all(
        np.array_equal(x, y) for x, y in zip(a.indices, b.indices, strict=True)
    )


def test_same_sharing_sizes_levels_and_determinism() -> None:
    p = same_sharing(4000, 4, seed=7)
    assert p.sizes == (600,) * 4 and p.levels == (0.1,) * 4 and _disjoint(p)
    assert all(idx.min() >= 0 and idx.max() < 4000 for idx in p.indices)
    assert _same(p, same_sharing(4000, 4, seed=7))
    assert not _same(p, same_sharing(4000, 4, seed=8))


def test_different_sharing_levels_in_range_and_data_as_same() -> None:
    p = different_sharing(4000, 6, seed=1)
    assert all(0.1 <= v <= 0.5 for v in p.levels) and len(set(p.levels)) == 6
    assert _same(p, different_sharing(4000, 6, seed=1))
    base = same_sharing(4000, 6, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(p.indices, base.indices, strict=True))


@pytest.mark.parametrize(("n", "mode"), [(4, "authors"), (15, "authors"), (4, "paper"),
                                         (30, "paper")])
def test_imbalanced_totals_match_paper(n: int, mode: str) -> None:
    p = imbalanced(60_000, n, mode=mode, seed=2)  # type: ignore[arg-type]
    assert sum(p.sizes) == 600 * n and min(p.sizes) >= 1 and _disjoint(p)
    assert len(set(p.sizes)) > 1 and p.levels == (0.1,) * n
    assert _same(p, imbalanced(60_000, n, mode=mode, seed=2))  # type: ignore[arg-type]


def test_imbalanced_authors_fractions_bounded() -> None:
    # U(0.1, 0.9) fractions: no party gets more than 9x another (up to rounding).
    for seed in range(20):
        sizes = imbalanced(60_000, 4, seed=seed).sizes
        assert max(sizes) <= 9 * min(sizes) + 9


def test_class_imbalanced_sees_growing_class_subsets() -> None:
    labels = np.repeat(np.arange(10), 400).astype(np.int64)
    p = class_imbalanced(labels, 5, per_party=200, seed=0)
    counts = [len(np.unique(labels[idx])) for idx in p.indices]
    assert counts == [1, 3, 5, 7, 10]
    assert p.sizes == (200,) * 5 and _disjoint(p)
    assert _same(p, class_imbalanced(labels, 5, per_party=200, seed=0))


def test_partition_errors_say_what_is_wrong() -> None:
    with pytest.raises(PartitionError, match="needs 9000 distinct examples"):
        same_sharing(4000, 15, seed=0)
    with pytest.raises(PartitionError, match="level_range"):
        different_sharing(4000, 2, level_range=(0.6, 0.2), seed=0)
    with pytest.raises(PartitionError, match="unknown partition"):
        make_partition("random", None, 2, seed=0)  # type: ignore[arg-type]
    with pytest.raises(PartitionError, match="class"):
        class_imbalanced(np.zeros(100, np.int64), 2, per_party=40, seed=0)
