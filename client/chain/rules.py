"""The ledger's removal rule, evaluated off-chain from the deployed :class:`LedgerParams`.

The contract is the rule (``removalQuorum`` and ``credibilityThreshold``); this module computes
the same two numbers from a deployment's parameters for simulations and benchmarks that run
without a chain, and ``tests/chain/test_rules.py`` checks it against the contract for every
quorum and threshold mode. A party on a ledger always asks the ledger itself.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping, Sequence
from fractions import Fraction
from typing import TypeVar

from client.chain.records import LedgerParams, ThresholdMode
from client.errors import FppdlError

Id = TypeVar("Id", bound=Hashable)


class RuleError(FppdlError, ValueError):
    """A credible set too small for the rule."""


def removal_quorum(params: LedgerParams, credible: int) -> int:
    """Return the reports needed to remove a party from a credible set of ``credible``.

    ``ceil(quorum_numerator * |C| / quorum_denominator)``, as the contract computes it.
    """
    if credible < 1:
        raise RuleError(f"a credible set has at least one party, got {credible}")
    num, den = params.quorum_numerator, params.quorum_denominator
    return (credible * num + den - 1) // den


def credibility_threshold(params: LedgerParams, credible: int) -> Fraction:
    """Return ``c_th`` for a credible set of ``credible`` parties, as the contract computes it.

    Paper mode: ``(num / den) / |C|``; authors' mode: ``(num / den) / (|C| - 1)``.
    """
    if credible < 2:
        raise RuleError(f"the threshold needs a credible set of at least 2, got {credible}")
    divisor = credible if params.threshold_mode is ThresholdMode.PAPER else credible - 1
    return Fraction(params.threshold_numerator, params.threshold_denominator * divisor)


def removed_by_reports(
    params: LedgerParams, reports: Mapping[Id, Collection[Id]], members: Sequence[Id]
) -> list[Id]:
    """Return the members reported by at least :func:`removal_quorum` other members.

    One evaluation epoch with the credible set ``members``: reports from non-members and
    repeated reports are ignored, and the result keeps ``members`` order.
    """
    needed = removal_quorum(params, len(members))
    counts = dict.fromkeys(members, 0)
    for reporter, reported in reports.items():
        if reporter not in counts:
            continue
        for suspect in set(reported):
            if suspect in counts and suspect != reporter:
                counts[suspect] += 1
    return [m for m in members if counts[m] >= needed]
