"""End to end: seal -> open -> aggregate is exact; dropouts are recoverable without
exposing survivors; single layer-1 ciphertexts look uniform to the receiver."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from client.crypto import (
    ContextError,
    DisclosureError,
    MissingRecoveryError,
    QuantizationError,
    QuantParams,
    Recovery,
    aggregate,
    aggregate_ring,
    dequantize,
    quantize,
    recovery_stream,
    seal,
)
from client.crypto.masking import keystream, stream_sign

from .conftest import Consortium, ConsortiumFactory, sparse_vectors


def _expected_sum(vectors: dict[bytes, np.ndarray], quant: QuantParams) -> np.ndarray:
    total = np.zeros(quant.length, dtype=quant.dtype)
    for v in vectors.values():
        total += quantize(v, quant)
    return dequantize(total, quant)


@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize(("n", "k_n"), [(2, None), (4, None), (9, None), (16, None), (16, 4)])
def test_receiver_gets_exactly_the_sum(
    make_consortium: ConsortiumFactory, n: int, k_n: int | None, bits: int
) -> None:
    c = make_consortium(n, neighbours=k_n, seed=f"sum/{n}/{k_n}")
    quant = QuantParams.for_vector(2_000, bits=bits)
    vectors = sparse_vectors(c.senders, 2_000, seed=n, scale=20.0)
    total = aggregate(c.open_all(c.seal_all(vectors, quant)), ctx=c.ctx)
    assert np.array_equal(total, _expected_sum(vectors, quant))
    plain = sum(v.astype(np.float64) for v in vectors.values())
    assert np.max(np.abs(total - plain)) <= n * 2.0 ** -quant.segments[0].frac_bits


def test_full_size_mlp_message_with_indicator(make_consortium: ConsortiumFactory) -> None:
    length = 140_106  # the paper's MLP
    c = make_consortium(4, seed="mlp")
    quant = QuantParams.for_values_and_indicator(length)
    values = sparse_vectors(c.senders, length, seed=3, density=0.01)
    vectors = {a: np.concatenate([v, (v != 0).astype(np.float32)]) for a, v in values.items()}
    total = aggregate(c.open_all(c.seal_all(vectors, quant)), ctx=c.ctx)
    counts = sum((v != 0).astype(np.int64) for v in values.values())
    assert np.array_equal(total[length:], counts)
    assert np.array_equal(total, _expected_sum(vectors, quant))


def _chi_square_p(ring: np.ndarray) -> float:
    counts = np.bincount(ring.view(np.uint8), minlength=256)
    return float(stats.chisquare(counts).pvalue)


def test_single_layer1_ciphertexts_are_uniform_even_for_sparse_plaintexts(
    make_consortium: ConsortiumFactory,
) -> None:
    c = make_consortium(3, seed="uniform")
    quant = QuantParams.for_vector(20_000)
    vectors = sparse_vectors(c.senders, 20_000, seed=5, density=0.01)
    shares = c.open_all(c.seal_all(vectors, quant))
    plain_p = _chi_square_p(quantize(vectors[c.senders[0]], quant))
    assert plain_p < 1e-6  # the plaintext bytes are far from uniform (mostly zeros)
    for share in shares:
        # Byte-level uniformity of what the receiver holds after peeling layers 3 and 2.
        assert _chi_square_p(share.ring) > 1e-4
        plain = quantize(vectors[share.sender], quant)
        # The receiver's view carries no linear trace of the plaintext.
        corr = np.corrcoef(share.ring.astype(np.float64), plain.view(np.int32))[0, 1]
        assert abs(corr) < 0.05
        assert np.count_nonzero(share.ring == plain) < 10


def _drop(c: Consortium, quant: QuantParams, dropped: set[bytes], seed: int) -> tuple:
    vectors = sparse_vectors(c.senders, quant.length, seed=seed)
    present = {a: v for a, v in vectors.items() if a not in dropped}
    shares = c.open_all(c.seal_all(present, quant))
    recoveries = [
        recovery_stream(
            c.ctx, survivor=x, survivor_keys=c.keys[x], dropped=y, peer_publics=c.x25519
        )
        for x in present
        for y in c.ctx.neighbours_of(x)
        if y in dropped
    ]
    return present, shares, recoveries


@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize(("n", "k_n", "n_drop"), [(3, None, 1), (6, None, 2), (10, 4, 3)])
def test_dropout_recovery_gives_the_sum_of_survivors(
    make_consortium: ConsortiumFactory, n: int, k_n: int | None, n_drop: int, bits: int
) -> None:
    c = make_consortium(n, neighbours=k_n, seed=f"drop/{n}")
    quant = QuantParams.for_vector(1_000, bits=bits)
    dropped = set(c.senders[:n_drop])
    present, shares, recoveries = _drop(c, quant, dropped, seed=n)
    with pytest.raises(MissingRecoveryError, match="missing recovery"):
        aggregate(shares, ctx=c.ctx, recoveries=recoveries[1:])
    total = aggregate(shares, ctx=c.ctx, recoveries=recoveries)
    assert np.array_equal(total, _expected_sum(present, quant))
    wire = [Recovery.from_bytes(r.to_bytes()) for r in recoveries]
    assert np.array_equal(aggregate(shares, ctx=c.ctx, recoveries=wire), total)


def test_recovery_leaves_every_survivor_masked(make_consortium: ConsortiumFactory) -> None:
    """Everything the receiver knows after recovery still leaves each survivor's layer-1
    ciphertext masked by a stream it has never seen."""
    c = make_consortium(4, seed="survivor-privacy")
    quant = QuantParams.for_vector(20_000)
    dropped = {c.senders[0]}
    present, shares, recoveries = _drop(c, quant, dropped, seed=11)
    for share in shares:
        # Remove every stream the receiver can compute: the recovered ones of this survivor.
        residual = share.ring - quantize(present[share.sender], quant)
        for rec in recoveries:
            if rec.survivor == share.sender:
                s = keystream(rec.seed, quant)
                residual -= s if stream_sign(rec.survivor, rec.dropped) > 0 else -s
        assert _chi_square_p(residual) > 1e-4
        assert np.count_nonzero(residual) > 19_900


def test_recovery_seed_must_match_the_commitment(make_consortium: ConsortiumFactory) -> None:
    c = make_consortium(3, seed="bad-recovery")
    quant = QuantParams.for_vector(100)
    _, shares, recoveries = _drop(c, quant, {c.senders[2]}, seed=1)
    forged = [
        Recovery(r.context_digest, r.survivor, r.dropped, bytes(32)) if i == 0 else r
        for i, r in enumerate(recoveries)
    ]
    with pytest.raises(DisclosureError, match="commitment"):
        aggregate(shares, ctx=c.ctx, recoveries=forged)


def test_recovery_for_a_present_sender_or_non_neighbour_is_refused(
    make_consortium: ConsortiumFactory,
) -> None:
    c = make_consortium(8, neighbours=2, seed="non-neighbour")
    quant = QuantParams.for_vector(50)
    x = c.senders[0]
    stranger = next(s for s in c.senders if s != x and s not in c.ctx.neighbours_of(x))
    with pytest.raises(ContextError, match="not a mask neighbour"):
        recovery_stream(
            c.ctx, survivor=x, survivor_keys=c.keys[x], dropped=stranger, peer_publics=c.x25519
        )
    shares = c.open_all(c.seal_all(sparse_vectors(c.senders, 50, seed=2), quant))
    y = c.ctx.neighbours_of(x)[0]
    rec = recovery_stream(
        c.ctx, survivor=x, survivor_keys=c.keys[x], dropped=y, peer_publics=c.x25519
    )
    with pytest.raises(ContextError, match="unexpected recovery"):
        aggregate(shares, ctx=c.ctx, recoveries=[rec])


def test_aggregate_rejects_duplicates_foreign_and_empty_shares(
    make_consortium: ConsortiumFactory,
) -> None:
    c = make_consortium(3, seed="agg-errors")
    other = make_consortium(3, seed="agg-errors", round=8)
    quant = QuantParams.for_vector(10)
    vectors = sparse_vectors(c.senders, 10, seed=0)
    shares = c.open_all(c.seal_all(vectors, quant))
    with pytest.raises(ContextError, match="no shares"):
        aggregate_ring([], ctx=c.ctx)
    with pytest.raises(ContextError, match="two shares"):
        aggregate([shares[0], *shares], ctx=c.ctx)
    foreign = other.open_all(other.seal_all(vectors, quant))
    with pytest.raises(ContextError, match="another request"):
        aggregate([*shares[1:], foreign[0]], ctx=c.ctx)


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
