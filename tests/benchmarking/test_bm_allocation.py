"""Download allocation: integers, never above the budget or any uploader's cap."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trainer.allocation import AllocationError, allocate_downloads, download_budget, upload_cap


def test_paper_formula() -> None:
    cred = {"b": Fraction(1, 2), "c": Fraction(1, 3), "d": Fraction(1, 6)}
    caps = {"b": 10_000, "c": 100, "d": 10_000}
    # d_i = 1200: b gets 600, c is capped at 100, d gets 200.
    assert allocate_downloads(cred, 1200, caps) == {"b": 600, "c": 100, "d": 200}


def test_floor_never_rounds_up() -> None:
    cred = {"b": Fraction(1, 3), "c": Fraction(1, 3), "d": Fraction(1, 3)}
    alloc = allocate_downloads(cred, 10, {"b": 99, "c": 99, "d": 99})
    assert alloc == {"b": 3, "c": 3, "d": 3}


def test_float_credibility_slightly_above_one_is_trimmed() -> None:
    # Within the 1e-9 tolerance, but with a huge budget the floors would overshoot by 100.
    cred = {"b": 0.5 + 1e-10, "c": 0.5}
    budget = 10**12
    alloc = allocate_downloads(cred, budget, {"b": budget, "c": budget})
    assert sum(alloc.values()) == budget
    assert all(isinstance(v, int) for v in alloc.values())
    assert alloc["c"] == budget // 2


def test_budget_and_caps_helpers() -> None:
    assert download_budget(500, 120) == 120
    assert download_budget(50, 120) == 50
    assert upload_cap(Fraction(1, 10), 140_106) == 14_010
    assert upload_cap(Fraction(3, 2), 100) == 100
    with pytest.raises(AllocationError):
        download_budget(-1, 5)
    with pytest.raises(AllocationError):
        upload_cap(-0.1, 10)


def test_bad_input() -> None:
    with pytest.raises(AllocationError, match="cap"):
        allocate_downloads({"b": 1.0}, 10, {})
    with pytest.raises(AllocationError, match="negative"):
        allocate_downloads({"b": -0.5, "c": 1.0}, 10, {"b": 1, "c": 1})
    with pytest.raises(AllocationError, match="normalised"):
        allocate_downloads({"b": 0.9, "c": 0.9}, 10, {"b": 10, "c": 10})
    with pytest.raises(AllocationError, match="budget"):
        allocate_downloads({"b": 1.0}, -1, {"b": 10})
    with pytest.raises(AllocationError, match="finite"):
        allocate_downloads({"b": float("nan")}, 10, {"b": 10})


@settings(max_examples=200, deadline=1000)
@given(
    st.lists(st.integers(0, 1000), min_size=1, max_size=8),
    st.integers(0, 10**7),
    st.lists(st.integers(0, 10**6), min_size=8, max_size=8),
    st.booleans(),
)
def test_never_exceeds(
    weights: list[int], budget: int, caps_list: list[int], as_float: bool
) -> None:
    total = sum(weights) or 1
    ids = [f"p{k}" for k in range(len(weights))]
    cred: dict[str, Fraction | float] = {
        pid: (w / total if as_float else Fraction(w, total))
        for pid, w in zip(ids, weights, strict=True)
    }
    caps = dict(zip(ids, caps_list, strict=False))
    alloc = allocate_downloads(cred, budget, caps)
    assert list(alloc) == ids
    assert sum(alloc.values()) <= budget
    for pid in ids:
        assert isinstance(alloc[pid], int)
        assert 0 <= alloc[pid] <= caps[pid]
        # Exact shares: every allocation is the floor of c * d or the cap.
        if not as_float:
            expected = min(int(Fraction(cred[pid]) * budget), caps[pid])
            assert alloc[pid] == expected
