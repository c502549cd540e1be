"""Settings of one party's protocol run (everything the chain does not fix)."""

from __future__ import annotations

from dataclasses import dataclass, field

from trainer.config import TrainConfig


class ProtocolConfigError(ValueError):
    """A protocol setting is out of range."""


@dataclass(frozen=True)
class ProtocolConfig:
    """How a party takes part in the rounds.

    Attributes
    ----------
    rounds : int
        Collaborative rounds the party takes part in (it stops voting after the last).
    aggregation : str
        ``paper`` (add the received sparse updates) or ``average`` (position-wise mean of the
        sold parameters); see :mod:`client.protocol.aggregation`.
    max_step_ratio : float
        ``paper`` rule only: the received sum may move the model at most this many times the
        norm of the party's own update of the round.
    budget_fraction : float
        Download budget policy: each round a party offers ``floor(balance * budget_fraction /
        rounds_left)`` points in total (never more than its balance), spreading its points
        over the rounds it still has.
    eval_samples : int
        Released samples each party labels per owner and round (a fresh, chain-seeded subset).
    ring_bits : int
        Ring of the additive masks (32 or 64).
    neighbours : int or None
        Mask neighbours per sender (None: all other senders, the most collusion-resistant).
    retention_rounds : int
        Rounds a party keeps its uploaded content pinned after the round it belongs to.
    train : TrainConfig
        Local SGD settings.
    seed : int
        Seeds this party's local training order (experiments are reproducible; protocol
        secrets never use it).
    """

    rounds: int = 3
    aggregation: str = "paper"
    max_step_ratio: float = 1.0
    budget_fraction: float = 1.0
    eval_samples: int = 100
    ring_bits: int = 32
    neighbours: int | None = None
    retention_rounds: int = 2
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ProtocolConfigError(f"rounds must be >= 1, got {self.rounds}")
        if self.aggregation not in ("paper", "average"):
            raise ProtocolConfigError(
                f"aggregation must be 'paper' or 'average', got {self.aggregation!r}"
            )
        if not 0 < self.budget_fraction <= 1:
            raise ProtocolConfigError(
                f"budget_fraction must be in (0, 1], got {self.budget_fraction}"
            )
        if self.max_step_ratio <= 0:
            raise ProtocolConfigError("max_step_ratio must be > 0")
        if self.eval_samples < 1:
            raise ProtocolConfigError("eval_samples must be >= 1")
        if self.retention_rounds < 0:
            raise ProtocolConfigError("retention_rounds must be >= 0")
