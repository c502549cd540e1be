"""Shamir sharing over GF(2^255 - 19) and the encrypted share channel in the header."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from client.crypto import ContextError, QuantParams, default_threshold, parse_header
from client.crypto.selfmask import open_share, share_commitment
from client.crypto.shamir import (
    P,
    decode_element,
    encode_element,
    random_element,
    reconstruct,
    split,
)

from .conftest import ConsortiumFactory, sparse_vectors


@settings(max_examples=60, deadline=None)
@given(
    secret=st.integers(0, P - 1),
    m=st.integers(1, 9),
    data=st.data(),
)
def test_any_t_shares_rebuild_the_secret(secret: int, m: int, data: st.DataObject) -> None:
    t = data.draw(st.integers(1, m))
    shares = split(secret, t, m)
    for subset in itertools.islice(itertools.combinations(range(m), t), 20):
        assert reconstruct([(i + 1, shares[i]) for i in subset]) == secret
    if t > 1:
        fewer = [(i + 1, shares[i]) for i in range(t - 1)]
        # t - 1 shares interpolate to a degree t - 2 polynomial: not the secret (w.h.p.).
        assert reconstruct(fewer) != secret or secret == 0


def test_t_minus_one_shares_are_consistent_with_every_secret() -> None:
    """For any t - 1 shares and ANY candidate secret there is a polynomial through them:
    the shares say nothing about which secret was dealt."""
    t, m = 3, 5
    shares = split(random_element(), t, m)
    seen = [(1, shares[0]), (2, shares[1])]
    for candidate in (0, 1, 12345, P - 1):
        # The degree-2 polynomial through (0, candidate) and the two seen shares gives
        # valid values for every other holder, and any t of them rebuild the candidate.
        others = [(x, _lagrange_eval([(0, candidate), *seen], x)) for x in (3, 4, 5)]
        assert reconstruct([seen[0], others[0], others[2]]) == candidate


def _lagrange_eval(points: list[tuple[int, int]], x: int) -> int:
    total = 0
    for i, (xi, yi) in enumerate(points):
        num, den = 1, 1
        for j, (xj, _) in enumerate(points):
            if i != j:
                num = num * (x - xj) % P
                den = den * (xi - xj) % P
        total = (total + yi * num * pow(den, -1, P)) % P
    return total


def test_threshold_one_gives_every_holder_the_secret() -> None:
    secret = random_element()
    assert split(secret, 1, 4) == [secret] * 4


def test_encoding_and_argument_errors() -> None:
    assert decode_element(encode_element(P - 1)) == P - 1
    assert decode_element(P.to_bytes(32, "big")) is None
    assert decode_element(b"\x00" * 31) is None
    with pytest.raises(ContextError):
        encode_element(P)
    with pytest.raises(ContextError, match="threshold"):
        split(1, 0, 3)
    with pytest.raises(ContextError, match="threshold"):
        split(1, 4, 3)
    with pytest.raises(ContextError, match="distinct"):
        reconstruct([(1, 5), (1, 6)])
    with pytest.raises(ContextError, match="distinct"):
        reconstruct([])
    assert [default_threshold(m) for m in (1, 2, 3, 4, 8, 49)] == [1, 1, 2, 2, 4, 25]
    with pytest.raises(ContextError):
        default_threshold(0)


def test_only_the_holder_opens_its_share(make_consortium: ConsortiumFactory) -> None:
    c = make_consortium(4, seed="share-channel")
    quant = QuantParams.for_vector(16)
    x = c.senders[0]
    blob = c.seal_one(x, sparse_vectors((x,), 16, seed=1)[x], quant).blob
    header, _ = parse_header(blob[:2_000])  # a prefix holding the header is enough
    order = c.ctx.neighbours_of(x)
    assert header.threshold == c.ctx.share_threshold == 2
    kw = {"sender": x, "sender_x25519": c.x25519[x], "self_commit": header.self_commit}
    shares = {}
    for i, h in enumerate(order):
        share = open_share(c.ctx, holder=h, holder_keys=c.keys[h],
                           sealed=header.sealed_shares[i], **kw)  # type: ignore[arg-type]
        assert share is not None
        assert share_commitment(c.ctx, x, h, share) == header.share_commits[i]
        shares[h] = share
        # Another neighbour's key, another slot, or another envelope's commitment: nothing.
        other = order[(i + 1) % len(order)]
        assert open_share(c.ctx, holder=other, holder_keys=c.keys[other],
                          sealed=header.sealed_shares[i], **kw) is None  # type: ignore[arg-type]
        assert open_share(c.ctx, holder=h, holder_keys=c.keys[h],
                          sealed=header.sealed_shares[i], sender=x, sender_x25519=c.x25519[x],
                          self_commit=bytes(32)) is None
    assert len(set(shares.values())) == len(order)
