"""Seeded splits of a training pool among parties (seed 001, section 5.3).

Every function returns a :class:`Partition`: disjoint per-party index arrays into the pool's
training split plus each party's sharing level (the fraction of its update it releases per
round). The same arguments and seed always give the same partition.

* :func:`same_sharing` -- each party gets ``per_party`` examples (600 = 1% of MNIST), level 0.1.
* :func:`different_sharing` -- as above, levels drawn from U[0.1, 0.5].
* :func:`imbalanced` -- different data sizes, level fixed at 0.1. Mode ``"authors"``: party
  fractions from U(0.1, 0.9), normalised over ``total`` = 600 x n examples (the authors'
  code); mode ``"paper"``: ``total`` cut at n - 1 uniform random points (each party >= 1).
* :func:`class_imbalanced` -- non-IID by class (CGSV's "classimbalance" split): party i sees
  ``linspace(1, num_classes, n)[i]`` classes (1 for the first party, all for the last).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from trainer.constants import PARTITION_KINDS
from trainer.data import NUM_CLASSES, Dataset
from trainer.errors import PartitionError

DEFAULT_PER_PARTY = 600
DEFAULT_LEVEL = 0.1
DIFFERENT_LEVEL_RANGE = (0.1, 0.5)
AUTHORS_FRACTION_RANGE = (0.1, 0.9)

IndexArray = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class Partition:
    """Per-party data indices and sharing levels.

    Attributes
    ----------
    indices : tuple of int64 arrays
        ``indices[i]`` indexes party i's examples in the pool's training split.
    levels : tuple of float
        Party i's sharing level in (0, 1].
    kind : str
        Which scheme produced it (for reports).
    """

    indices: tuple[IndexArray, ...]
    levels: tuple[float, ...]
    kind: str

    def __post_init__(self) -> None:
        if len(self.indices) != len(self.levels) or not self.indices:
            raise PartitionError("a partition needs one index array and one level per party")
        if any(not 0 < level <= 1 for level in self.levels):
            raise PartitionError(f"sharing levels must lie in (0, 1], got {self.levels}")

    @property
    def n_parties(self) -> int:
        """Number of parties."""
        return len(self.indices)

    @property
    def sizes(self) -> tuple[int, ...]:
        """Number of examples of each party."""
        return tuple(len(i) for i in self.indices)

    def party_data(self, train: Dataset, party: int) -> Dataset:
        """Return party ``party``'s examples from the training split ``train``."""
        return train.subset(self.indices[party], name=f"party{party}")


def _check(n_parties: int, needed: int, available: int) -> None:
    if n_parties < 1:
        raise PartitionError(f"n_parties must be >= 1, got {n_parties}")
    if needed > available:
        raise PartitionError(
            f"the partition needs {needed} distinct examples but the pool's training split has "
            f"{available}; add data (e.g. the full MNIST IDX files) or use fewer parties"
        )


def _split_sizes(order: IndexArray, sizes: list[int]) -> tuple[IndexArray, ...]:
    bounds = np.cumsum([0, *sizes])
    return tuple(np.sort(order[bounds[i] : bounds[i + 1]]) for i in range(len(sizes)))


def same_sharing(
    pool_size: int,
    n_parties: int,
    *,
    per_party: int = DEFAULT_PER_PARTY,
    level: float = DEFAULT_LEVEL,
    seed: int,
) -> Partition:
    """Give each party ``per_party`` random distinct examples and the same sharing level."""
    if per_party < 1:
        raise PartitionError(f"per_party must be >= 1, got {per_party}")
    _check(n_parties, n_parties * per_party, pool_size)
    order = np.random.default_rng(seed).permutation(pool_size).astype(np.int64)
    return Partition(
        _split_sizes(order, [per_party] * n_parties), (float(level),) * n_parties, "same"
    )


def different_sharing(
    pool_size: int,
    n_parties: int,
    *,
    per_party: int = DEFAULT_PER_PARTY,
    level_range: tuple[float, float] = DIFFERENT_LEVEL_RANGE,
    seed: int,
) -> Partition:
    """Like :func:`same_sharing` but each party's level is drawn from U[level_range]."""
    low, high = level_range
    if not 0 < low <= high <= 1:
        raise PartitionError(f"level_range must satisfy 0 < low <= high <= 1, got {level_range}")
    base = same_sharing(pool_size, n_parties, per_party=per_party, seed=seed)
    # A separate stream so the data split equals same_sharing's for the same seed.
    levels = np.random.default_rng([seed, 1]).uniform(low, high, size=n_parties)
    return Partition(base.indices, tuple(float(v) for v in levels), "different")


