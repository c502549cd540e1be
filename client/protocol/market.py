"""What a party buys each round: its budget policy and the allocation over the uploaders.

Both are pure functions of integers and exact fractions, shared by :class:`Party` and by any
clear-sum sweep that explores rules and policies (so a sweep measures what the protocol does).
Budget policies register themselves by name, like aggregation rules.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Protocol

from client.errors import FppdlError
from trainer.allocation import allocate_downloads, upload_cap

#: The policy every entry point uses unless told otherwise: the default rule's, under which
#: every party offers its whole spendable balance each round (see ``PrecisionRule``).
DEFAULT_BUDGET_POLICY = "constant"


class UnknownBudgetPolicy(FppdlError, ValueError):
    """No budget policy is registered under that name."""


class BudgetPolicy(Protocol):
    """Points a party offers in total this round, given its spendable balance."""

    def __call__(self, balance: int, *, epoch: int, rounds: int, fraction: Fraction) -> int:
        """Return the round's budget, ``0 <= budget <= balance``."""
        ...


_POLICIES: dict[str, BudgetPolicy] = {}


def register_policy(name: str) -> Callable[[BudgetPolicy], BudgetPolicy]:
    """Register a budget policy function under ``name``."""

    def decorate(policy: BudgetPolicy) -> BudgetPolicy:
        if name in _POLICIES:
            raise UnknownBudgetPolicy(f"budget policy {name!r} is registered twice")
        _POLICIES[name] = policy
        return policy

    return decorate


def policy_names() -> tuple[str, ...]:
    """Return the names of every registered budget policy."""
    return tuple(_POLICIES)


def budget_policy(name: str) -> BudgetPolicy:
    """Return the policy registered as ``name``."""
    if name not in _POLICIES:
        raise UnknownBudgetPolicy(
            f"unknown budget policy {name!r}: choose one of {', '.join(policy_names())}"
        )
    return _POLICIES[name]


@register_policy("even")
def even_budget(balance: int, *, epoch: int, rounds: int, fraction: Fraction) -> int:
    """Spread ``fraction`` of the balance evenly over the rounds still to come."""
    rounds_left = max(1, rounds - epoch + 1)
    return min(balance, math.floor(Fraction(balance) * fraction / rounds_left))


def round_budget(
    policy: str, balance: int, *, epoch: int, rounds: int, fraction: float | Fraction
) -> int:
    """Return the points offered in round ``epoch`` under ``policy`` (never above ``balance``)."""
    if balance < 0:
        raise UnknownBudgetPolicy(f"balance must be >= 0, got {balance}")
    exact = Fraction(fraction).limit_denominator(10**6)
    budget = budget_policy(policy)(balance, epoch=epoch, rounds=rounds, fraction=exact)
    return max(0, min(int(budget), balance))


def download_plan(
    credibility: Mapping[str, Fraction],
    budget: int,
    sharing_levels: Mapping[str, Fraction],
    model_size: int,
) -> list[tuple[str, int]]:
    """Return ``(uploader, points)`` for every uploader offered a positive amount.

    Each uploader j gets ``min(floor(c_j * budget), floor(epsilon_j * |w|))`` (Algorithm 2
    step 1), in the order of ``credibility``.
    """
    if not credibility:
        return []
    caps = {p: upload_cap(sharing_levels[p], model_size) for p in credibility}
    amounts = allocate_downloads(credibility, budget, caps)
    return [(p, a) for p, a in amounts.items() if a > 0]


@register_policy("constant")
def constant_budget(balance: int, *, epoch: int, rounds: int, fraction: Fraction) -> int:
    """Offer ``fraction`` of the spendable balance every round (1 spends it all each round).

    Points circulate (what one party spends another earns), so a constant fraction keeps
    buying every round; with ``fraction = 1`` and every party doing the same, what a party
    buys from an uploader is bounded by the uploader's cap and its own balance alone.
    """
    return min(balance, math.floor(Fraction(balance) * fraction))
