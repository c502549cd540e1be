"""Settings of one party's protocol run (everything the chain does not fix)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from client.errors import FppdlError
from client.protocol.aggregation import DEFAULT_RULE, make_rule
from client.protocol.market import DEFAULT_BUDGET_POLICY, budget_policy
from trainer.config import TrainConfig


class ProtocolConfigError(FppdlError, ValueError):
    """A protocol setting is out of range."""


@dataclass(frozen=True)
class ProtocolConfig:
    """How a party takes part in the rounds.

    Attributes
    ----------
    rounds : int
        Collaborative rounds the party takes part in (it stops voting after the last).
    aggregation : str
        Name of a registered rule (:func:`client.protocol.aggregation.rule_names`), e.g.
        ``paper`` (add the received sparse updates) or ``average`` (position-wise mean of the
        sold parameters).
    rule_options : Mapping
        Options of that rule (its dataclass fields, e.g. ``max_step_ratio`` of ``paper``).
    budget_policy : str
        Name of a registered budget policy (:mod:`client.protocol.market`); ``even`` offers
        ``floor(balance * budget_fraction / rounds_left)`` points each round.
    budget_fraction : float
        Fraction of the balance the policy may spend over the remaining rounds.
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
    aggregation: str = DEFAULT_RULE
    rule_options: Mapping[str, Any] = field(default_factory=dict)
    budget_policy: str = DEFAULT_BUDGET_POLICY
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
        make_rule(self.aggregation, self.rule_options)  # raises UnknownRule with the choices
        budget_policy(self.budget_policy)
        if not 0 < self.budget_fraction <= 1:
            raise ProtocolConfigError(
                f"budget_fraction must be in (0, 1], got {self.budget_fraction}"
            )
        if self.eval_samples < 1:
            raise ProtocolConfigError("eval_samples must be >= 1")
        if self.retention_rounds < 0:
            raise ProtocolConfigError("retention_rounds must be >= 0")
