"""Distributed selective SGD (Shokri & Shmatikov, CCS'15) with the round-robin protocol.

A parameter server holds the global vector (w0 at the start) and, per coordinate, how often
it was updated. Each round the parties take turns in a fixed order: download the
``theta_d`` fraction of most-updated global parameters into the local model, train
``local_epochs``, and upload the ``theta_u`` fraction of the local change with the largest
magnitude ("largest values"), which the server adds to the global vector. The last party of
a round sees everybody's uploads, which is why the protocol is unfair (seed 001, 5.2).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trainer.baselines.common import BaselineResult, Experiment, transpose, w0_of
from trainer.errors import TrainingConfigError
from trainer.models import get_flat, set_flat
from trainer.selection import count_for_fraction, topk_indices

DEFAULT_THETA_U = 0.1
DEFAULT_THETA_D = 1.0


def run_dssgd(
    exp: Experiment,
    *,
    theta_u: float | Sequence[float] = DEFAULT_THETA_U,
    theta_d: float = DEFAULT_THETA_D,
) -> BaselineResult:
    """Run round-robin DSSGD; returns each party's local-model accuracy per round.

    Parameters
    ----------
    exp : Experiment
        The setup; parties start from w0 (pretraining is skipped: a full download would
        overwrite it).
    theta_u : float or sequence of float
        Upload rate, fraction of the local change shared (paper: 0.1); one rate per party
        (e.g. the sharing levels of the ``different`` setting) when a sequence.
    theta_d : float
        Download rate, fraction of the global parameters fetched (most-updated first).
    """
    rates = ([float(theta_u)] * exp.n_parties if isinstance(theta_u, int | float)
             else [float(t) for t in theta_u])
    if len(rates) != exp.n_parties:
        raise TrainingConfigError(f"need one upload rate per party ({exp.n_parties}), got "
                                  f"{len(rates)}")
    if not (all(0 < t <= 1 for t in rates) and 0 < theta_d <= 1):
        raise TrainingConfigError(f"theta_u and theta_d must lie in (0, 1], got {theta_u}, "
                                  f"{theta_d}")
    w0 = w0_of(exp)
    global_w = w0.astype(np.float64)
    update_counts = np.zeros(w0.shape[0], dtype=np.int64)
    models = []
    for _ in range(exp.n_parties):
        model = exp.initial_model()
        set_flat(model, w0)
        models.append(model)
    n_up = [count_for_fraction(w0.shape[0], t) for t in rates]
    n_down = count_for_fraction(w0.shape[0], theta_d)
    per_round: list[list[float]] = []
    for round_ in exp.round_iter("dssgd"):
        for party, model in enumerate(models):
            local = get_flat(model)
            if n_down == w0.shape[0]:
                local = global_w.astype(np.float32)
            else:
                chosen = topk_indices(update_counts.astype(np.float64), n_down)
                local[chosen] = global_w[chosen]
            set_flat(model, local)
            exp.train(model, party, round_, exp.config.local_epochs)
            delta = get_flat(model) - local
            selected = topk_indices(delta, n_up[party])
            global_w[selected] += delta[selected]
            update_counts[selected] += 1
        per_round.append([exp.accuracy(m) for m in models])
    return BaselineResult("dssgd", tuple(per_round[-1]), transpose(per_round))
