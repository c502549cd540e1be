"""Aggregation rules: what a sender puts in a masked vector and how a receiver applies the sum.

The receiver only ever sees the *sum* of what its senders sealed (layer 1 of the onion), so a rule
is a pair of pure functions: ``encode`` (sender side, one dense vector per receiver) and ``apply``
(receiver side, on the decrypted sum). Both rules bound what an aggregate may do to a model and
report every time the bound acted, so a party never silently takes a diverging step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from trainer.selection import topk_indices

FloatVec = NDArray[np.float32]


@dataclass(frozen=True)
class AggregationOutcome:
    """The new parameters and what the rule had to do to get them."""

    params: FloatVec
    positions_updated: int
    clipped: bool
    rejected: bool
    note: str = ""


class AggregationRule(Protocol):
    """Sender encoding and receiver update of one aggregation strategy."""

    @property
    def name(self) -> str:
        """Name of the rule in configuration files and reports."""
        ...

    def vector_length(self, model_size: int) -> int:
        """Length of the dense vector a sender seals for a model of ``model_size`` parameters."""
        ...

    def encode(self, *, delta: FloatVec, params: FloatVec, entries: int) -> FloatVec:
        """Dense vector that sender sends to one receiver who bought ``entries`` entries."""
        ...

    def apply(
        self, *, params: FloatVec, own_delta: FloatVec, received_sum: FloatVec, senders: int
    ) -> AggregationOutcome:
        """Return new parameters of the receiver, ``params`` already including ``own_delta``."""
        ...


def _finite(vec: FloatVec) -> bool:
    return bool(np.isfinite(vec).all())


@dataclass(frozen=True)
class PaperRule:
    """Seed 001, Algorithm 2 step 3: ``w' = w + dw_i + sum_j topk(dw_j)``.

    The sum of up to n-1 full local updates can move a model n times further than one local step
    (with the authors' lr 0.15 that diverged in most seeds), so the received sum is scaled down to
    at most ``max_step_ratio`` times the norm of the party's own update of the round.
    """

    max_step_ratio: float = 1.0
    name: str = "paper"

    def vector_length(self, model_size: int) -> int:
        return model_size

    def encode(self, *, delta: FloatVec, params: FloatVec, entries: int) -> FloatVec:
        out = np.zeros_like(delta, dtype=np.float32)
        if entries > 0:
            idx = topk_indices(delta, entries)
            out[idx] = delta[idx]
        return out

    def apply(
        self, *, params: FloatVec, own_delta: FloatVec, received_sum: FloatVec, senders: int
    ) -> AggregationOutcome:
        if received_sum.shape != params.shape or not _finite(received_sum):
            return AggregationOutcome(params, 0, False, True, "aggregate malformed or not finite")
        step = received_sum.astype(np.float32)
        bound = self.max_step_ratio * float(np.linalg.norm(own_delta))
        norm = float(np.linalg.norm(step))
        clipped = norm > bound
        if clipped:
            step = step * np.float32(bound / norm) if norm > 0 else step
        updated = int(np.count_nonzero(received_sum))
        note = f"aggregate norm {norm:.4g} clipped to {bound:.4g}" if clipped else ""
        return AggregationOutcome((params + step).astype(np.float32), updated, clipped, False, note)


@dataclass(frozen=True)
class AverageRule:
    """Position-wise averaging of parameters on the positions the senders chose to sell.

    A sender seals ``[params * indicator, indicator]`` where the indicator marks its ``entries``
    largest-magnitude update positions; the receiver learns only per-position sums and counts and
    sets each bought position to the mean of its own value and the received ones. A mean of model
    parameters is bounded by construction; counts outside [0, senders] mean a corrupt aggregate.
    """

    name: str = "average"

    def vector_length(self, model_size: int) -> int:
        return 2 * model_size

    def encode(self, *, delta: FloatVec, params: FloatVec, entries: int) -> FloatVec:
        size = params.shape[0]
        out = np.zeros(2 * size, dtype=np.float32)
        if entries > 0:
            idx = topk_indices(delta, entries)
            out[idx] = params[idx]
            out[size + idx] = 1.0
        return out

    def apply(
        self, *, params: FloatVec, own_delta: FloatVec, received_sum: FloatVec, senders: int
    ) -> AggregationOutcome:
        size = params.shape[0]
        if received_sum.shape != (2 * size,) or not _finite(received_sum):
            return AggregationOutcome(params, 0, False, True, "aggregate malformed or not finite")
        sums, counts_f = received_sum[:size], received_sum[size:]
        counts = np.rint(counts_f)
        if (
            np.abs(counts - counts_f).max(initial=0.0) > 1e-3
            or counts.min(initial=0.0) < 0
            or counts.max(initial=0.0) > senders
        ):
            return AggregationOutcome(params, 0, False, True, "position counts out of range")
        bought = counts > 0
        out = params.astype(np.float32).copy()
        out[bought] = (params[bought] + sums[bought]) / (1.0 + counts[bought])
        return AggregationOutcome(out, int(bought.sum()), False, False)


def rule_by_name(name: str, *, max_step_ratio: float = 1.0) -> AggregationRule:
    """Return the aggregation rule called ``name`` (``paper`` or ``average``)."""
    if name == "paper":
        return PaperRule(max_step_ratio=max_step_ratio)
    if name == "average":
        return AverageRule()
    raise ValueError(f"unknown aggregation rule {name!r}: choose 'paper' or 'average'")