def imbalanced(
    pool_size: int,
    n_parties: int,
    *,
    total: int | None = None,
    mode: Literal["authors", "paper"] = "authors",
    level: float = DEFAULT_LEVEL,
    seed: int,
) -> Partition:
    """Split ``total`` examples (default 600 x n) unevenly among the parties.

    Parameters
    ----------
    pool_size : int
        Size of the pool's training split.
    n_parties : int
        Number of parties.
    total : int or None
        Examples handed out in all; None means ``600 * n_parties`` (the paper's
        {2400, 9000, 18000, 30000} for {4, 15, 30, 50} parties).
    mode : {"authors", "paper"}
        ``"authors"``: fractions from U(0.1, 0.9) normalised to sum to 1 (rounding
        remainder to the last parties); ``"paper"``: n - 1 uniform random cut points.
    level : float
        Sharing level of every party.
    seed : int
        Seed.
    """
    total = DEFAULT_PER_PARTY * n_parties if total is None else total
    _check(n_parties, total, pool_size)
    if total < n_parties:
        raise PartitionError(f"total ({total}) must give every one of {n_parties} parties data")
    rng = np.random.default_rng(seed)
    if mode == "authors":
        fractions = rng.uniform(*AUTHORS_FRACTION_RANGE, size=n_parties)
        sizes = np.maximum(np.floor(fractions / fractions.sum() * total).astype(np.int64), 1)
        # Hand the rounding remainder out one by one so the sizes sum to total exactly.
        remainder = total - int(sizes.sum())
        for i in range(remainder):
            sizes[i % n_parties] += 1
    elif mode == "paper":
        cuts = np.sort(rng.choice(np.arange(1, total), size=n_parties - 1, replace=False))
        sizes = np.diff(np.concatenate([[0], cuts, [total]])).astype(np.int64)
    else:
        raise PartitionError(f"unknown imbalanced mode {mode!r}; use 'authors' or 'paper'")
    order = rng.permutation(pool_size).astype(np.int64)
    return Partition(
        _split_sizes(order, [int(s) for s in sizes]), (float(level),) * n_parties, "imbalanced"
    )


def class_imbalanced(
    labels: npt.NDArray[np.int64],
    n_parties: int,
    *,
    per_party: int = DEFAULT_PER_PARTY,
    level: float = DEFAULT_LEVEL,
    num_classes: int = NUM_CLASSES,
    seed: int,
) -> Partition:
    """Non-IID split by class: party i draws ``per_party`` examples from its own class subset.

    Party i sees ``int(linspace(1, num_classes, n_parties)[i])`` classes, as in the CGSV code
    (the first party one class, the last all of them), with examples spread as evenly as
    possible over them. Unlike that code, which always takes the first k classes and samples
    with replacement, the classes are a seeded random subset and examples are never shared
    between parties (so that a small pool does not run out of class 0).
    """
    labels = np.asarray(labels, dtype=np.int64)
    _check(n_parties, n_parties * per_party, len(labels))
    rng = np.random.default_rng(seed)
    remaining = {c: list(rng.permutation(np.flatnonzero(labels == c))) for c in range(num_classes)}
    class_counts = np.linspace(1, num_classes, n_parties).astype(np.int64)
    indices: list[IndexArray] = []
    for party in range(n_parties):
        k = int(class_counts[party])
        classes = np.sort(rng.choice(num_classes, size=k, replace=False))
        quotas = [per_party // k + (1 if j < per_party % k else 0) for j in range(k)]
        chosen: list[int] = []
        for cls, quota in zip(classes, quotas, strict=True):
            pool = remaining[int(cls)]
            if len(pool) < quota:
                raise PartitionError(
                    f"class {int(cls)} has only {len(pool)} unused examples left, party {party} "
                    f"needs {quota}; use fewer parties, a smaller per_party or more data"
                )
            chosen.extend(int(v) for v in pool[:quota])
            del pool[:quota]
        indices.append(np.sort(np.asarray(chosen, dtype=np.int64)))
    return Partition(tuple(indices), (float(level),) * n_parties, "classes")


def make_partition(
    kind: str,
    train: Dataset,
    n_parties: int,
    *,
    seed: int,
    per_party: int = DEFAULT_PER_PARTY,
    imbalance_mode: Literal["authors", "paper"] = "authors",
) -> Partition:
    """Dispatch by name (``same``, ``different``, ``imbalanced``, ``classes``) for CLIs."""
    if kind == "same":
        return same_sharing(len(train), n_parties, per_party=per_party, seed=seed)
    if kind == "different":
        return different_sharing(len(train), n_parties, per_party=per_party, seed=seed)
    if kind == "imbalanced":
        return imbalanced(len(train), n_parties, total=per_party * n_parties, seed=seed,
                          mode=imbalance_mode)
    if kind == "classes":
        return class_imbalanced(train.y, n_parties, per_party=per_party, seed=seed)
    raise PartitionError(f"unknown partition {kind!r}; choose one of {', '.join(PARTITION_KINDS)}")
