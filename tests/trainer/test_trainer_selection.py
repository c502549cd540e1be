from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from trainer.errors import ModelError
from trainer.selection import count_for_fraction, largest_values, topk_dense, topk_indices

vectors = arrays(np.float32, st.integers(1, 200),
                 elements=st.floats(-5, 5, width=32, allow_nan=False))


@settings(max_examples=200, deadline=None)
@given(vec=vectors, data=st.data())
def test_keeps_exactly_d_largest_magnitudes(vec: np.ndarray, data: st.DataObject) -> None:
    d = data.draw(st.integers(0, len(vec)))
    idx = topk_indices(vec, d)
    assert len(idx) == d and len(np.unique(idx)) == d and np.all(np.diff(idx) > 0)
    kept = np.zeros(len(vec), dtype=bool)
    kept[idx] = True
    if 0 < d < len(vec):
        assert np.abs(vec[kept]).min() >= np.abs(vec[~kept]).max()
    dense = topk_dense(vec, d)
    assert dense.dtype == np.float32
    np.testing.assert_array_equal(dense[kept], vec[kept])
    assert np.all(dense[~kept] == 0)


def test_ties_broken_by_lower_index() -> None:
    vec = np.array([1.0, -3.0, 3.0, 2.0, -3.0])
    assert topk_indices(vec, 2).tolist() == [1, 2]
    assert topk_indices(vec, 3).tolist() == [1, 2, 4]
    np.testing.assert_array_equal(topk_dense(vec, 2), [0, -3, 3, 0, 0])


def test_bad_inputs() -> None:
    with pytest.raises(ModelError, match="d must be in 0..3"):
        topk_indices(np.ones(3), 4)
    with pytest.raises(ModelError, match="NaN"):
        topk_indices(np.array([1.0, np.nan]), 1)
    with pytest.raises(ModelError, match="1-D"):
        topk_dense(np.ones((2, 2)), 1)
    assert count_for_fraction(140_106, 0.1) == 14_010


def test_largest_values_releases_the_sharing_level() -> None:
    delta = np.arange(-50, 50, dtype=np.float32)
    shared = largest_values(delta, 0.1)
    assert np.count_nonzero(shared) == 10
    assert set(np.flatnonzero(shared)) == set(np.argsort(-np.abs(delta), kind="stable")[:10])
