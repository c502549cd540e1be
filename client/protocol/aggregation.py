"""Aggregation rules: what a sender puts in a masked vector and how a receiver applies the sum.

The receiver only ever sees the *sum* of what its senders sealed (layer 1 of the onion), so a rule
is a pair of pure functions: ``encode`` (sender side, one dense vector per receiver) and ``apply``
(receiver side, on the decrypted sum). Both rules bound what an aggregate may do to a model and
report every time the bound acted, so a party never silently takes a diverging step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from client.crypto import QuantParams
from client.errors import FppdlError
from trainer.selection import topk_indices

FloatVec = NDArray[np.float32]

#: The rule every entry point uses unless told otherwise.
DEFAULT_RULE = "paper"


class UnknownRule(FppdlError, ValueError):
    """No aggregation rule is registered under that name, or an option is not the rule's."""


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

    def quant_params(self, model_size: int, *, bits: int, max_senders: int) -> QuantParams:
        """Ring and fixed-point layout of the vector (the same for every party of a ledger)."""
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


_RULES: dict[str, Callable[..., AggregationRule]] = {}
_R = TypeVar("_R")


def register_rule(name: str) -> Callable[[type[_R]], type[_R]]:
    """Register a rule class under ``name`` (its dataclass fields are its options)."""

    def decorate(cls: type[_R]) -> type[_R]:
        if name in _RULES:
            raise UnknownRule(f"aggregation rule {name!r} is registered twice")
        _RULES[name] = cls  # type: ignore[assignment]
        return cls

    return decorate


def rule_names() -> tuple[str, ...]:
    """Return the names of every registered rule, in registration order."""
    return tuple(_RULES)


def make_rule(name: str, options: Mapping[str, Any] | None = None) -> AggregationRule:
    """Build the rule registered as ``name`` with ``options`` (each one of its fields).

    Raises
    ------
    UnknownRule
        ``name`` is not registered, or an option is not a field of that rule.
    """
    if name not in _RULES:
        raise UnknownRule(
            f"unknown aggregation rule {name!r}: choose one of {', '.join(rule_names())}"
        )
    factory = _RULES[name]
    allowed = {f.name for f in fields(factory) if f.name != "name"}  # type: ignore[arg-type]
    given = dict(options or {})
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise UnknownRule(
            f"rule {name!r} has no option {', '.join(unknown)}"
            + (f" (its options: {', '.join(sorted(allowed))})" if allowed else "")
        )
    return factory(**given)


@register_rule("paper")
@dataclass(frozen=True)
class PaperRule:
    """Seed 001, Algorithm 2 step 3: ``w' = w + dw_i + sum_j topk(dw_j)``.

    The sum of up to n-1 full local updates can move a model n times further than one local step
    (with the authors' lr 0.15 that diverged in most seeds), so the received sum is scaled down to
    at most ``max_step_ratio`` times the norm of the party's own update of the round.
    """

    max_step_ratio: float = 1.0
    name: str = "paper"

    def __post_init__(self) -> None:
        if not self.max_step_ratio > 0:
            raise UnknownRule(f"max_step_ratio must be > 0, got {self.max_step_ratio}")

    def vector_length(self, model_size: int) -> int:
        """Return ``model_size``: one sparse update vector."""
        return model_size

    def quant_params(self, model_size: int, *, bits: int, max_senders: int) -> QuantParams:
        """Return one fixed-point segment of update values."""
        return QuantParams.for_vector(model_size, bits=bits, max_senders=max_senders)

    def encode(self, *, delta: FloatVec, params: FloatVec, entries: int) -> FloatVec:
        """Return the sender's ``entries`` largest-magnitude update entries, zero elsewhere."""
        out = np.zeros_like(delta, dtype=np.float32)
        if entries > 0:
            idx = topk_indices(delta, entries)
            out[idx] = delta[idx]
        return out

    def apply(
        self, *, params: FloatVec, own_delta: FloatVec, received_sum: FloatVec, senders: int
    ) -> AggregationOutcome:
        """Add the received sum, scaled down to the bound when it is larger."""
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


@register_rule("average")
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
        """Return ``2 * model_size``: values, then the position indicator."""
        return 2 * model_size

    def quant_params(self, model_size: int, *, bits: int, max_senders: int) -> QuantParams:
        """Return a fixed-point value segment and an exact integer indicator segment."""
        return QuantParams.for_values_and_indicator(model_size, bits=bits, max_senders=max_senders)

    def encode(self, *, delta: FloatVec, params: FloatVec, entries: int) -> FloatVec:
        """Return ``[params * indicator, indicator]`` over the top-``entries`` positions."""
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
        """Set each bought position to the mean of the own and the received values."""
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
