"""Collaborative fairness: Pearson correlation between contribution and final accuracy.

Seed 001, eq. 3: ``r = sum((x - mean x)(y - mean y)) / ((n - 1) s_x s_y)`` with sample
standard deviations. The contribution is one of a party's standalone accuracy, sharing
level or data size; every report names which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from trainer.errors import TrainerError


class FairnessError(TrainerError, ValueError):
    """Inputs for which a correlation is not defined (length mismatch, fewer than 2 parties)."""


class ContributionMeasure(StrEnum):
    """What a party's contribution is measured by."""

    STANDALONE_ACCURACY = "standalone accuracy"
    SHARING_LEVEL = "sharing level"
    DATA_SIZE = "data size"


def pearson(contribution: npt.ArrayLike, accuracy: npt.ArrayLike) -> float:
    """Pearson correlation coefficient of two equally long sequences (seed 001, eq. 3).

    Returns NaN when either sequence is constant (the coefficient is undefined then),
    as :func:`scipy.stats.pearsonr` does.

    Raises
    ------
    FairnessError
        Different lengths, fewer than two values, or non-finite values.
    """
    x = np.asarray(contribution, dtype=np.float64)
    y = np.asarray(accuracy, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1 or x.shape != y.shape:
        raise FairnessError(
            f"contribution and accuracy must be 1-D of equal length, got {x.shape}, {y.shape}"
        )
    if x.shape[0] < 2:
        raise FairnessError("Pearson correlation needs at least two parties")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise FairnessError("contribution and accuracy must be finite")
    dx, dy = x - x.mean(), y - y.mean()
    denom = math.sqrt(float(np.dot(dx, dx)) * float(np.dot(dy, dy)))
    if denom == 0.0:
        return math.nan
    return max(-1.0, min(1.0, float(np.dot(dx, dy)) / denom))


@dataclass(frozen=True)
class FairnessReport:
    """Fairness of one run, naming the contribution measure used."""

    measure: ContributionMeasure
    contributions: tuple[float, ...]
    accuracies: tuple[float, ...]
    correlation: float

    def __str__(self) -> str:
        if math.isnan(self.correlation):
            return (
                f"fairness = Pearson({self.measure.value}, final accuracy) is undefined: one of "
                "them is the same for every party"
            )
        return (
            f"fairness = Pearson({self.measure.value}, final accuracy) = {self.correlation:.4f} "
            f"over {len(self.accuracies)} parties"
        )


def fairness_report(
    measure: ContributionMeasure, contributions: npt.ArrayLike, accuracies: npt.ArrayLike
) -> FairnessReport:
    """Compute :func:`pearson` and package it with the name of the contribution measure."""
    c = tuple(float(v) for v in np.asarray(contributions, dtype=np.float64))
    a = tuple(float(v) for v in np.asarray(accuracies, dtype=np.float64))
    return FairnessReport(ContributionMeasure(measure), c, a, pearson(c, a))
