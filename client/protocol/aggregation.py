"""Aggregation rules: what a sender puts in a masked vector and how a receiver applies the sum.

The receiver only ever sees the *sum* of what its senders sealed (layer 1 of the onion), so a rule
is a pair of pure functions: ``encode`` (sender side, one dense vector per receiver) and ``apply``
(receiver side, on the decrypted sum). Both rules bound what an aggregate may do to a model and
report every time the bound acted, so a party never silently takes a diverging step.
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from hashlib import sha256
from typing import Any, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from client.crypto import QuantParams, seeded_random
from client.errors import FppdlError
from trainer.selection import topk_indices

FloatVec = NDArray[np.float32]

#: The rule every entry point uses unless told otherwise (the market rule at the settings the
#: clear-sum sweep chose: see :class:`PrecisionRule` and docs/design/rules.md).
DEFAULT_RULE = "precision"


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


@dataclass(frozen=True)
class Registration:
    """What the ledger's registration says about one party (public, integers)."""

    data_size: int
    samples_released: int

    def __post_init__(self) -> None:
        if not 0 < self.samples_released <= self.data_size:
            raise UnknownRule(
                f"need 0 < samples_released <= data_size, got {self.samples_released} and "
                f"{self.data_size}"
            )

    def upload_cap(self, model_size: int) -> int:
        """``floor(u |w| / |D|)``: the most points (entries) the party sells one requester."""
        return min(model_size, self.samples_released * model_size // self.data_size)


@dataclass(frozen=True)
class RuleContext:
    """Public facts about one sender-to-receiver vector that a rule may use.

    The Party builds one per (round, receiver) and, when encoding, adds the sender: every
    sender to that receiver and the receiver itself derive the same position set from it.

    Attributes
    ----------
    epoch : int
        The round (>= 1).
    receiver : bytes
        The receiver's 20-byte address.
    domain : bytes
        Public bytes that identify the consortium (the Party passes the 32-byte big-endian
        chain id followed by the 20-byte ledger address), so two ledgers never share sets.
    receiver_info : Registration or None
        The receiver's registration.
    sender_info : Registration or None
        When encoding: the registration of the sender writing the vector.
    senders_info : tuple of Registration
        When applying: the registrations of the senders whose vectors were summed.
    noise_seed : bytes or None
        When encoding with a noisy rule: the sender's secret seed of this message's noise.
    """

    epoch: int
    receiver: bytes
    domain: bytes
    receiver_info: Registration | None = None
    sender_info: Registration | None = None
    senders_info: tuple[Registration, ...] = ()
    noise_seed: bytes | None = None

    def __post_init__(self) -> None:
        if self.epoch < 0 or len(self.receiver) != 20 or not self.domain:
            raise UnknownRule(
                "a rule context needs epoch >= 0, a 20-byte receiver and a non-empty domain"
            )

    def seed(self, label: bytes, *, per_round: bool = True) -> bytes:
        """Return a 32-byte seed of this context (of its round too if ``per_round``)."""
        epoch = self.epoch if per_round else 0
        parts = (b"fppdl/rule/v1", label, self.domain, struct.pack(">Q", epoch),
                 self.receiver)
        return sha256(b"".join(struct.pack(">I", len(p)) + p for p in parts)).digest()


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

    def encode(
        self, *, delta: FloatVec, params: FloatVec, entries: int,
        context: RuleContext | None = None,
    ) -> FloatVec:
        """Dense vector that sender sends to one receiver who paid ``entries`` points."""
        ...

    def apply(
        self, *, params: FloatVec, own_delta: FloatVec, received_sum: FloatVec, senders: int,
        context: RuleContext | None = None,
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

    def encode(
        self, *, delta: FloatVec, params: FloatVec, entries: int,
        context: RuleContext | None = None,
    ) -> FloatVec:
        """Return the sender's ``entries`` largest-magnitude update entries, zero elsewhere."""
        out = np.zeros_like(delta, dtype=np.float32)
        if entries > 0:
            idx = topk_indices(delta, entries)
            out[idx] = delta[idx]
        return out

    def apply(
        self, *, params: FloatVec, own_delta: FloatVec, received_sum: FloatVec, senders: int,
        context: RuleContext | None = None,
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

    def encode(
        self, *, delta: FloatVec, params: FloatVec, entries: int,
        context: RuleContext | None = None,
    ) -> FloatVec:
        """Return ``[params * indicator, indicator]`` over the top-``entries`` positions."""
        size = params.shape[0]
        out = np.zeros(2 * size, dtype=np.float32)
        if entries > 0:
            idx = topk_indices(delta, entries)
            out[idx] = params[idx]
            out[size + idx] = 1.0
        return out

    def apply(
        self, *, params: FloatVec, own_delta: FloatVec, received_sum: FloatVec, senders: int,
        context: RuleContext | None = None,
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


#: What a :class:`MarketRule` sender sells at each chosen position.
PAYLOADS = ("delta", "params")
#: How a :class:`MarketRule` sender chooses the positions it sells.
POSITION_MODES = ("top", "common", "fixed")
#: How a :class:`MarketRule` receiver weights the sellers of one position.
WEIGHTINGS = ("count", "size")
#: Size weights are carried as ``data_size / SIZE_SCALE`` in the value segment (a power of two,
#: so the scaling is exact) and as the integer ``data_size`` in the indicator segment.
SIZE_SCALE = 1024
#: Noise draws are clipped at this many standard deviations.
NOISE_CLIP = 4.0


@functools.lru_cache(maxsize=64)
def common_order(seed: bytes, size: int) -> NDArray[np.int64]:
    """Return a permutation of ``range(size)`` derived from ``seed`` alone (read-only).

    Position ``p`` gets the 64-bit key at offset ``8 p`` of the AES-CTR stream of ``seed``;
    positions sorted by key (ties by index) give the order. Every party computes the same
    order from the same public seed, whatever its numpy version.
    """
    if size < 0:
        raise UnknownRule(f"size must be >= 0, got {size}")
    keys = np.frombuffer(seeded_random(seed)(8 * size), dtype="<u8")
    order = np.argsort(keys, kind="stable").astype(np.int64)
    order.setflags(write=False)
    return order


@register_rule("market")
@dataclass(frozen=True)
class MarketRule:
    """Sparse position-wise mean of what the receiver bought, own values included.

    A sender seals ``[weight * payload * indicator, weight * indicator]`` over ``k`` positions:

    * ``k = floor(entries_per_point * cap * (points / cap) ** price_exponent)`` for a payment
      of ``points`` (``cap`` is the sender's upload cap ``floor(level |w|)``; with exponent 1
      this is ``floor(entries_per_point * points)``), at most the model size;
    * ``payload="delta"`` sells the round update ``dw_j``, ``"params"`` the parameters ``w_j``;
    * ``positions="top"`` picks the sender's ``k`` largest-magnitude update entries;
      ``"common"`` the first ``k`` positions of an order derived from the round and the
      receiver (:func:`common_order`), so all senders to one receiver sell nested subsets of
      the same positions; ``"fixed"`` the same but from the receiver alone (the same positions
      every round);
    * ``weighting="count"``: weight 1; ``"size"``: the sender's registered data size (carried
      as ``size / SIZE_SCALE`` on the values and as the integer size on the indicator).

    The receiver learns per-position weighted sums ``S`` and total weights ``m`` and, at every
    bought position, replaces its own value ``x`` by ``(a x + S) / (a + m)`` where ``a`` is
    ``own_weight`` (times its own data size when weighting by size); for deltas its own update
    at that position becomes the mean update. Unbought positions keep the own update.

    Bounds: the weights must be integers in ``[0, senders]`` (count) or ``[0, sum of the
    senders' sizes]`` (size); the change of the model relative to ``params`` is scaled down to
    ``max_step_ratio`` times the norm of the own update (deltas) or ``max_change_ratio`` times
    the norm of ``params`` (parameters); malformed or non-finite sums are rejected.
    """

    payload: str = "params"
    positions: str = "top"
    weighting: str = "count"
    entries_per_point: float = 1.0
    price_exponent: float = 1.0
    quantity: str = "points"
    noise: float = 0.0
    noise_curve: str = "inverse"
    discount_noisy: float = 0.0
    noise_dist: str = "gauss"
    noise_fixed: bool = False
    own_weight: float = 1.0
    max_step_ratio: float = 4.0
    max_change_ratio: float = 0.5
    name: str = "market"

    def __post_init__(self) -> None:
        for option, allowed in (("payload", PAYLOADS), ("positions", POSITION_MODES),
                                ("weighting", WEIGHTINGS)):
            if getattr(self, option) not in allowed:
                raise UnknownRule(
                    f"{option} must be one of {', '.join(allowed)}, got {getattr(self, option)!r}"
                )
        for option in ("entries_per_point", "price_exponent", "max_step_ratio",
                       "max_change_ratio"):
            value = getattr(self, option)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise UnknownRule(f"{option} must be a finite number > 0, got {value!r}")
        for option in ("own_weight", "noise", "discount_noisy"):
            value = getattr(self, option)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise UnknownRule(f"{option} must be a finite number >= 0, got {value!r}")
        if self.quantity not in ("points", "cap"):
            raise UnknownRule(f"quantity must be 'points' or 'cap', got {self.quantity!r}")
        if self.noise_curve not in ("inverse", "linear"):
            raise UnknownRule(
                f"noise_curve must be 'inverse' or 'linear', got {self.noise_curve!r}"
            )

    def noise_scale(self, points: int, cap: int | None) -> float:
        """Relative noise on what ``points`` buy: ``noise * (cap / points - 1)`` (0 at the cap)."""
        if self.noise == 0 or points <= 0:
            return 0.0
        if cap is None:
            raise UnknownRule("a noisy rule needs the sender's registration")
        if self.noise_curve == "linear":
            return self.noise * max(0.0, 1.0 - points / cap)
        return self.noise * max(0.0, cap / points - 1.0)

    def vector_length(self, model_size: int) -> int:
        """Return ``2 * model_size``: values, then the position weights."""
        return 2 * model_size

    def quant_params(self, model_size: int, *, bits: int, max_senders: int) -> QuantParams:
        """Return a fixed-point value segment and an exact integer weight segment."""
        return QuantParams.for_values_and_indicator(model_size, bits=bits, max_senders=max_senders)

    def entries_for(self, points: int, model_size: int, cap: int | None = None) -> int:
        """Return how many positions ``points`` buy from a sender whose upload cap is ``cap``."""
        if points < 0:
            raise UnknownRule(f"points must be >= 0, got {points}")
        if self.quantity == "cap" and points > 0:
            if cap is None:
                raise UnknownRule("quantity='cap' needs the sender's registration")
            return min(model_size, math.floor(self.entries_per_point * cap))
        if self.price_exponent == 1:
            return min(model_size, math.floor(self.entries_per_point * points))
        if cap is None:
            raise UnknownRule("a price exponent other than 1 needs the sender's registration")
        if cap <= 0 or points == 0:
            return 0
        share = min(1.0, points / cap)
        return min(model_size,
                   math.floor(self.entries_per_point * cap * share ** self.price_exponent))

    def chosen_positions(
        self, delta: FloatVec, count: int, context: RuleContext | None
    ) -> NDArray[np.int64]:
        """Return the ``count`` positions a sender sells (see the class docstring)."""
        if self.positions == "top":
            return topk_indices(delta, count)
        if context is None:
            raise UnknownRule(f"positions={self.positions!r} needs the round's RuleContext")
        seed = context.seed(b"positions", per_round=self.positions == "common")
        return common_order(seed, int(delta.shape[0]))[:count]

    def _sender_weight(self, context: RuleContext | None, relative_noise: float) -> int:
        if self.weighting == "count":
            return 1
        if context is None or context.sender_info is None:
            raise UnknownRule("weighting='size' needs the sender's registration")
        size = context.sender_info.data_size
        if self.discount_noisy:
            # A copy with relative noise s counts as 1 / (1 + d s^2) of a clean one.
            return max(1, round(size / (1.0 + self.discount_noisy * relative_noise**2)))
        return size

    def encode(
        self, *, delta: FloatVec, params: FloatVec, entries: int,
        context: RuleContext | None = None,
    ) -> FloatVec:
        """Return ``[weight * payload * indicator, weight * indicator]`` (class docstring)."""
        size = params.shape[0]
        if delta.shape != params.shape:
            raise UnknownRule(f"delta {delta.shape} and params {params.shape} differ in shape")
        out = np.zeros(2 * size, dtype=np.float32)
        info = None if context is None else context.sender_info
        cap = None if info is None else info.upload_cap(size)
        count = self.entries_for(entries, size, cap)
        if count > 0:
            relative = self.noise_scale(entries, cap)
            weight = self._sender_weight(context, relative)
            idx = self.chosen_positions(delta, count, context)
            source = delta if self.payload == "delta" else params
            scale = np.float32(1.0 if self.weighting == "count" else weight / SIZE_SCALE)
            values = source[idx].astype(np.float32)
            if relative > 0:
                if context is None or context.noise_seed is None:
                    raise UnknownRule("a noisy rule needs the sender's noise seed")
                xi = self._noise(context, count)
                values = values * (1 + relative * xi).astype(np.float32)
            out[idx] = values * scale
            out[size + idx] = float(weight)
        return out

    def _noise(self, context: RuleContext, count: int) -> NDArray[np.float64]:
        """Return ``count`` unit-variance draws from the sender's secret seed."""
        assert context.noise_seed is not None
        epoch = 0 if self.noise_fixed else context.epoch
        seed = sha256(context.noise_seed + struct.pack(">Q", epoch)).digest()
        rng = np.random.default_rng(int.from_bytes(seed[:16], "big"))
        if self.noise_dist == "uniform":
            return rng.uniform(-math.sqrt(3.0), math.sqrt(3.0), count)
        # Clipped at NOISE_CLIP standard deviations so a sold value stays within a known bound.
        return np.clip(rng.standard_normal(count), -NOISE_CLIP, NOISE_CLIP)

    def _weights(
        self, received_sum: FloatVec, size: int, senders: int, context: RuleContext | None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], float] | str:
        """Return (weighted sums, total weights, own weight) or why the sum is malformed."""
        if received_sum.shape != (2 * size,) or not _finite(received_sum):
            return "aggregate malformed or not finite"
        if self.weighting == "count":
            limit, own, unit = float(senders), self.own_weight, 1.0
        else:
            if context is None or context.receiver_info is None or not context.senders_info:
                return "weighting by size needs the receiver's and the senders' registrations"
            limit = float(sum(r.data_size for r in context.senders_info))
            own = self.own_weight * context.receiver_info.data_size
            unit = float(SIZE_SCALE)
        weights_f = received_sum[size:].astype(np.float64)
        weights = np.rint(weights_f)
        if (
            np.abs(weights - weights_f).max(initial=0.0) > 1e-3
            or weights.min(initial=0.0) < 0
            or weights.max(initial=0.0) > limit
        ):
            return "position weights out of range"
        return received_sum[:size].astype(np.float64) * unit, weights, own

    def apply(
        self, *, params: FloatVec, own_delta: FloatVec, received_sum: FloatVec, senders: int,
        context: RuleContext | None = None,
    ) -> AggregationOutcome:
        """Average each bought position with the own value; bound the change of the model."""
        size = params.shape[0]
        checked = self._weights(received_sum, size, senders, context)
        if isinstance(checked, str) or own_delta.shape != params.shape:
            note = checked if isinstance(checked, str) else "own update has the wrong shape"
            return AggregationOutcome(params, 0, False, True, note)
        sums, weights, own_weight = checked
        bought = weights > 0
        own = (own_delta if self.payload == "delta" else params).astype(np.float64)
        mean = (own_weight * own[bought] + sums[bought]) / (own_weight + weights[bought])
        change = np.zeros(size, dtype=np.float64)
        change[bought] = mean - own[bought]
        if self.payload == "delta":
            bound = self.max_step_ratio * float(np.linalg.norm(own_delta))
        else:
            bound = self.max_change_ratio * float(np.linalg.norm(params))
        norm = float(np.linalg.norm(change))
        clipped = norm > bound
        if clipped:
            change *= bound / norm
        note = f"change norm {norm:.4g} scaled to {bound:.4g}" if clipped else ""
        new = (params.astype(np.float64) + change).astype(np.float32)
        return AggregationOutcome(new, int(bought.sum()), clipped, False, note)


@register_rule("precision")
@dataclass(frozen=True)
class PrecisionRule(MarketRule):
    """The market rule at the settings the clear-sum sweep chose (issue 13): precision for points.

    Every uploader sells every requester that pays it anything its full share of parameters
    (``floor(level |w|)`` positions, its largest-magnitude update entries); what the payment
    buys is *precision*: a payment of ``p`` points to an uploader whose cap is ``c`` gets the
    values with uniform multiplicative noise of relative standard deviation
    ``noise * (1 - p / c)`` (none at the cap) and weight ``size / (1 + discount * s^2)``; the
    receiver takes the data-size-weighted mean of its own and the bought values. With the
    ``constant`` budget policy at fraction 1 every party offers its whole balance each round,
    which makes a party buy ``min(own level, uploader level) |w|`` points' worth from every
    uploader, so a party sharing less than an uploader pays less than the cap and gets a
    noisier, lighter copy. The noise cannot be removed from the sum, which is why a receiver
    cannot re-weight its way to a clean copy; the discount makes the default weighting a best
    response (see benchmarks/results/rule_sweep.json, incentive_compatibility).
    """

    weighting: str = "size"
    quantity: str = "cap"
    noise: float = 8.0
    noise_curve: str = "linear"
    discount_noisy: float = 2.0
    noise_dist: str = "uniform"
    name: str = "precision"
