"""Layer 1: the dealer-free masks sum to zero, are bound to their context, and the
neighbour graph is the regular graph every party computes identically."""

from __future__ import annotations

import numpy as np
import pytest

from client.crypto import ContextError, KeyFormatError, PartyKeys, QuantParams, RoundContext
from client.crypto.masking import derive_pair_seeds, keystream, mask_from_seeds, pair_seed

from .conftest import CHAIN_ID, CONTRACT, ConsortiumFactory, address


@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize(
    ("n", "k_n"),
    [(2, None), (3, None), (5, None), (8, None), (16, None), (8, 2), (8, 3), (16, 4), (15, 6)],
)
def test_masks_of_all_senders_sum_to_zero(
    make_consortium: ConsortiumFactory, n: int, k_n: int | None, bits: int
) -> None:
    c = make_consortium(n, neighbours=k_n)
    quant = QuantParams.for_vector(257, bits=bits)
    total = np.zeros(257, dtype=quant.dtype)
    masks = []
    for a in c.senders:
        mask = mask_from_seeds(derive_pair_seeds(c.ctx, a, c.keys[a], c.x25519), quant)
        masks.append(mask)
        total += mask
    assert not total.any()
    # Each mask on its own is far from zero (it hides its message).
    assert all(np.count_nonzero(m) > 250 for m in masks)


@pytest.mark.parametrize(("n", "k_n"), [(8, 2), (8, 3), (9, 4), (16, 5 + 1), (50, 8), (7, None)])
def test_neighbour_graph_is_symmetric_and_regular(n: int, k_n: int | None) -> None:
    senders = tuple(address(f"graph/{i}") for i in range(n))
    ctx = RoundContext(CHAIN_ID, CONTRACT, 1, address("graph/r"), senders, k_n)
    expected = n - 1 if k_n is None else k_n
    for s in senders:
        nbrs = ctx.neighbours_of(s)
        assert len(nbrs) == expected and s not in nbrs
        assert list(nbrs) == sorted(nbrs)
        for t in nbrs:
            assert s in ctx.neighbours_of(t)
    # Another round gives another (public, deterministic) graph.
    if k_n is not None:
        other = RoundContext(CHAIN_ID, CONTRACT, 2, address("graph/r"), senders, k_n)
        assert any(other.neighbours_of(s) != ctx.neighbours_of(s) for s in senders)


def test_odd_degree_on_odd_sender_count_is_rejected() -> None:
    senders = tuple(address(f"odd/{i}") for i in range(7))
    with pytest.raises(ContextError, match="regular"):
        RoundContext(CHAIN_ID, CONTRACT, 1, address("odd/r"), senders, 3)


def test_pair_seed_is_shared_and_bound_to_every_context_field(
    make_consortium: ConsortiumFactory,
) -> None:
    c = make_consortium(3)
    a, b, _ = c.senders
    pub = c.x25519
    seed = pair_seed(c.ctx, a, c.keys[a], b, pub[b])
    assert seed == pair_seed(c.ctx, b, c.keys[b], a, pub[a])
    base = c.ctx
    variants = [
        RoundContext(base.chain_id + 1, base.contract, base.round, base.receiver, base.senders),
        RoundContext(base.chain_id, address("x"), base.round, base.receiver, base.senders),
        RoundContext(base.chain_id, base.contract, base.round + 1, base.receiver, base.senders),
        RoundContext(base.chain_id, base.contract, base.round, address("y"), base.senders),
        RoundContext(base.chain_id, base.contract, base.round, base.receiver, base.senders[::-1]),
        RoundContext(
            base.chain_id, base.contract, base.round, base.receiver, (*base.senders, address("z"))
        ),
    ]
    seeds = {pair_seed(v, a, c.keys[a], b, pub[b]) for v in variants}
    assert seed not in seeds and len(seeds) == len(variants)


def test_keystream_is_deterministic_and_depends_on_the_seed() -> None:
    quant = QuantParams.for_vector(1000, bits=64)
    s1 = keystream(b"\x01" * 32, quant).copy()
    assert np.array_equal(s1, keystream(b"\x01" * 32, quant))
    assert not np.array_equal(s1, keystream(b"\x02" * 32, quant))
    assert s1.dtype.itemsize == 8 and len(s1) == 1000


def test_low_order_and_malformed_peer_keys_are_refused(make_consortium: ConsortiumFactory) -> None:
    c = make_consortium(2)
    a, b = c.senders
    with pytest.raises(KeyFormatError):
        pair_seed(c.ctx, a, c.keys[a], b, bytes(32))  # the identity point
    with pytest.raises(KeyFormatError):
        pair_seed(c.ctx, a, c.keys[a], b, b"\x01" * 31)
    with pytest.raises(KeyFormatError):
        pair_seed(c.ctx, a, c.keys[a], b, "00" * 32)  # type: ignore[arg-type]
    pub = c.x25519[b]
    assert pair_seed(c.ctx, a, c.keys[a], b, bytearray(pub)) == pair_seed(
        c.ctx, a, c.keys[a], b, pub
    )


def test_missing_neighbour_key_is_a_named_error(make_consortium: ConsortiumFactory) -> None:
    c = make_consortium(3)
    a = c.senders[0]
    publics = {k: v for k, v in c.x25519.items() if k != c.senders[1]}
    with pytest.raises(ContextError, match="no registered X25519"):
        derive_pair_seeds(c.ctx, a, c.keys[a], publics)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("contract", b"\x00" * 19, "contract"),
        ("receiver", "0x" + "00" * 20, "receiver"),
        ("round", -1, "round"),
        ("chain_id", 2**64, "chain_id"),
        ("neighbours", 0, "neighbours"),
        ("threshold", 0, "threshold"),
        ("threshold", 2, "threshold"),  # two senders: one neighbour, one share
        ("threshold", True, "threshold"),
    ],
)
def test_invalid_context_fields_are_named(field: str, value: object, message: str) -> None:
    fields: dict[str, object] = {
        "chain_id": CHAIN_ID,
        "contract": CONTRACT,
        "round": 1,
        "receiver": address("r"),
        "senders": (address("s1"), address("s2")),
        "neighbours": None,
        "threshold": None,
    }
    fields[field] = value
    with pytest.raises(ContextError, match=message):
        RoundContext(**fields)  # type: ignore[arg-type]


def test_threshold_is_bound_into_the_context() -> None:
    senders = tuple(address(f"t/{i}") for i in range(6))
    ctx = RoundContext(CHAIN_ID, CONTRACT, 1, address("t/r"), senders)
    assert ctx.share_threshold == 3  # k = 5 neighbours: ceil(5 / 2)
    explicit = RoundContext(CHAIN_ID, CONTRACT, 1, address("t/r"), senders, None, 3)
    assert explicit.digest == ctx.digest
    stricter = RoundContext(CHAIN_ID, CONTRACT, 1, address("t/r"), senders, None, 5)
    assert stricter.share_threshold == 5 and stricter.digest != ctx.digest
    assert RoundContext(CHAIN_ID, CONTRACT, 1, address("t/r"), senders[:1]).share_threshold == 0


def test_duplicate_sender_and_receiver_among_senders_are_rejected() -> None:
    s = address("s")
    with pytest.raises(ContextError, match="duplicate"):
        RoundContext(CHAIN_ID, CONTRACT, 1, address("r"), (s, s))
    with pytest.raises(ContextError, match="receiver"):
        RoundContext(CHAIN_ID, CONTRACT, 1, s, (s, address("t")))


def test_party_keys_never_print_secrets() -> None:
    keys = PartyKeys.generate()
    assert keys.x25519_private.hex() not in repr(keys)
