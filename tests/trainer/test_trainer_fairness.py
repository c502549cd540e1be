from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from trainer.fairness import ContributionMeasure, FairnessError, fairness_report, pearson

pairs = st.integers(2, 30).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(0, 1, allow_nan=False), min_size=n, max_size=n),
        st.lists(st.floats(0, 1, allow_nan=False), min_size=n, max_size=n),
    )
)


@settings(max_examples=200, deadline=None)
@given(pairs)
def test_matches_scipy(pair: tuple[list[float], list[float]]) -> None:
    x, y = pair
    assume(np.std(x) > 1e-6 and np.std(y) > 1e-6)
    expected = scipy.stats.pearsonr(x, y).statistic
    assert pearson(x, y) == pytest.approx(expected, abs=1e-9)


def test_authors_logged_run() -> None:
    # Seed README: standalone [0.853, 0.890, 0.777, 0.883] -> final [0.887, 0.919, 0.816, 0.912].
    r = pearson([0.853, 0.890, 0.777, 0.883], [0.887, 0.919, 0.816, 0.912])
    assert r == pytest.approx(0.9997, abs=5e-4)


def test_constant_input_is_nan_and_bad_input_raises() -> None:
    assert math.isnan(pearson([1, 1, 1], [0.2, 0.5, 0.9]))
    with pytest.raises(FairnessError, match="equal length"):
        pearson([1, 2], [1, 2, 3])
    with pytest.raises(FairnessError, match="at least two"):
        pearson([1], [1])


def test_report_names_the_measure() -> None:
    report = fairness_report(ContributionMeasure.DATA_SIZE, [100, 200, 400], [0.8, 0.85, 0.9])
    assert report.measure is ContributionMeasure.DATA_SIZE
    assert "Pearson(data size, final accuracy)" in str(report)
    assert report.correlation > 0.9
