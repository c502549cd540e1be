"""Envelope format: strict parsing, round trips, and ONE opaque error for every failure."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from client.crypto import (
    DecryptionError,
    Envelope,
    EnvelopeHeader,
    PartyKeys,
    QuantParams,
    RoundContext,
    Segment,
    WrapSuite,
    open_envelope,
    parse_envelope,
    parse_header,
    seal,
)
from client.crypto.hpke_wrap import WRAPPED_LEN

from .conftest import Consortium, ConsortiumFactory, address, sparse_vectors

LENGTH = 64


@pytest.fixture
def sealed_pair(make_consortium: ConsortiumFactory) -> tuple[Consortium, bytes, bytes]:
    c = make_consortium(3, seed="envelope")
    quant = QuantParams.for_vector(LENGTH)
    vectors = sparse_vectors(c.senders, LENGTH, seed=0, density=0.5)
    a = c.senders[0]
    return c, a, c.seal_all({a: vectors[a]}, quant)[a].blob


def _open(c: Consortium, sender: bytes, blob: bytes, **over: object) -> object:
    kwargs: dict[str, object] = {"ctx": c.ctx, "sender": sender, "receiver_keys": c.receiver_keys}
    kwargs.update(over)
    return open_envelope(blob, **kwargs)  # type: ignore[arg-type]


def test_layout_and_lengths(sealed_pair: tuple[Consortium, bytes, bytes]) -> None:
    c, a, blob = sealed_pair
    env = parse_envelope(blob)
    assert env.to_bytes() == blob
    assert env.header.to_bytes() == env.header_bytes
    assert blob.startswith(b"FPDL\x02\x01")
    assert len(env.payload) == LENGTH * 4 + 16
    assert len(env.wrapped_key) == WRAPPED_LEN[WrapSuite.X25519] == 32 + 48
    assert len(env.header.pair_commits) == len(env.header.share_commits) == 2
    assert [len(s) for s in env.header.sealed_shares] == [60, 60]
    assert env.header.threshold == 1 and env.header.self_masked
    assert parse_header(blob) == (env.header, env.header_bytes)
    _open(c, a, blob)


def test_version_1_envelopes_are_refused(sealed_pair: tuple[Consortium, bytes, bytes]) -> None:
    c, a, blob = sealed_pair
    old = bytearray(blob)
    old[4] = 1
    with pytest.raises(DecryptionError):
        parse_envelope(bytes(old))
    with pytest.raises(DecryptionError):
        parse_header(bytes(old))


def test_every_single_byte_flip_raises_the_opaque_error(
    sealed_pair: tuple[Consortium, bytes, bytes],
) -> None:
    c, a, blob = sealed_pair
    for i in range(len(blob)):
        for mask in (0x01, 0x80):
            tampered = bytearray(blob)
            tampered[i] ^= mask
            with pytest.raises(DecryptionError) as info:
                _open(c, a, bytes(tampered))
            assert str(info.value) == "envelope could not be opened"


def test_every_truncation_and_extension_raises(
    sealed_pair: tuple[Consortium, bytes, bytes],
) -> None:
    c, a, blob = sealed_pair
    for cut in range(len(blob)):
        with pytest.raises(DecryptionError):
            _open(c, a, blob[:cut])
    with pytest.raises(DecryptionError):
        _open(c, a, blob + b"\x00")
    with pytest.raises(DecryptionError):
        parse_envelope("not bytes")  # type: ignore[arg-type]


def test_wrong_key_and_wrong_context_raise_the_same_error(
    sealed_pair: tuple[Consortium, bytes, bytes], make_consortium: ConsortiumFactory
) -> None:
    c, a, blob = sealed_pair
    ctx = c.ctx
    wrong_contexts = [
        dataclasses.replace(ctx, chain_id=ctx.chain_id + 1),
        dataclasses.replace(ctx, contract=address("other-contract")),
        dataclasses.replace(ctx, round=ctx.round + 1),
        dataclasses.replace(ctx, receiver=address("other-receiver")),
        dataclasses.replace(ctx, senders=ctx.senders[::-1]),
        dataclasses.replace(ctx, senders=(*ctx.senders, address("late"))),
        dataclasses.replace(ctx, threshold=2),
    ]
    errors = []
    for wrong in wrong_contexts:
        if a not in wrong.senders:
            continue
        with pytest.raises(DecryptionError) as info:
            _open(c, a, blob, ctx=wrong)
        errors.append(str(info.value))
    with pytest.raises(DecryptionError) as info:
        _open(c, a, blob, receiver_keys=PartyKeys.generate())
    errors.append(str(info.value))
    with pytest.raises(DecryptionError) as info:
        _open(c, c.senders[1], blob)  # claimed by another sender
    errors.append(str(info.value))
    with pytest.raises(DecryptionError) as info:
        _open(c, a, blob, quant=QuantParams.for_vector(LENGTH, max_senders=32))
    errors.append(str(info.value))
    assert len(errors) >= 10 and len(set(errors)) == 1


def test_neighbour_count_is_part_of_the_context(make_consortium: ConsortiumFactory) -> None:
    c = make_consortium(4, neighbours=2, seed="k_n")
    quant = QuantParams.for_vector(LENGTH)
    a = c.senders[0]
    blob = c.seal_all(sparse_vectors(c.senders[:1], LENGTH, seed=1), quant)[a].blob
    _open(c, a, blob)
    with pytest.raises(DecryptionError):
        _open(c, a, blob, ctx=dataclasses.replace(c.ctx, neighbours=None))


def test_envelope_moved_to_another_header_fails(
    sealed_pair: tuple[Consortium, bytes, bytes],
) -> None:
    """A valid wrapped key and payload spliced under another valid header do not open."""
    c, a, blob = sealed_pair
    env = parse_envelope(blob)
    other = dataclasses.replace(env.header, round=env.header.round + 1)
    moved = Envelope(other, other.to_bytes(), env.wrapped_key, env.nonce, env.payload)
    ctx = dataclasses.replace(c.ctx, round=c.ctx.round + 1)
    with pytest.raises(DecryptionError):
        _open(c, a, moved.to_bytes(), ctx=ctx)


def test_post_quantum_hybrid_suite(make_consortium: ConsortiumFactory) -> None:
    c = make_consortium(3, seed="pq", post_quantum=True)
    quant = QuantParams.for_vector(LENGTH)
    vectors = sparse_vectors(c.senders, LENGTH, seed=9)
    publics = c.x25519
    blobs = {
        a: seal(
            vectors[a],
            ctx=c.ctx,
            sender=a,
            sender_keys=c.keys[a],
            receiver_public=c.receiver_keys.public(),
            peer_publics=publics,
            quant=quant,
            suite=WrapSuite.MLKEM768_X25519,
        ).blob
        for a in c.senders
    }
    a = c.senders[0]
    assert len(parse_envelope(blobs[a]).wrapped_key) == 1120 + 48
    shares = [_open(c, s, b) for s, b in blobs.items()]
    assert all(share.header.suite is WrapSuite.MLKEM768_X25519 for share in shares)  # type: ignore[attr-defined]
    run = c.round(vectors, quant, suite=WrapSuite.MLKEM768_X25519)
    assert all(len(parse_envelope(s.blob).wrapped_key) == 1168 for s in run.sealed.values())
    assert np.allclose(
        run.aggregate().values(), sum(v.astype(np.float64) for v in vectors.values()), atol=1e-4
    )
    # Same X25519 key but no ML-KEM key: the hybrid envelope does not open.
    classical_only = PartyKeys(c.receiver_keys.x25519_private)
    with pytest.raises(DecryptionError):
        _open(c, a, blobs[a], receiver_keys=classical_only)


_addresses = st.binary(min_size=20, max_size=20)


@settings(max_examples=80, deadline=None)
@given(
    suite=st.sampled_from(list(WrapSuite)),
    chain_id=st.integers(0, 2**64 - 1),
    contract=_addresses,
    rnd=st.integers(0, 2**64 - 1),
    sender=_addresses,
    receiver=_addresses,
    digest=st.binary(min_size=32, max_size=32),
    bits=st.sampled_from([32, 64]),
    max_senders=st.integers(1, 1000),
    segments=st.lists(st.tuples(st.integers(1, 40), st.integers(0, 30)), min_size=1, max_size=3),
    key_commit=st.binary(min_size=32, max_size=32),
    commits=st.lists(
        st.tuples(
            st.binary(min_size=32, max_size=32),
            st.binary(min_size=32, max_size=32),
            st.binary(min_size=60, max_size=60),
        ),
        max_size=5,
    ),
    self_commit=st.binary(min_size=32, max_size=32),
    data=st.data(),
)
def test_parse_serialize_round_trip(
    suite: WrapSuite,
    chain_id: int,
    contract: bytes,
    rnd: int,
    sender: bytes,
    receiver: bytes,
    digest: bytes,
    bits: int,
    max_senders: int,
    segments: list[tuple[int, int]],
    key_commit: bytes,
    commits: list[tuple[bytes, bytes, bytes]],
    self_commit: bytes,
    data: st.DataObject,
) -> None:
    quant = QuantParams(bits, max_senders, tuple(Segment(n, f) for n, f in segments))
    threshold = data.draw(st.integers(1, len(commits))) if commits else 0
    header = EnvelopeHeader(
        suite, chain_id, contract, rnd, sender, receiver, digest, quant, key_commit,
        tuple(p for p, _, _ in commits), threshold, self_commit,
        tuple(s for _, s, _ in commits), tuple(e for _, _, e in commits),
    )
    wrapped = data.draw(st.binary(min_size=WRAPPED_LEN[suite], max_size=WRAPPED_LEN[suite]))
    size = quant.length * quant.element_bytes + 16
    payload = data.draw(st.binary(min_size=size, max_size=size))
    env = Envelope(header, header.to_bytes(), wrapped, b"\x07" * 12, payload)
    blob = env.to_bytes()
    assert parse_envelope(blob) == env
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(DecryptionError):
        parse_envelope(blob[:cut])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_crash_the_parser(blob: bytes) -> None:
    for candidate in (blob, b"FPDL\x02\x01" + blob, b"FPDL\x01\x01" + blob):
        with pytest.raises(DecryptionError):
            parse_envelope(candidate)


def test_context_is_checked_before_any_secret_is_used(
    sealed_pair: tuple[Consortium, bytes, bytes],
) -> None:
    c, a, blob = sealed_pair
    outsider = RoundContext(
        c.ctx.chain_id, c.ctx.contract, c.ctx.round, c.ctx.receiver, (address("someone-else"),)
    )
    with pytest.raises(ValueError, match="not in the sender set"):
        _open(c, a, blob, ctx=outsider)


def test_each_seal_uses_a_fresh_key_nonce_and_encapsulation(
    make_consortium: ConsortiumFactory,
) -> None:
    c = make_consortium(2, seed="fresh")
    quant = QuantParams.for_vector(LENGTH)
    a = c.senders[0]
    vec = sparse_vectors((a,), LENGTH, seed=3)
    envs = [parse_envelope(c.seal_all(vec, quant)[a].blob) for _ in range(40)]
    for field in ("nonce", "wrapped_key"):
        assert len({bytes(getattr(e, field)) for e in envs}) == len(envs)
    assert len({e.header.key_commit for e in envs}) == len(envs)
    # A fresh self-mask seed, fresh shares and fresh share nonces every time.
    assert len({e.header.self_commit for e in envs}) == len(envs)
    assert len({e.header.sealed_shares for e in envs}) == len(envs)
    assert len({e.header.sealed_shares[0][:12] for e in envs}) == len(envs)
    # Same plaintext and same masks, yet every layer-2 ciphertext differs.
    assert len({bytes(e.payload) for e in envs}) == len(envs)
