r"""Local credibility by mutual evaluation (seed 001, Algorithm 1 steps 3-5, Algorithm 2 steps 4-6).

Party ``i`` releases ``u_i`` unlabeled synthetic samples; every party (``i`` included) labels them
with its current local model; the labels form an integer matrix with one row per party and one
column per sample. Everything here is a pure function of that matrix and of the party ids.

Credibilities are exact ``Fraction`` values: ``m_j / u_i`` normalised is a ratio of integers, so
the threshold comparison (also a ``Fraction``, the form in which the contract stores it) has no
rounding at its boundary and every party computes bit-identical results.

Conventions (documented in docs/design/trainer.md):

- Majority label: plurality over all rows of the matrix; ties go to the smallest label.
- Normalisation is over the evaluated parties ``j != i`` (Algorithm 1 step 4, ``C \ i``).
- A party is reported when its normalised credibility is *strictly* below the threshold and
  its labels match the classes the owner drew its samples for no better than chance
  (:func:`suspects`): weak-but-honest models beat random labelling, free-riders do not; an
  owner whose own model is at chance on its own samples reports nobody. These conditions are
  ours, not the paper's: without them honest parties with little data, or with a tiny
  DPGAN's samples, were voted out (see docs/design/trainer.md).
- The threshold ``c_th`` and the removal quorum are the ledger's (deployment parameters,
  see ``client/chain/rules.py``); here they are only arguments.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Mapping, Sequence
from fractions import Fraction
from typing import TypeVar

import numpy as np
from scipy.stats import binom

from trainer.errors import TrainerError

Id = TypeVar("Id", bound=Hashable)

#: Weights of Algorithm 2 step 4: ``c' = 0.2 * c_old + 0.8 * c_new`` as exact ratios.
HISTORY_WEIGHT = Fraction(1, 5)
CURRENT_WEIGHT = Fraction(4, 5)


class CredibilityError(TrainerError, ValueError):
    """Invalid input to a credibility computation (shape, ids, thresholds)."""


def as_fraction(value: Fraction | float | int | tuple[int, int]) -> Fraction:
    """Convert a threshold given as a ``Fraction``, number or ``(numerator, denominator)`` pair.

    The pair form is how the contract exposes its integer-rational threshold.
    """
    if isinstance(value, tuple):
        num, den = value
        if den <= 0:
            raise CredibilityError(f"threshold denominator must be positive, got {den}")
        return Fraction(num, den)
    if isinstance(value, float) and not math.isfinite(value):
        raise CredibilityError(f"threshold must be finite, got {value}")
    return Fraction(value)


def _check_label_matrix(labels: np.ndarray) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 2:
        raise CredibilityError(f"labels must be a parties x samples matrix, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise CredibilityError(f"labels matrix must be non-empty, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise CredibilityError(f"labels must be integers, got dtype {arr.dtype}")
    if arr.min() < 0:
        raise CredibilityError("labels must be non-negative class indices")
    return arr.astype(np.int64, copy=False)


def majority_labels(labels: np.ndarray) -> np.ndarray:
    """Plurality label of every sample; ties go to the smallest label.

    Parameters
    ----------
    labels : np.ndarray
        Integer matrix, one row per party, one column per sample.

    Returns
    -------
    np.ndarray
        ``int64`` vector with one majority label per sample.
    """
    arr = _check_label_matrix(labels)
    num_classes = int(arr.max()) + 1
    counts = np.zeros((arr.shape[1], num_classes), dtype=np.int64)
    cols = np.arange(arr.shape[1])
    for row in arr:
        np.add.at(counts, (cols, row), 1)
    # argmax returns the first (smallest) index among equal maxima: the documented tie-break.
    return counts.argmax(axis=1).astype(np.int64)


def match_counts(labels: np.ndarray) -> np.ndarray:
    """Return ``m_j``: per row, how many samples agree with the majority label."""
    arr = _check_label_matrix(labels)
    majority = majority_labels(arr)
    return (arr == majority[None, :]).sum(axis=1).astype(np.int64)


def credibility_from_labels(
    labels: np.ndarray, parties: Sequence[Id], owner: Id
) -> dict[Id, Fraction]:
    """Normalised local credibility ``c_owner^j`` of every other party (Algorithm 1 steps 3-4).

    Parameters
    ----------
    labels : np.ndarray
        Integer matrix ``len(parties) x u_owner``: row ``k`` holds the labels party
        ``parties[k]`` predicted for the owner's released samples (the owner's row included).
        Pass only the rows of the current credible set.
    parties : Sequence
        Party ids in row order (e.g. addresses).
    owner : Hashable
        The party that released the samples (``i``); it is not scored.

    Returns
    -------
    dict
        ``{j: c_owner^j}`` for ``j != owner`` in ``parties`` order; the values sum to 1.
        ``c^j = m_j / u`` before normalisation, i.e. proportional to ``m_j``. If no other party
        matched any majority label, all of them get ``1 / (len(parties) - 1)``.
    """
    arr = _check_label_matrix(labels)
    ids = list(parties)
    if len(set(ids)) != len(ids):
        raise CredibilityError("party ids must be distinct")
    if len(ids) != arr.shape[0]:
        raise CredibilityError(
            f"labels has {arr.shape[0]} rows but {len(ids)} party ids were given"
        )
    if owner not in ids:
        raise CredibilityError(f"owner {owner!r} is not among the parties")
    if len(ids) < 2:
        raise CredibilityError("mutual evaluation needs the owner and at least one other party")
    matches = match_counts(arr)
    others = [(pid, int(m)) for pid, m in zip(ids, matches, strict=True) if pid != owner]
    total = sum(m for _, m in others)
    if total == 0:
        return {pid: Fraction(1, len(others)) for pid, _ in others}
    # c^j = m_j / u and the common factor 1/u cancels in the normalisation.
    return {pid: Fraction(m, total) for pid, m in others}


#: Significance of the chance test: a party whose labels match the others' plurality this
#: often or more by luck alone, labelling uniformly at random, is "no better than chance".
CHANCE_ALPHA = 0.01


def intended_matches(
    labels: np.ndarray, parties: Sequence[Id], intended: np.ndarray
) -> dict[Id, int]:
    """Return, per row, how many samples it labels as the class the owner drew them for.

    ``intended`` is the owner's private knowledge (the DPGAN is class-conditional and the
    class order of a release is secret), so a party labelling at random matches each sample
    with probability ``1 / classes`` whatever the others answer.
    """
    arr = _check_label_matrix(labels)
    wanted = np.asarray(intended, dtype=np.int64)
    if len(parties) != arr.shape[0] or wanted.shape != (arr.shape[1],):
        raise CredibilityError("need one label row per party and one intended class per sample")
    return {pid: int((row == wanted).sum()) for pid, row in zip(parties, arr, strict=True)}


def better_than_chance(
    matches: int, samples: int, *, classes: int, alpha: float = CHANCE_ALPHA
) -> bool:
    """Return whether ``matches`` of ``samples`` is significantly above random labelling.

    One-sided binomial test against ``Binomial(samples, 1 / classes)``: True when the chance
    of matching at least this often by labelling uniformly at random is below ``alpha``.
    """
    if samples <= 0:
        return False
    if not 0 <= matches <= samples or classes < 2:
        raise CredibilityError(f"need 0 <= matches <= samples and classes >= 2, got "
                               f"{matches}, {samples}, {classes}")
    return bool(binom.sf(matches - 1, samples, 1.0 / classes) < alpha)


def agreement_rates(labels: np.ndarray, parties: Sequence[Id]) -> dict[Id, Fraction]:
    """Unnormalised ``c^j = m_j / u`` for every row (the owner's included)."""
    arr = _check_label_matrix(labels)
    if len(parties) != arr.shape[0]:
        raise CredibilityError(
            f"labels has {arr.shape[0]} rows but {len(parties)} party ids were given"
        )
    u = arr.shape[1]
    return {pid: Fraction(int(m), u) for pid, m in zip(parties, match_counts(arr), strict=True)}


def normalise(credibility: Mapping[Id, Fraction], members: Collection[Id]) -> dict[Id, Fraction]:
    """Restrict ``credibility`` to ``members`` and rescale it to sum to 1 (insertion order kept).

    Used after a removal from the credible set (Algorithm 1 step 5, "run step 4 again").
    """
    kept = {pid: c for pid, c in credibility.items() if pid in members}
    if not kept:
        raise CredibilityError("no credibility left to normalise")
    if any(c < 0 for c in kept.values()):
        raise CredibilityError("credibility values must be non-negative")
    total = sum(kept.values(), Fraction(0))
    if total == 0:
        return {pid: Fraction(1, len(kept)) for pid in kept}
    return {pid: c / total for pid, c in kept.items()}


def update_credibility(
    old: Mapping[Id, Fraction], new: Mapping[Id, Fraction]
) -> dict[Id, Fraction]:
    """Algorithm 2 steps 4-5: ``c' = 0.2 * old + 0.8 * new``, renormalised over ``new``'s ids.

    Parties present in ``new`` but not in ``old`` (first evaluation) take ``new`` as history.
    Parties only in ``old`` are dropped (they left the credible set).
    """
    mixed = {
        pid: HISTORY_WEIGHT * old.get(pid, c_new) + CURRENT_WEIGHT * c_new
        for pid, c_new in new.items()
    }
    return normalise(mixed, mixed.keys())


def low_quality(
    credibility: Mapping[Id, Fraction], c_th: Fraction | float | int | tuple[int, int]
) -> set[Id]:
    """Parties this evaluator reports: credibility strictly below ``c_th``.

    Parameters
    ----------
    credibility : Mapping
        Normalised credibilities from ``credibility_from_labels`` / ``update_credibility``.
    c_th : Fraction | float | int | tuple[int, int]
        Threshold: the contract's ``(num, den)`` pair or a ``Fraction``.
    """
    limit = as_fraction(c_th)
    return {pid for pid, c in credibility.items() if Fraction(c) < limit}


def suspects(
    credibility: Mapping[Id, Fraction],
    matches: Mapping[Id, int],
    samples: int,
    c_th: Fraction | float | int | tuple[int, int],
    *,
    owner: Id,
    classes: int,
    alpha: float = CHANCE_ALPHA,
) -> set[Id]:
    """Return the parties an evaluator (the ``owner`` of the samples) reports as low quality.

    A party is reported when its normalised credibility is below ``c_th`` (:func:`low_quality`)
    AND its labels match the classes the samples were drawn for no better than uniform random
    labelling (``matches`` from :func:`intended_matches` over ``samples`` samples). A party
    with no ``matches`` entry sent no labels and is judged on its credibility alone. When the
    owner's own model is no better than chance on its own samples, they carry no evidence
    about anyone: nobody is reported.
    """
    if not better_than_chance(matches.get(owner, 0), samples, classes=classes, alpha=alpha):
        return set()
    low = low_quality(credibility, c_th)
    return {
        p for p in low
        if p not in matches or not better_than_chance(matches[p], samples, classes=classes,
                                                     alpha=alpha)
    }
