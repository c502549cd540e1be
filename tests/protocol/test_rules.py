"""Aggregation rules and budget policies as pure functions: shapes, bounds, malformed input."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from client.errors import FppdlError
from client.protocol.aggregation import (
    NOISE_CLIP,
    SIZE_SCALE,
    MarketRule,
    PrecisionRule,
    Registration,
    RuleContext,
    UnknownRule,
    common_order,
    make_rule,
    rule_names,
)
from client.protocol.market import budget_policy, policy_names, round_budget

SIZE = 64


def _ctx(epoch: int = 1, receiver: int = 1) -> RuleContext:
    return RuleContext(epoch, bytes([receiver]) * 20, b"\x00" * 31 + b"\x01" + b"\x22" * 20)


def _vectors(seed: int, senders: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    deltas = [rng.normal(0, 0.01, SIZE).astype(np.float32) for _ in range(senders)]
    params = [rng.normal(0, 1, SIZE).astype(np.float32) for _ in range(senders)]
    return deltas, params


def test_registered_rules_keep_paper_and_average() -> None:
    assert rule_names()[:2] == ("paper", "average")
    assert "market" in rule_names()
    with pytest.raises(UnknownRule, match="no option"):
        make_rule("market", {"bogus": 1})


@pytest.mark.parametrize(
    "options",
    [{"payload": "gradients"}, {"positions": "random"}, {"entries_per_point": 0},
     {"entries_per_point": float("nan")}, {"own_weight": -1}, {"max_step_ratio": 0}],
)
def test_market_rejects_bad_options(options: dict[str, object]) -> None:
    with pytest.raises(UnknownRule):
        make_rule("market", options)


def test_unknown_rule_is_a_project_error() -> None:
    with pytest.raises(FppdlError):
        make_rule("nope")


@pytest.mark.parametrize("payload", ["delta", "params"])
@pytest.mark.parametrize("positions", ["top", "common"])
def test_market_encode_sells_exactly_the_bought_entries(payload: str, positions: str) -> None:
    rule = MarketRule(payload=payload, positions=positions, entries_per_point=0.5)
    (delta,), (params,) = _vectors(0, 1)
    vec = rule.encode(delta=delta, params=params, entries=21, context=_ctx())
    assert vec.shape == (2 * SIZE,) and vec.dtype == np.float32
    indicator = vec[SIZE:]
    assert set(np.unique(indicator)) <= {0.0, 1.0}
    assert int(indicator.sum()) == 10  # floor(0.5 * 21)
    chosen = indicator == 1
    source = delta if payload == "delta" else params
    np.testing.assert_array_equal(vec[:SIZE][chosen], source[chosen])
    assert not vec[:SIZE][~chosen].any()
    if positions == "top":
        smallest_sold = np.abs(delta[chosen]).min()
        assert smallest_sold >= np.abs(delta[~chosen]).max()


def test_market_entries_never_exceed_the_model() -> None:
    rule = MarketRule(entries_per_point=3.0)
    (delta,), (params,) = _vectors(1, 1)
    vec = rule.encode(delta=delta, params=params, entries=10 * SIZE)
    assert int(vec[SIZE:].sum()) == SIZE
    assert rule.encode(delta=delta, params=params, entries=0).sum() == 0
    with pytest.raises(UnknownRule):
        rule.encode(delta=delta, params=params, entries=-1)


def test_common_positions_are_shared_nested_and_per_receiver() -> None:
    rule = MarketRule(positions="common")
    deltas, params = _vectors(2, 3)
    sets = [
        set(np.flatnonzero(rule.encode(delta=d, params=p, entries=k, context=_ctx())[SIZE:]))
        for d, p, k in zip(deltas, params, (5, 12, 30), strict=True)
    ]
    # Whatever each sender's own update, the positions are prefixes of one order.
    assert sets[0] <= sets[1] <= sets[2]
    other = set(np.flatnonzero(
        rule.encode(delta=deltas[0], params=params[0], entries=30, context=_ctx(receiver=2))[SIZE:]
    ))
    later = set(np.flatnonzero(
        rule.encode(delta=deltas[0], params=params[0], entries=30, context=_ctx(epoch=2))[SIZE:]
    ))
    assert other != sets[2] and later != sets[2]
    order = common_order(_ctx().seed(b"positions"), SIZE)
    assert sorted(order.tolist()) == list(range(SIZE))
    with pytest.raises(UnknownRule, match="RuleContext"):
        rule.encode(delta=deltas[0], params=params[0], entries=3)


def test_rule_context_is_validated() -> None:
    with pytest.raises(UnknownRule):
        RuleContext(1, b"short", b"domain")
    with pytest.raises(UnknownRule):
        RuleContext(1, b"\x01" * 20, b"")
    assert _ctx().seed(b"a") != _ctx().seed(b"b")


@pytest.mark.parametrize("payload", ["delta", "params"])
@pytest.mark.parametrize("own_weight", [0.0, 1.0, 2.5])
def test_market_apply_to_the_sum_is_the_per_position_mean(payload: str, own_weight: float) -> None:
    rule = MarketRule(payload=payload, own_weight=own_weight, max_step_ratio=1e6,
                      max_change_ratio=1e6)
    deltas, params = _vectors(3, 4)
    own_delta, own_params = deltas[0], params[0]
    amounts = (7, 20, 40)
    vectors = [rule.encode(delta=d, params=p, entries=k)
               for d, p, k in zip(deltas[1:], params[1:], amounts, strict=True)]
    outcome = rule.apply(params=own_params, own_delta=own_delta,
                         received_sum=np.sum(vectors, axis=0, dtype=np.float32), senders=3)
    assert not outcome.rejected and not outcome.clipped
    own_value = own_delta if payload == "delta" else own_params
    expected = own_params.astype(np.float64).copy()
    updated = 0
    for p in range(SIZE):
        sold = [v[p] for v in vectors if v[SIZE + p] == 1.0]
        if not sold:
            continue
        updated += 1
        mean = (own_weight * own_value[p] + sum(sold)) / (own_weight + len(sold))
        expected[p] += mean - own_value[p]
    np.testing.assert_allclose(outcome.params, expected, rtol=1e-5, atol=1e-6)
    assert outcome.positions_updated == updated


def test_market_apply_bounds_the_change() -> None:
    rule = MarketRule(payload="delta", max_step_ratio=0.5)
    deltas, params = _vectors(4, 2)
    huge = rule.encode(delta=deltas[1] * 1000, params=params[1], entries=SIZE)
    outcome = rule.apply(params=params[0], own_delta=deltas[0], received_sum=huge, senders=1)
    assert outcome.clipped and "scaled" in outcome.note
    change = np.linalg.norm(outcome.params.astype(np.float64) - params[0])
    assert change <= 0.5 * np.linalg.norm(deltas[0]) * (1 + 1e-5)
    prule = MarketRule(payload="params", max_change_ratio=0.1)
    far = prule.encode(delta=deltas[1], params=params[1] + 100, entries=SIZE)
    outcome = prule.apply(params=params[0], own_delta=deltas[0], received_sum=far, senders=1)
    assert outcome.clipped
    assert np.linalg.norm(outcome.params - params[0]) <= 0.1 * np.linalg.norm(params[0]) * 1.0001


@pytest.mark.parametrize("payload", ["delta", "params"])
def test_market_apply_rejects_malformed_sums(payload: str) -> None:
    rule = MarketRule(payload=payload)
    deltas, params = _vectors(5, 2)
    good = rule.encode(delta=deltas[1], params=params[1], entries=10)
    bad_inputs = [good[:-1], good.copy(), good.copy(), good.copy(), good.copy()]
    bad_inputs[1][3] = np.nan
    bad_inputs[2][SIZE + 1] = 2.0  # more sellers than senders
    bad_inputs[3][SIZE + 2] = 0.5  # a fractional count
    bad_inputs[4][SIZE + 4] = -1.0
    for received in bad_inputs:
        outcome = rule.apply(params=params[0], own_delta=deltas[0], received_sum=received,
                             senders=1)
        assert outcome.rejected and outcome.positions_updated == 0
        np.testing.assert_array_equal(outcome.params, params[0])


@pytest.mark.parametrize("name", ["paper", "average"])
def test_existing_rules_accept_and_ignore_the_context(name: str) -> None:
    rule = make_rule(name)
    deltas, params = _vectors(6, 2)
    plain = rule.encode(delta=deltas[1], params=params[1], entries=9)
    with_ctx = rule.encode(delta=deltas[1], params=params[1], entries=9, context=_ctx())
    np.testing.assert_array_equal(plain, with_ctx)
    a = rule.apply(params=params[0], own_delta=deltas[0], received_sum=plain, senders=1)
    b = rule.apply(params=params[0], own_delta=deltas[0], received_sum=plain, senders=1,
                   context=_ctx())
    np.testing.assert_array_equal(a.params, b.params)


def test_constant_policy_spends_a_fixed_fraction_every_round() -> None:
    assert "constant" in policy_names() and "even" in policy_names()
    policy = budget_policy("constant")
    assert policy(1000, epoch=1, rounds=30, fraction=Fraction(1)) == 1000
    assert policy(1000, epoch=29, rounds=30, fraction=Fraction(1, 3)) == 333
    for balance in (0, 1, 7, 10**12):
        for epoch in (1, 15, 30):
            budget = round_budget("constant", balance, epoch=epoch, rounds=30, fraction=0.37)
            assert 0 <= budget <= balance


def _reg(size: int, level_num: int, level_den: int = 10) -> Registration:
    return Registration(size, max(1, size * level_num // level_den))


def test_registration_is_validated_and_gives_the_upload_cap() -> None:
    assert Registration(600, 60).upload_cap(1000) == 100
    assert Registration(7, 7).upload_cap(1000) == 1000
    for size, released in ((0, 0), (10, 0), (10, 11)):
        with pytest.raises(UnknownRule):
            Registration(size, released)


def test_size_weighting_is_the_data_size_weighted_mean() -> None:
    rule = MarketRule(weighting="size", max_change_ratio=1e6)
    deltas, params = _vectors(7, 3)
    regs = [_reg(1249, 1), _reg(231, 1), _reg(648, 1)]
    vectors = []
    for j in (1, 2):
        ctx = RuleContext(1, b"\x01" * 20, b"d", receiver_info=regs[0], sender_info=regs[j])
        vec = rule.encode(delta=deltas[j], params=params[j], entries=SIZE, context=ctx)
        assert set(np.unique(vec[SIZE:])) == {float(regs[j].data_size)}
        vectors.append(vec)
    total = np.sum(vectors, axis=0, dtype=np.float32)
    ctx = RuleContext(1, b"\x01" * 20, b"d", receiver_info=regs[0], senders_info=tuple(regs[1:]))
    outcome = rule.apply(params=params[0], own_delta=deltas[0], received_sum=total, senders=2,
                         context=ctx)
    sizes = [r.data_size for r in regs]
    expected = sum(s * p.astype(np.float64) for s, p in zip(sizes, params, strict=True))
    np.testing.assert_allclose(outcome.params, expected / sum(sizes), rtol=1e-5, atol=1e-5)
    # Without the registrations the weights cannot be checked: the sum is rejected.
    assert rule.apply(params=params[0], own_delta=deltas[0], received_sum=total,
                      senders=2).rejected
    # Weights above the senders' total size mean a corrupt aggregate.
    total[SIZE] += 10_000
    assert rule.apply(params=params[0], own_delta=deltas[0], received_sum=total, senders=2,
                      context=ctx).rejected


def test_quantity_cap_sells_the_whole_cap_for_any_payment() -> None:
    rule = MarketRule(quantity="cap")
    (delta,), (params,) = _vectors(8, 1)
    ctx = RuleContext(1, b"\x01" * 20, b"d", sender_info=_reg(600, 3))  # cap 30% of 64 = 19
    for points in (1, 7, 19, 500):
        vec = rule.encode(delta=delta, params=params, entries=points, context=ctx)
        assert int(vec[SIZE:].sum()) == 19
    assert not rule.encode(delta=delta, params=params, entries=0, context=ctx).any()
    with pytest.raises(UnknownRule, match="registration"):
        rule.encode(delta=delta, params=params, entries=3)


def test_price_exponent_makes_partial_payments_buy_less() -> None:
    rule = MarketRule(price_exponent=2.0)
    assert rule.entries_for(50, 1000, cap=100) == 25  # 100 * (1/2)^2
    assert rule.entries_for(100, 1000, cap=100) == 100
    assert rule.entries_for(300, 1000, cap=100) == 100  # paying above the cap buys the cap
    with pytest.raises(UnknownRule):
        rule.entries_for(50, 1000)


@pytest.mark.parametrize("dist", ["gauss", "uniform"])
def test_noise_is_zero_at_the_cap_bounded_and_seeded(dist: str) -> None:
    rule = MarketRule(quantity="cap", noise=3.0, noise_curve="linear", noise_dist=dist)
    (delta,), (params,) = _vectors(9, 1)
    reg = _reg(600, 5)  # cap 32 of 64
    cap = reg.upload_cap(SIZE)

    def enc(points: int, seed: bytes | None = b"s" * 32) -> np.ndarray:
        ctx = RuleContext(3, b"\x01" * 20, b"d", sender_info=reg, noise_seed=seed)
        return rule.encode(delta=delta, params=params, entries=points, context=ctx)

    clean = MarketRule(quantity="cap").encode(
        delta=delta, params=params, entries=cap,
        context=RuleContext(3, b"\x01" * 20, b"d", sender_info=reg))
    np.testing.assert_array_equal(enc(cap), clean)
    assert rule.noise_scale(cap // 2, cap) == pytest.approx(1.5)
    noisy = enc(cap // 2)
    np.testing.assert_array_equal(noisy, enc(cap // 2))  # same seed, same noise
    assert not np.array_equal(noisy, enc(cap // 2, b"t" * 32))
    sold = clean[SIZE:] == 1
    ratio = noisy[:SIZE][sold] / clean[:SIZE][sold]
    limit = 1.5 * (NOISE_CLIP if dist == "gauss" else np.sqrt(3))
    assert np.all(np.abs(ratio - 1) <= limit + 1e-5)
    assert np.any(np.abs(ratio - 1) > 1e-3)
    with pytest.raises(UnknownRule, match="noise seed"):
        enc(cap // 2, None)


def test_noisy_copies_are_discounted_and_the_sum_is_their_weighted_mean() -> None:
    rule = MarketRule(weighting="size", quantity="cap", noise=2.0, noise_curve="linear",
                      discount_noisy=3.0, noise_dist="uniform", max_change_ratio=1e6)
    deltas, params = _vectors(10, 3)
    regs = [_reg(600, 5), _reg(500, 5), _reg(400, 5)]
    payments = (regs[1].upload_cap(SIZE), regs[2].upload_cap(SIZE) // 2)
    vectors, weights = [], []
    for j, points in zip((1, 2), payments, strict=True):
        ctx = RuleContext(1, b"\x01" * 20, b"d", receiver_info=regs[0], sender_info=regs[j],
                          noise_seed=bytes([j]) * 32)
        vec = rule.encode(delta=deltas[j], params=params[j], entries=points, context=ctx)
        s = rule.noise_scale(points, regs[j].upload_cap(SIZE))
        expected_weight = max(1, round(regs[j].data_size / (1 + 3.0 * s * s)))
        sold = vec[SIZE:] > 0
        assert set(np.unique(vec[SIZE:][sold])) == {float(expected_weight)}
        vectors.append(vec)
        weights.append(expected_weight)
    assert weights[0] == 500 and weights[1] < 500  # the full payment is a clean, full copy
    total = np.sum(vectors, axis=0, dtype=np.float32)
    ctx = RuleContext(1, b"\x01" * 20, b"d", receiver_info=regs[0], senders_info=tuple(regs[1:]))
    outcome = rule.apply(params=params[0], own_delta=deltas[0], received_sum=total, senders=2,
                         context=ctx)
    expected = params[0].astype(np.float64).copy()
    for p in range(SIZE):
        sold = [(v[SIZE + p], v[p] * SIZE_SCALE / v[SIZE + p]) for v in vectors if v[SIZE + p]]
        if sold:
            num = 600 * params[0][p] + sum(w * x for w, x in sold)
            expected[p] = num / (600 + sum(w for w, _ in sold))
    np.testing.assert_allclose(outcome.params, expected, rtol=1e-4, atol=1e-5)


def test_precision_rule_is_the_market_rule_at_the_chosen_settings() -> None:
    rule = make_rule("precision")
    assert isinstance(rule, PrecisionRule) and rule.name == "precision"
    same = MarketRule(weighting="size", quantity="cap", noise=8.0, noise_curve="linear",
                      discount_noisy=2.0, noise_dist="uniform")
    deltas, params = _vectors(11, 2)
    reg = _reg(600, 4)
    cap = reg.upload_cap(SIZE)
    for points in (cap, cap // 2, 1):
        ctx = RuleContext(5, b"\x02" * 20, b"d", receiver_info=_reg(300, 1), sender_info=reg,
                          noise_seed=b"n" * 32)
        a = rule.encode(delta=deltas[1], params=params[1], entries=points, context=ctx)
        b = same.encode(delta=deltas[1], params=params[1], entries=points, context=ctx)
        np.testing.assert_array_equal(a, b)
        assert int(np.count_nonzero(a[SIZE:])) == cap  # any payment buys the whole cap ...
        weight = a[SIZE:].max()
        assert weight == (600 if points == cap else max(  # ... at a precision it pays for
            1, round(600 / (1 + 2.0 * (8.0 * (1 - points / cap)) ** 2))))
    with pytest.raises(UnknownRule):
        make_rule("precision", {"noise": -1.0})


def test_the_default_rule_is_the_configuration_the_sweep_marks_as_chosen() -> None:
    # The sweep's plot and JSON name the default by its market options: keep the two in sync.
    import importlib.util
    import sys
    from dataclasses import asdict
    from pathlib import Path

    from client.protocol.aggregation import DEFAULT_RULE
    from client.protocol.market import DEFAULT_BUDGET_POLICY

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "rule_sweep.py"
    spec = importlib.util.spec_from_file_location("rule_sweep", path)
    assert spec is not None and spec.loader is not None
    sweep = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("rule_sweep", sweep)  # dataclasses look their module up there
    spec.loader.exec_module(sweep)
    assert sweep.DEFAULT_NAME == DEFAULT_RULE
    chosen = sweep.Candidate.parse(sweep.CHOSEN)
    assert (chosen.policy, chosen.fraction) == (DEFAULT_BUDGET_POLICY, 1.0)
    ours = {k: v for k, v in asdict(make_rule(DEFAULT_RULE)).items() if k != "name"}  # type: ignore[call-overload]
    theirs = {k: v for k, v in asdict(chosen.make()).items() if k != "name"}  # type: ignore[call-overload]
    assert ours == theirs
