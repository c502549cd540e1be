"""What every baseline shares: the experiment description, the result, seeding, pretraining.

Baselines are parameter-server algorithms: they run in memory, with no chain or storage.
Each party's model starts from the same ``w0`` (``torch.manual_seed(seed)`` before
:func:`trainer.models.build_model`), as in the paper.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from trainer.config import TrainConfig
from trainer.data import Dataset, Pool
from trainer.errors import TrainingConfigError
from trainer.models import FloatVector, build_model, get_flat, set_flat
from trainer.partitions import Partition
from trainer.training import evaluate, set_torch_threads, train_local


@dataclass(frozen=True, eq=False)
class Experiment:
    """One baseline run: model, data, partition, settings.

    Attributes
    ----------
    model : str
        ``"mlp"`` or ``"cnn"``.
    pool : Pool
        Normalised train/test data; parties index ``pool.train``.
    partition : Partition
        Per-party indices and sharing levels.
    config : TrainConfig
        Local-training settings.
    rounds : int
        Communication rounds (each is ``config.local_epochs`` local epochs per party).
    seed : int
        Seeds w0 and every party's shuffling.
    progress : bool
        Show a tqdm progress bar over rounds.
    train_seed : callable, optional
        ``train_seed(party, round_)`` gives the shuffling seed of party ``party``'s training
        in round ``round_`` (0 is the pretraining); by default :func:`party_seed`. An
        experiment that compares a baseline with the protocol passes the protocol parties'
        seeds here, so both train on the same example order.
    """

    model: str
    pool: Pool
    partition: Partition
    config: TrainConfig = field(default_factory=TrainConfig)
    rounds: int = 10
    seed: int = 0
    progress: bool = False
    train_seed: Callable[[int, int], int] | None = None

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise TrainingConfigError(f"rounds must be >= 1, got {self.rounds}")

    @property
    def n_parties(self) -> int:
        """Number of parties in the partition."""
        return self.partition.n_parties

    def party_data(self, party: int) -> Dataset:
        """Party ``party``'s local training data."""
        return self.partition.party_data(self.pool.train, party)

    def initial_model(self) -> nn.Module:
        """Return the common initial model w0 (same weights on every call)."""
        set_torch_threads(self.config.threads)
        torch.manual_seed(self.seed)
        return build_model(self.model, self.pool.train.input_shape)

    def train(self, model: nn.Module, party: int, round_: int, epochs: int) -> None:
        """Train ``model`` on party ``party``'s data with a seed unique to (party, round)."""
        train_local(
            model,
            self.party_data(party),
            epochs=epochs,
            lr=self.config.lr,
            batch_size=self.config.batch_size,
            seed=self.seed_of(party, round_),
            lr_decay=self.config.lr_decay,
        )

    def seed_of(self, party: int, round_: int) -> int:
        """Return the shuffling seed of party ``party``'s training in round ``round_``."""
        if self.train_seed is not None:
            return self.train_seed(party, round_)
        return party_seed(self.seed, party, round_)

    def accuracy(self, model: nn.Module) -> float:
        """Test accuracy on the pool's held-out split."""
        return evaluate(model, self.pool.test).accuracy

    def round_iter(self, name: str) -> Iterator[int]:
        """Return rounds 1..rounds, wrapped in a progress bar when asked for."""
        rounds: Iterable[int] = range(1, self.rounds + 1)
        if self.progress:
            rounds = tqdm(rounds, desc=name, unit="round", leave=False)
        yield from rounds


@dataclass(frozen=True)
class BaselineResult:
    """Outcome of a baseline run.

    Attributes
    ----------
    name : str
        The baseline.
    party_accuracies : tuple of float
        Final test accuracy of each party's model.
    curves : tuple of tuple of float
        ``curves[i][r]`` is party i's test accuracy after round ``r + 1``.
    standalone_accuracies : tuple of float
        Each party's accuracy after ``pretrain_epochs`` alone (the contribution measure
        "standalone accuracy"); empty when the baseline does not pretrain.
    """

    name: str
    party_accuracies: tuple[float, ...]
    curves: tuple[tuple[float, ...], ...]
    standalone_accuracies: tuple[float, ...] = ()

    @property
    def best_accuracy(self) -> float:
        """The highest final accuracy of any party (the paper reports this)."""
        return max(self.party_accuracies)


def party_seed(seed: int, party: int, round_: int) -> int:
    """Derive an independent 63-bit seed for one party's training in one round."""
    state = np.random.SeedSequence([seed, party, round_]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))


def pretrain_parties(exp: Experiment, w0: FloatVector) -> tuple[list[nn.Module], list[float]]:
    """Train every party alone from ``w0`` for ``pretrain_epochs``; return models and accuracies."""
    models: list[nn.Module] = []
    accuracies: list[float] = []
    for party in range(exp.n_parties):
        model = exp.initial_model()
        set_flat(model, w0)
        if exp.config.pretrain_epochs:
            exp.train(model, party, 0, exp.config.pretrain_epochs)
        models.append(model)
        accuracies.append(exp.accuracy(model))
    return models, accuracies


def w0_of(exp: Experiment) -> FloatVector:
    """Return the flat initial parameter vector shared by all parties."""
    return get_flat(exp.initial_model())


def transpose(per_round: list[list[float]]) -> tuple[tuple[float, ...], ...]:
    """Turn a list over rounds of per-party values into per-party curves."""
    return tuple(tuple(row[p] for row in per_round) for p in range(len(per_round[0])))
