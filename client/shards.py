"""A party's data shard on disk and the cut of the MNIST pool into shards.

A shard is what one institution brings: its private training examples, the held-out test split
every party evaluates on, the normalisation they share and the sharing level (the fraction of
|D| it releases as DPGAN samples). The file is the party's private data: mode 0600.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from client.errors import FppdlError
from trainer.data import Dataset, Normalisation, Pool, default_pool
from trainer.partitions import make_partition


class ShardError(FppdlError, ValueError):
    """A data shard file is missing or malformed."""


@dataclass(frozen=True, eq=False)
class Shard:
    """One party's data and sharing level.

    Attributes
    ----------
    train : Dataset
        The party's private training examples (empty for a free-rider).
    test : Dataset
        The held-out test split every party evaluates on.
    normalisation : Normalisation
        Statistics of the pool's training split, shared by every party.
    level : float
        Sharing level: the party releases ``round(level * |D|)`` DPGAN samples.
    """

    train: Dataset
    test: Dataset
    normalisation: Normalisation
    level: float


def write_shard(path: Path, shard: Shard) -> None:
    """Write ``shard`` as one ``.npz`` file (mode 0600: it is the party's private data)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        np.savez(
            fh, x=shard.train.x, y=shard.train.y, test_x=shard.test.x, test_y=shard.test.y,
            mean=np.asarray(shard.normalisation.mean), std=np.asarray(shard.normalisation.std),
            level=np.asarray(shard.level),
        )
    os.replace(tmp, path)


def read_shard(path: Path) -> Shard:
    """Read a file written by :func:`write_shard`."""
    if not path.is_file():
        raise ShardError(f"dataset file {path} does not exist")
    try:
        with np.load(path) as data:
            norm = Normalisation(tuple(float(v) for v in data["mean"]),
                                 tuple(float(v) for v in data["std"]))
            return Shard(
                Dataset(data["x"].astype(np.float32), data["y"].astype(np.int64), "shard"),
                Dataset(data["test_x"].astype(np.float32), data["test_y"].astype(np.int64),
                        "test"),
                norm,
                float(data["level"]),
            )
    except (OSError, KeyError, ValueError) as exc:
        raise ShardError(f"{path} is not an fppdl data shard: {exc}") from None


def make_shards(
    *,
    parties: int,
    setting: str,
    per_party: int,
    seed: int,
    test_size: int = 1000,
    mnist_dir: str | None = None,
    pool: Pool | None = None,
) -> list[Shard]:
    """Cut the MNIST pool into ``parties`` shards with the paper's partition ``setting``."""
    pool = pool or default_pool(test_size=test_size, seed=seed, mnist_dir=mnist_dir)
    partition = make_partition(setting, pool.train, parties, seed=seed, per_party=per_party)
    return [
        Shard(partition.party_data(pool.train, i), pool.test, pool.normalisation,
              float(partition.levels[i]))
        for i in range(parties)
    ]


def free_rider_shard(test: Dataset, normalisation: Normalisation, level: float) -> Shard:
    """Return the shard of a party that has no data (it only claims a size)."""
    empty = Dataset(np.zeros((0, *test.x.shape[1:]), np.float32), np.zeros(0, np.int64), "none")
    return Shard(empty, test, normalisation, level)
