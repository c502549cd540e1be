"""Cosine-gradient Shapley value (CGSV, Xu et al., NeurIPS 2021; seed 003).

This follows the authors' code.

Per round: each party trains from its current model and its update ``u_i`` is rescaled to
norm ``gamma``; the server aggregates ``g = sum_i r_i u_i`` with the reputations ``r`` (data-size
weights in the first round, when all reputations are still zero);
``phi_i = cos(u_i, g)``; ``r <- 0.95 r + 0.05 phi``, clamped below at 1e-3 and renormalised
to sum to 1; party i's reward share is ``q_i = tanh(beta r_i) / max_j tanh(beta r_j)`` and
it downloads the top ``q_i`` fraction (by magnitude, per layer) of ``g``, which it adds to
its model from before the round (the local training itself is reverted, as in the authors'
code; per layer ``ceil(q_i * layer size)`` entries). All parties start from w0 as in the
authors' code; the standalone (pretrained) accuracies are computed separately, for the
fairness report only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from trainer.baselines.common import (
    BaselineResult,
    Experiment,
    pretrain_parties,
    transpose,
    w0_of,
)
from trainer.errors import TrainingConfigError
from trainer.models import add_flat, get_flat, layer_slices, set_flat
from trainer.selection import topk_dense

REPUTATION_MOMENTUM = 0.95
REPUTATION_FLOOR = 1e-3
DEFAULT_BETA = 1.0
DEFAULT_GAMMA = 0.5


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b)) / denom if denom > 0 else 0.0


def reward_shares(reputation: np.ndarray, beta: float) -> np.ndarray:
    """``q_i = tanh(beta r_i) / max_j tanh(beta r_j)``: the fraction of g party i receives."""
    scaled = np.tanh(beta * reputation)
    return scaled / scaled.max()


def update_reputation(reputation: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """``r <- 0.95 r + 0.05 phi``, clamped at 1e-3 and renormalised to sum to 1."""
    r = REPUTATION_MOMENTUM * reputation + (1 - REPUTATION_MOMENTUM) * phi
    r = np.maximum(r, REPUTATION_FLOOR)
    return r / r.sum()


def run_cgsv(
    exp: Experiment,
    *,
    beta: float = DEFAULT_BETA,
    gamma: float = DEFAULT_GAMMA,
    standalone: Sequence[float] | None = None,
) -> BaselineResult:
    """Run CGSV; returns each party's model accuracy per round and standalone accuracies.

    Parameters
    ----------
    exp : Experiment
        The setup.
    beta : float
        Altruism degree: larger beta gives low-reputation parties a larger share of g.
    gamma : float
        Norm every party's update is rescaled to before aggregation.
    standalone : sequence of float, optional
        The parties' standalone accuracies when the caller has them (a sweep over beta);
        by default they are computed by pretraining each party, which CGSV itself never uses.
    """
    if not beta > 0 or not gamma > 0:
        raise TrainingConfigError(f"beta and gamma must be > 0, got {beta}, {gamma}")
    w0 = w0_of(exp)
    if standalone is None:
        _, standalone = pretrain_parties(exp, w0)
    # All agents start from w0, as in the authors' code: with equal rewards they then hold
    # the same model, like FedAvg; starting from different pretrained models they never
    # merge and the normalised aggregate steps oscillate.
    models = []
    for _ in range(exp.n_parties):
        model = exp.initial_model()
        set_flat(model, w0)
        models.append(model)
    slices = layer_slices(models[0])
    n = exp.n_parties
    # As in the authors' code: reputations start at zero and the first round aggregates
    # with data-size weights (FedAvg), later rounds with the reputations.
    reputation = np.zeros(n)
    sizes = np.asarray(exp.partition.sizes, dtype=np.float64)
    weights = sizes / sizes.sum()
    per_round: list[list[float]] = []
    for round_ in exp.round_iter("cgsv"):
        updates = []
        starts = []
        for party, model in enumerate(models):
            start = get_flat(model)
            exp.train(model, party, round_, exp.config.local_epochs)
            update = (get_flat(model) - start).astype(np.float64)
            norm = float(np.linalg.norm(update))
            updates.append(update * (gamma / norm) if norm > 0 else update)
            starts.append(start)
        aggregate = np.sum([w * u for w, u in zip(weights, updates, strict=True)], axis=0)
        phi = np.asarray([_cosine(u, aggregate) for u in updates])
        reputation = update_reputation(reputation, phi)
        weights = reputation
        shares = reward_shares(reputation, beta)
        for party, model in enumerate(models):
            reward = np.zeros_like(aggregate, dtype=np.float32)
            for s in slices:
                layer = aggregate[s]
                count = min(len(layer), math.ceil(len(layer) * float(shares[party])))
                reward[s] = topk_dense(layer, count)
            set_flat(model, starts[party])
            add_flat(model, reward)
        per_round.append([exp.accuracy(m) for m in models])
    return BaselineResult("cgsv", tuple(per_round[-1]), transpose(per_round), tuple(standalone))
