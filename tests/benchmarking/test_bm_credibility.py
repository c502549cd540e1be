"""Majority vote, credibility, thresholds and reports on hand-made label matrices."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from client.chain.records import LedgerParams, ThresholdMode
from client.chain.rules import RuleError, credibility_threshold, removal_quorum, removed_by_reports
from trainer.credibility import (
    CredibilityError,
    agreement_rates,
    better_than_chance,
    credibility_from_labels,
    intended_matches,
    low_quality,
    majority_labels,
    match_counts,
    normalise,
    suspects,
    update_credibility,
)

#: The deployed default (the authors' threshold) and the paper's (2/3)/|C| with its majority.
AUTHORS = LedgerParams(model_size=1)
PAPER = LedgerParams(model_size=1, threshold_mode=ThresholdMode.PAPER, threshold_numerator=2,
                     threshold_denominator=3, quorum_numerator=1, quorum_denominator=2)

IDS = ["0xA", "0xB", "0xC", "0xD"]


def test_all_agree_gives_equal_credibility() -> None:
    labels = np.tile(np.array([3, 1, 4, 1, 5], dtype=np.int64), (4, 1))
    assert majority_labels(labels).tolist() == [3, 1, 4, 1, 5]
    cred = credibility_from_labels(labels, IDS, owner="0xA")
    assert list(cred) == ["0xB", "0xC", "0xD"]
    assert all(c == Fraction(1, 3) for c in cred.values())
    assert sum(cred.values()) == 1


def test_ties_go_to_smallest_label() -> None:
    # Column 0: 7,7,2,2 -> tie -> 2. Column 1: 9,1,9,1 -> 1. Column 2: 0,5,5,0 -> 0.
    labels = np.array([[7, 9, 0], [7, 1, 5], [2, 9, 5], [2, 1, 0]])
    assert majority_labels(labels).tolist() == [2, 1, 0]
    # Row order must not matter for the vote.
    assert majority_labels(labels[::-1]).tolist() == [2, 1, 0]


def test_plurality_not_absolute_majority() -> None:
    labels = np.array([[1], [1], [2], [3], [4]])
    assert majority_labels(labels).tolist() == [1]


def test_one_adversary_is_scored_low_and_reported() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 10, size=200)
    honest = np.tile(truth, (4, 1))
    # Honest parties disagree on a few samples each, the adversary answers at random.
    for k in range(4):
        flip = rng.choice(200, size=20, replace=False)
        honest[k, flip] = (honest[k, flip] + 1 + k) % 10
    adversary = rng.integers(0, 10, size=(1, 200))
    labels = np.vstack([honest, adversary])
    ids = ["a", "b", "c", "d", "free"]
    cred = credibility_from_labels(labels, ids, owner="a")
    assert set(cred) == {"b", "c", "d", "free"}
    assert min(cred, key=lambda p: cred[p]) == "free"
    assert low_quality(cred, credibility_threshold(AUTHORS, 5)) == {"free"}
    assert low_quality(cred, credibility_threshold(PAPER, 5)) == {"free"}
    rates = agreement_rates(labels, ids)
    assert rates["a"] >= Fraction(85, 100)
    assert rates["free"] < Fraction(30, 100)


def test_match_counts_exact() -> None:
    labels = np.array([[1, 2, 3, 4], [1, 2, 3, 0], [1, 0, 3, 4]])
    assert majority_labels(labels).tolist() == [1, 2, 3, 4]
    assert match_counts(labels).tolist() == [4, 3, 3]
    cred = credibility_from_labels(labels, ["x", "y", "z"], owner="y")
    assert cred == {"x": Fraction(4, 7), "z": Fraction(3, 7)}


def test_nobody_matches_gives_uniform() -> None:
    # Two parties: ties everywhere go to the smaller label, which only the owner gave.
    labels = np.array([[0, 0], [5, 5]])
    assert credibility_from_labels(labels, ["i", "j"], owner="i") == {"j": Fraction(1)}
    labels3 = np.array([[0, 1], [0, 1], [7, 8]])
    cred = credibility_from_labels(labels3, ["i", "j", "k"], owner="i")
    assert cred == {"j": Fraction(1), "k": Fraction(0)}


def test_thresholds_values_and_boundaries() -> None:
    assert credibility_threshold(PAPER, 5) == Fraction(2, 15)
    assert credibility_threshold(AUTHORS, 5) == Fraction(1, 12)
    assert credibility_threshold(AUTHORS, 3) == Fraction(1, 6)
    c_th = credibility_threshold(AUTHORS, 4)  # 1/9
    cred = {"on": Fraction(1, 9), "below": Fraction(1, 9) - Fraction(1, 10**12), "above": 1}
    assert low_quality(cred, c_th) == {"below"}
    # The contract's integer-rational form gives the same answer.
    assert low_quality(cred, (1, 9)) == {"below"}
    assert low_quality(cred, Fraction(0)) == set()
    with pytest.raises(RuleError):
        credibility_threshold(PAPER, 1)
    with pytest.raises(RuleError):
        credibility_threshold(AUTHORS, 1)
    with pytest.raises(CredibilityError):
        low_quality(cred, (1, 0))


def test_update_is_weighted_and_normalised() -> None:
    old = {"b": Fraction(1, 2), "c": Fraction(1, 2)}
    new = {"b": Fraction(1), "c": Fraction(0)}
    upd = update_credibility(old, new)
    assert upd == {"b": Fraction(9, 10), "c": Fraction(1, 10)}
    # A removed party drops out and the rest is renormalised.
    upd2 = update_credibility({"b": Fraction(1, 3), "c": Fraction(1, 3), "d": Fraction(1, 3)},
                              {"b": Fraction(1, 2), "c": Fraction(1, 2)})
    assert upd2 == {"b": Fraction(1, 2), "c": Fraction(1, 2)}
    assert normalise({"b": Fraction(1, 4), "c": Fraction(1, 4), "d": Fraction(1, 2)},
                     {"b", "c"}) == {"b": Fraction(1, 2), "c": Fraction(1, 2)}


def test_removals_follow_the_deployed_quorum() -> None:
    members = ["a", "b", "c", "d", "e"]
    reports = {"a": {"e"}, "b": {"e"}, "c": {"e", "d"}, "d": set(), "outsider": {"d"}}
    assert removal_quorum(PAPER, 5) == 3 and removal_quorum(AUTHORS, 5) == 4
    assert removal_quorum(AUTHORS, 6) == 4
    assert removed_by_reports(PAPER, reports, members) == ["e"]
    assert removed_by_reports(AUTHORS, reports, members) == []
    # A self-report never counts.
    assert removed_by_reports(PAPER, {"e": {"e"}, "a": {"e"}, "b": {"e"}}, members) == []
    with pytest.raises(RuleError):
        removal_quorum(AUTHORS, 0)


def test_bad_input_is_rejected() -> None:
    with pytest.raises(CredibilityError, match="rows"):
        credibility_from_labels(np.zeros((3, 4), dtype=np.int64), ["a", "b"], owner="a")
    with pytest.raises(CredibilityError, match="owner"):
        credibility_from_labels(np.zeros((2, 4), dtype=np.int64), ["a", "b"], owner="z")
    with pytest.raises(CredibilityError, match="integers"):
        majority_labels(np.zeros((2, 2), dtype=np.float32))
    with pytest.raises(CredibilityError, match="matrix"):
        majority_labels(np.zeros(3, dtype=np.int64))
    with pytest.raises(CredibilityError, match="distinct"):
        credibility_from_labels(np.zeros((2, 2), dtype=np.int64), ["a", "a"], owner="a")


@settings(max_examples=60, deadline=2000)
@given(
    st.integers(min_value=2, max_value=7).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(
                st.lists(st.integers(0, 9), min_size=n, max_size=n), min_size=1, max_size=30
            ),
        )
    )
)
def test_credibility_properties(case: tuple[int, list[list[int]]]) -> None:
    n, columns = case
    labels = np.array(columns, dtype=np.int64).T  # n x samples
    ids = [f"p{k}" for k in range(n)]
    maj = majority_labels(labels)
    # The majority label is always one some party gave, and has the maximal count.
    for col, m in zip(labels.T, maj, strict=True):
        counts = np.bincount(col, minlength=10)
        assert counts[m] == counts.max()
        assert m == int(np.flatnonzero(counts == counts.max())[0])
    cred = credibility_from_labels(labels, ids, owner=ids[0])
    assert sum(cred.values()) == 1
    assert all(0 <= c <= 1 for c in cred.values())
    # Permuting the parties permutes the credibilities and nothing else.
    perm = list(reversed(range(n)))
    cred_p = credibility_from_labels(labels[perm], [ids[k] for k in perm], owner=ids[0])
    assert cred_p == cred


def test_intended_matches_and_the_owners_abstention() -> None:
    intended = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 0] * 4)
    labels = np.stack([intended, intended, np.zeros(40, np.int64)])
    matches = intended_matches(labels, ["o", "a", "r"], intended)
    assert matches == {"o": 40, "a": 40, "r": 4}
    cred = {"a": Fraction(9, 10), "r": Fraction(1, 10)}
    # r is below the threshold and labels at chance: reported; a is not.
    assert suspects(cred, matches, 40, Fraction(1, 3), owner="o", classes=10) == {"r"}
    # An owner whose own model is at chance on its samples has no evidence: nobody.
    blind = {**matches, "o": 4}
    assert suspects(cred, blind, 40, Fraction(1, 3), owner="o", classes=10) == set()
    with pytest.raises(CredibilityError):
        intended_matches(labels, ["o", "a", "r"], intended[:5])


def test_random_labels_are_no_better_than_chance_and_weak_models_are() -> None:
    rng = np.random.default_rng(3)
    reference = rng.integers(0, 10, size=200)
    flagged = 0
    for _ in range(200):
        guesses = rng.integers(0, 10, size=200)
        flagged += better_than_chance(int((guesses == reference).sum()), 200, classes=10)
    assert flagged <= 8  # alpha = 1%: a random labeller passes ~2 times in 200
    # A weak model agreeing on 30% of 40 samples is clearly better than random.
    assert better_than_chance(12, 40, classes=10)
    assert not better_than_chance(0, 0, classes=10)
    with pytest.raises(CredibilityError):
        better_than_chance(5, 4, classes=10)
