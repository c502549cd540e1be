"""End to end: seal -> receipt -> reveals -> aggregate gives exactly the sum of the accepted
envelopes (quantization error only), whoever is excluded, dropped or offline; what the
receiver holds before the reveals looks uniform."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from client.crypto import (
    AggregationError,
    ContextError,
    Exclusion,
    QuantizationError,
    QuantParams,
    aggregate,
    dequantize,
    quantize,
    seal,
)
from client.crypto.receipt import components

from .conftest import Consortium, ConsortiumFactory, sparse_vectors


def _expected_sum(vectors: dict[bytes, np.ndarray], quant: QuantParams) -> np.ndarray:
    total = np.zeros(quant.length, dtype=quant.dtype)
    for v in vectors.values():
        total += quantize(v, quant)
    return dequantize(total, quant)


@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize(
    ("n", "k_n"), [(2, None), (3, None), (4, None), (9, None), (16, None), (16, 4), (5, 2)]
)
def test_receiver_gets_exactly_the_sum(
    make_consortium: ConsortiumFactory, n: int, k_n: int | None, bits: int
) -> None:
    c = make_consortium(n, neighbours=k_n, seed=f"sum/{n}/{k_n}")
    quant = QuantParams.for_vector(2_000, bits=bits)
    vectors = sparse_vectors(c.senders, 2_000, seed=n, scale=20.0)
    result = c.round(vectors, quant).aggregate()
    assert result.senders == c.senders and result.faults == ()
    total = result.values()
    assert np.array_equal(total, _expected_sum(vectors, quant))
    plain = sum(v.astype(np.float64) for v in vectors.values())
    assert np.max(np.abs(total - plain)) <= n * 2.0 ** -quant.segments[0].frac_bits


def _adjacent_pair(c: Consortium) -> list[bytes]:
    a = c.senders[0]
    return [a, c.ctx.neighbours_of(a)[0]]


@pytest.mark.parametrize(("n", "k_n"), [(5, 2), (8, 4), (5, None)])
@pytest.mark.parametrize(
    "case",
    ["none", "one-excluded", "one-dropped", "one-offline", "two-excluded", "two-dropped",
     "excluded-and-offline"],
)
def test_sum_of_accepted_is_exact_with_zero_one_or_two_lost(
    make_consortium: ConsortiumFactory, n: int, k_n: int | None, case: str
) -> None:
    """With k_n < all, a bad envelope or a failed upload never costs the others' sum.

    "dropped": sealed and stored, the upload transaction failed, the party is still alive;
    "offline": the party does nothing this round (nor reveals anything); "excluded": the
    receiver rejects its envelope. Two lost senders are neighbours, so the rest stays
    connected on the 5-cycle (the disconnected case is the next test).
    """
    c = make_consortium(n, neighbours=k_n, seed=f"lost/{n}/{k_n}")
    quant = QuantParams.for_vector(3_000)
    vectors = sparse_vectors(c.senders, 3_000, seed=n, density=0.3, scale=5.0)
    a, b = _adjacent_pair(c)
    kw: dict[str, object] = {
        "none": {},
        "one-excluded": {"rejected": {a: Exclusion.UNDECRYPTABLE}},
        "one-dropped": {"not_uploaded": {a}},
        "one-offline": {"offline": {a}},
        "two-excluded": {"rejected": {a: Exclusion.UNDECRYPTABLE, b: Exclusion.MALFORMED}},
        "two-dropped": {"not_uploaded": {a, b}},
        "excluded-and-offline": {"rejected": {a: Exclusion.MISSING}, "offline": {b}},
    }[case]
    run = c.round(vectors, quant, **kw)  # type: ignore[arg-type]
    lost = {a, b} if case.startswith("two") or case == "excluded-and-offline" else (
        set() if case == "none" else {a}
    )
    kept = {s: v for s, v in vectors.items() if s not in lost}
    assert set(run.receipt.accepted) == set(kept)
    result = run.aggregate()
    assert np.array_equal(result.values(), _expected_sum(kept, quant))
    plain = sum(v.astype(np.float64) for v in kept.values())
    assert np.max(np.abs(result.values() - plain)) <= len(kept) * 2.0**-16


def test_a_split_accepted_set_keeps_only_its_largest_component(
    make_consortium: ConsortiumFactory,
) -> None:
    """On the 5-cycle, excluding two non-adjacent senders leaves a lone sender and a pair:
    the lone one would be a sum of one, so the receipt demotes it (and reveals nothing of it)."""
    c = make_consortium(5, neighbours=2, seed="split")
    quant = QuantParams.for_vector(500)
    vectors = sparse_vectors(c.senders, 500, seed=2, density=0.5)
    a = c.senders[0]
    far = next(s for s in c.senders if s != a and s not in c.ctx.neighbours_of(a))
    run = c.round(vectors, quant, rejected={a: Exclusion.UNDECRYPTABLE,
                                            far: Exclusion.UNDECRYPTABLE})
    rest = [s for s in c.senders if s not in (a, far)]
    groups = components(c.ctx, rest)
    assert [len(g) for g in groups] == [2, 1]
    assert set(run.receipt.accepted) == set(groups[0])
    (lone,) = groups[1]
    assert run.receipt.excluded[lone] is Exclusion.DISCONNECTED
    kept = {s: vectors[s] for s in groups[0]}
    assert np.array_equal(run.aggregate().values(), _expected_sum(kept, quant))


def test_too_few_usable_senders_accept_nobody(make_consortium: ConsortiumFactory) -> None:
    c = make_consortium(3, seed="few")
    quant = QuantParams.for_vector(100)
    vectors = sparse_vectors(c.senders, 100, seed=1)
    run = c.round(vectors, quant, not_uploaded=set(c.senders[:2]))
    assert run.receipt.accepted == {}
    assert run.receipt.excluded[c.senders[2]] is Exclusion.BELOW_MINIMUM
    assert all(not m.items for m in run.unmasks)
    with pytest.raises(AggregationError, match="accepts nobody"):
        aggregate([], ctx=c.ctx, receipt=run.receipt, unmasks=run.unmasks)
    # A deployment with minUploaders = 1 accepts the lone sender: its sum hides nothing.
    alone = c.round(vectors, quant, not_uploaded=set(c.senders[:2]), min_accepted=1)
    assert list(alone.receipt.accepted) == [c.senders[2]]
    assert np.array_equal(
        alone.aggregate().values(), _expected_sum({c.senders[2]: vectors[c.senders[2]]}, quant)
    )


def test_one_sender_request_has_no_masks(make_consortium: ConsortiumFactory) -> None:
    c = make_consortium(1, seed="single")
    quant = QuantParams.for_vector(50)
    vectors = sparse_vectors(c.senders, 50, seed=3)
    run = c.round(vectors, quant, min_accepted=1)
    (share,) = run.opened()
    assert not share.header.self_masked and share.header.threshold == 0
    assert np.array_equal(dequantize(share.ring, quant), _expected_sum(vectors, quant))
    assert np.array_equal(run.aggregate().values(), _expected_sum(vectors, quant))


def test_full_size_mlp_message_with_indicator(make_consortium: ConsortiumFactory) -> None:
    length = 140_106  # the paper's MLP
    c = make_consortium(4, seed="mlp")
    quant = QuantParams.for_values_and_indicator(length)
    values = sparse_vectors(c.senders, length, seed=3, density=0.01)
    vectors = {a: np.concatenate([v, (v != 0).astype(np.float32)]) for a, v in values.items()}
    total = c.round(vectors, quant, rejected={c.senders[3]: Exclusion.MALFORMED}).aggregate()
    kept = {a: v for a, v in values.items() if a != c.senders[3]}
    counts = sum((v != 0).astype(np.int64) for v in kept.values())
    assert np.array_equal(total.values()[length:], counts)


def _chi_square_p(ring: np.ndarray) -> float:
    counts = np.bincount(ring.view(np.uint8), minlength=256)
    return float(stats.chisquare(counts).pvalue)


def test_opened_envelopes_are_uniform_even_for_sparse_plaintexts(
    make_consortium: ConsortiumFactory,
) -> None:
    c = make_consortium(3, seed="uniform")
    quant = QuantParams.for_vector(20_000)
    vectors = sparse_vectors(c.senders, 20_000, seed=5, density=0.01)
    shares = c.open_all(c.seal_all(vectors, quant))
    assert _chi_square_p(quantize(vectors[c.senders[0]], quant)) < 1e-6
    for share in shares:
        assert _chi_square_p(share.ring) > 1e-4
        plain = quantize(vectors[share.sender], quant)
        corr = np.corrcoef(share.ring.astype(np.float64), plain.view(np.int32))[0, 1]
        assert abs(corr) < 0.05
        assert np.count_nonzero(share.ring == plain) < 10


def test_two_seals_of_one_vector_differ_by_their_self_masks(
    make_consortium: ConsortiumFactory,
) -> None:
    """The pair masks are deterministic; the fresh self-mask makes a re-seal look unrelated."""
    c = make_consortium(3, seed="reseal")
    quant = QuantParams.for_vector(20_000)
    a = c.senders[0]
    vec = sparse_vectors((a,), 20_000, seed=6)[a]
    one, two = (c.open_one(a, c.seal_one(a, vec, quant).blob) for _ in range(2))
    diff = one.ring - two.ring
    assert _chi_square_p(diff) > 1e-4 and np.count_nonzero(diff) > 19_990
    assert one.header.self_commit != two.header.self_commit
    assert one.header.pair_commits == two.header.pair_commits


def test_aggregate_rejects_wrong_share_sets(make_consortium: ConsortiumFactory) -> None:
    c = make_consortium(4, seed="agg-errors")
    other = make_consortium(4, seed="agg-errors", round=8)
    quant = QuantParams.for_vector(10)
    vectors = sparse_vectors(c.senders, 10, seed=0)
    run = c.round(vectors, quant)
    shares = run.opened()
    kw = {"ctx": c.ctx, "receipt": run.receipt, "unmasks": run.unmasks}
    with pytest.raises(ContextError, match="no shares"):
        aggregate([], **kw)  # type: ignore[arg-type]
    with pytest.raises(ContextError, match="two shares"):
        aggregate([shares[0], *shares], **kw)  # type: ignore[arg-type]
    with pytest.raises(ContextError, match="exactly the receipt's accepted"):
        aggregate(shares[1:], **kw)  # type: ignore[arg-type]
    foreign = other.round(vectors, quant).opened()
    with pytest.raises(ContextError, match="another request"):
        aggregate([*shares[1:], foreign[0]], **kw)  # type: ignore[arg-type]
    with pytest.raises(ContextError, match="receipt of another request"):
        aggregate(shares, ctx=other.ctx, receipt=run.receipt, unmasks=run.unmasks)


def test_seal_refuses_senders_beyond_max_and_non_members(
    make_consortium: ConsortiumFactory,
) -> None:
    c = make_consortium(5, seed="limits")
    quant = QuantParams.for_vector(10, max_senders=4)
    a = c.senders[0]
    kwargs = {
        "ctx": c.ctx,
        "sender_keys": c.keys[a],
        "receiver_public": c.receiver_keys.public(),
        "peer_publics": c.x25519,
    }
    with pytest.raises(QuantizationError, match="max_senders"):
        seal(np.zeros(10, np.float32), sender=a, quant=quant, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ContextError, match="not in the sender set"):
        seal(
            np.zeros(10, np.float32),
            sender=c.ctx.receiver,
            quant=QuantParams.for_vector(10),
            **kwargs,  # type: ignore[arg-type]
        )
