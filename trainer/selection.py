""""Largest values" selection of an update vector (DSSGD / the paper's sharing level).

Ties in magnitude are broken by the lower index, so every party selects the same entries
from the same vector.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from trainer.errors import ModelError

IndexArray = npt.NDArray[np.int64]


def _magnitudes(vec: npt.ArrayLike) -> npt.NDArray[np.float64]:
    arr = np.asarray(vec)
    if arr.ndim != 1:
        raise ModelError(f"top-k needs a 1-D vector, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ModelError("top-k input contains NaN or infinite entries")
    return np.abs(arr.astype(np.float64))


def topk_indices(vec: npt.ArrayLike, d: int) -> IndexArray:
    """Return indices of the ``d`` largest-magnitude entries, sorted ascending.

    Parameters
    ----------
    vec : array_like, 1-D
        The update.
    d : int
        How many entries to keep, ``0 <= d <= len(vec)``.

    Returns
    -------
    ndarray of int64
        Exactly ``d`` distinct indices; among equal magnitudes lower indices win.
    """
    mags = _magnitudes(vec)
    if not 0 <= d <= mags.shape[0]:
        raise ModelError(f"d must be in 0..{mags.shape[0]}, got {d}")
    if d == 0:
        return np.zeros(0, dtype=np.int64)
    # Stable sort on -|v| puts ties in index order, which makes the choice deterministic.
    order = np.argsort(-mags, kind="stable")
    return np.sort(order[:d]).astype(np.int64)


def topk_dense(vec: npt.ArrayLike, d: int) -> npt.NDArray[np.float32]:
    """Return a float32 copy of ``vec`` with all but its ``d`` largest-magnitude entries zeroed."""
    arr = np.asarray(vec)
    idx = topk_indices(arr, d)
    out = np.zeros(arr.shape[0], dtype=np.float32)
    out[idx] = arr[idx]
    return out


def count_for_fraction(length: int, fraction: float) -> int:
    """``floor(length * fraction)``, the number of entries a sharing level releases."""
    if not 0 <= fraction <= 1:
        raise ModelError(f"fraction must be in [0, 1], got {fraction}")
    return math.floor(length * fraction)


def largest_values(delta: npt.ArrayLike, level: float) -> npt.NDArray[np.float32]:
    """Dense copy of ``delta`` keeping its ``floor(len * level)`` largest-magnitude entries.

    This is what a party with sharing level ``level`` releases of its round update.
    """
    arr = np.asarray(delta)
    if arr.ndim != 1:
        raise ModelError(f"an update must be a 1-D vector, got shape {arr.shape}")
    return topk_dense(arr, count_for_fraction(arr.shape[0], level))
