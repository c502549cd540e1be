"""Standalone and centralized baselines: no collaboration, and all data pooled."""

from __future__ import annotations

import numpy as np

from trainer.baselines.common import (
    BaselineResult,
    Experiment,
    pretrain_parties,
    transpose,
    w0_of,
)
from trainer.data import Dataset
from trainer.models import set_flat
from trainer.training import train_local


def run_standalone(exp: Experiment) -> BaselineResult:
    """Each party trains alone: ``pretrain_epochs``, then ``rounds`` x ``local_epochs``."""
    models, standalone = pretrain_parties(exp, w0_of(exp))
    per_round: list[list[float]] = []
    for round_ in exp.round_iter("standalone"):
        row = []
        for party, model in enumerate(models):
            exp.train(model, party, round_, exp.config.local_epochs)
            row.append(exp.accuracy(model))
        per_round.append(row)
    return BaselineResult("standalone", tuple(per_round[-1]), transpose(per_round),
                          tuple(standalone))


def run_centralized(exp: Experiment) -> BaselineResult:
    """One model trained on the union of all parties' data (same epoch budget as standalone).

    Every party "gets" that one model, so all party accuracies are equal.
    """
    model = exp.initial_model()
    set_flat(model, w0_of(exp))
    union = np.concatenate(exp.partition.indices)
    data: Dataset = exp.pool.train.subset(union, name="centralized")

    def train(epochs: int, round_: int) -> None:
        train_local(model, data, epochs=epochs, lr=exp.config.lr,
                    batch_size=exp.config.batch_size, seed=exp.seed * 1_000_003 + round_,
                    lr_decay=exp.config.lr_decay)

    if exp.config.pretrain_epochs:
        train(exp.config.pretrain_epochs, 0)
    per_round: list[list[float]] = []
    for round_ in exp.round_iter("centralized"):
        train(exp.config.local_epochs, round_)
        per_round.append([exp.accuracy(model)] * exp.n_parties)
    return BaselineResult("centralized", tuple(per_round[-1]), transpose(per_round))
