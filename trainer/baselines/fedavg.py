"""FedAvg (McMahan et al.).

Every round each party trains the global model locally and the server replaces it by the
data-size-weighted average. Every party ends with the same model.
"""

from __future__ import annotations

import numpy as np

from trainer.baselines.common import BaselineResult, Experiment, transpose, w0_of
from trainer.models import get_flat, set_flat


def run_fedavg(exp: Experiment) -> BaselineResult:
    """Run FedAvg from w0 for ``exp.rounds`` rounds of ``local_epochs`` local epochs."""
    global_w = w0_of(exp)
    weights = np.asarray(exp.partition.sizes, dtype=np.float64)
    weights /= weights.sum()
    model = exp.initial_model()
    per_round: list[list[float]] = []
    for round_ in exp.round_iter("fedavg"):
        average = np.zeros(global_w.shape[0], dtype=np.float64)
        for party in range(exp.n_parties):
            set_flat(model, global_w)
            exp.train(model, party, round_, exp.config.local_epochs)
            average += weights[party] * get_flat(model)
        global_w = average.astype(np.float32)
        set_flat(model, global_w)
        per_round.append([exp.accuracy(model)] * exp.n_parties)
    return BaselineResult("fedavg", tuple(per_round[-1]), transpose(per_round))
