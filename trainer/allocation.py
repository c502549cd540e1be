"""Download allocation by credibility (seed 001, Algorithm 2 step 1).

Party ``i`` wants ``d_i`` gradient entries this round and asks each credible uploader ``j`` for
``d_i^j = min(c_i^j * d_i, epsilon_j * |Delta w_j|)``. Everything crossing the protocol is an
integer, so the product is floored; the result never exceeds the budget nor any cap.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from fractions import Fraction
from typing import TypeVar

from trainer.errors import TrainerError

Id = TypeVar("Id", bound=Hashable)


class AllocationError(TrainerError, ValueError):
    """Invalid input to the download allocation (negative budget or cap, missing cap)."""


def download_budget(wanted: int, points: int) -> int:
    """Entries party ``i`` may request this round: ``d_i``, never more than its points."""
    if wanted < 0 or points < 0:
        raise AllocationError(f"wanted and points must be >= 0, got {wanted} and {points}")
    return min(wanted, points)


def upload_cap(sharing_level: Fraction | float, num_params: int) -> int:
    """``floor(epsilon_j * |Delta w_j|)``: how many entries uploader ``j`` releases at most.

    ``sharing_level`` is ``epsilon_j = u_j / |D_j|`` (a ``Fraction`` keeps it exact).
    """
    level = Fraction(sharing_level)
    if level < 0 or num_params < 0:
        raise AllocationError(
            f"sharing level and parameter count must be >= 0, got {sharing_level}, {num_params}"
        )
    return min(num_params, math.floor(level * num_params))


def allocate_downloads(
    credibility: Mapping[Id, Fraction | float],
    budget: int,
    max_per_uploader: Mapping[Id, int],
) -> dict[Id, int]:
    """Integer downloads ``d_i^j = min(floor(c_i^j * d_i), cap_j)`` per uploader.

    Parameters
    ----------
    credibility : Mapping
        Normalised credibility ``c_i^j`` of every uploader this party downloads from
        (``j != i`` in the credible set); values must be non-negative and sum to at most 1.
    budget : int
        ``d_i``: total entries to download this round, already capped by the party's points
        (see ``download_budget``).
    max_per_uploader : Mapping
        ``epsilon_j * |Delta w_j|`` per uploader as an integer (see ``upload_cap``).

    Returns
    -------
    dict
        ``{j: d_i^j}`` in ``credibility`` order, with ``0 <= d_i^j <= cap_j`` and
        ``sum(d_i^j) <= budget``.
    """
    if budget < 0:
        raise AllocationError(f"budget must be >= 0, got {budget}")
    shares: dict[Id, Fraction] = {}
    for pid, c in credibility.items():
        if isinstance(c, float) and not math.isfinite(c):
            raise AllocationError(f"credibility of {pid!r} is not finite: {c}")
        share = Fraction(c)
        if share < 0:
            raise AllocationError(f"credibility of {pid!r} is negative: {c}")
        if pid not in max_per_uploader:
            raise AllocationError(f"no upload cap given for {pid!r}")
        if max_per_uploader[pid] < 0:
            raise AllocationError(f"upload cap of {pid!r} is negative: {max_per_uploader[pid]}")
        shares[pid] = share
    # Floats that were meant to sum to 1 may exceed it by an ulp; more than that is a caller bug.
    if sum(shares.values(), Fraction(0)) > 1 + Fraction(1, 10**9):
        raise AllocationError("credibilities must be normalised (sum <= 1)")
    alloc = {
        pid: min(math.floor(share * budget), max_per_uploader[pid]) for pid, share in shares.items()
    }
    # Only an ulp-level excess can get here; trim it from the largest allocations, ties in order.
    excess = sum(alloc.values()) - budget
    for pid in sorted(alloc, key=lambda p: -alloc[p]):
        if excess <= 0:
            break
        cut = min(excess, alloc[pid])
        alloc[pid] -= cut
        excess -= cut
    return alloc
