"""Dispute openings: anyone checks layers 2-3 and the layer-1 structure of ONE envelope from
public data (never the receiver's private key), and every way an envelope or an opening can
be wrong gets its own verdict."""

from __future__ import annotations

import dataclasses

import pytest

from client.crypto import (
    DisclosureError,
    DisputeCheck,
    DisputeOpening,
    DisputeVerdict,
    PartyKeys,
    QuantParams,
    WrapSuite,
    dispute_opening,
    parse_envelope,
    seal,
    verify_dispute,
)
from client.crypto.envelope import Envelope
from client.crypto.hpke_wrap import unwrap_key, wrap_key_revealable
from client.crypto.onion import wrap_info

from .conftest import Consortium, ConsortiumFactory, address, sparse_vectors

LENGTH = 64


def _setup(make_consortium: ConsortiumFactory) -> tuple[Consortium, bytes, bytes, DisputeOpening]:
    c = make_consortium(4, neighbours=2, seed="dispute-checks")
    quant = QuantParams.for_vector(LENGTH)
    x = c.senders[0]
    sealed = c.seal_one(x, sparse_vectors((x,), LENGTH, seed=1)[x], quant)
    opening = DisputeOpening.from_bytes(dispute_opening(sealed).to_bytes(), sender=x)
    return c, x, sealed.blob, opening


def _verdict(
    c: Consortium, x: bytes, blob: bytes, opening: DisputeOpening, **kw: object
) -> DisputeVerdict:
    args: dict[str, object] = {
        "ctx": c.ctx, "sender": x, "receiver_public": c.receiver_keys.public(),
        "quant": QuantParams.for_vector(LENGTH),
    }
    args.update(kw)
    return verify_dispute(blob, opening, **args)  # type: ignore[arg-type]


def test_a_valid_envelope_passes_every_check(make_consortium: ConsortiumFactory) -> None:
    c, x, blob, opening = _setup(make_consortium)
    verdict = _verdict(c, x, blob, opening)
    assert verdict.valid and verdict.failed is None and verdict.layer3_checked
    # The opening is exactly what the receiver itself would derive from layer 3.
    env = parse_envelope(blob)
    info = wrap_info(env.header_bytes)
    key = unwrap_key(env.wrapped_key, c.receiver_keys, info, env.header.suite)
    assert key == opening.message_key


def test_every_failure_has_its_verdict(make_consortium: ConsortiumFactory) -> None:
    c, x, blob, opening = _setup(make_consortium)
    env = parse_envelope(blob)
    other_receiver = PartyKeys.generate().public()
    flipped = bytearray(blob)
    flipped[-1] ^= 1  # the layer-2 tag
    # The wrap replaced by a valid wrap of the same key to someone else.
    rewrapped = Envelope(env.header, env.header_bytes,
                         wrap_key_revealable(opening.message_key, other_receiver,
                                             wrap_info(env.header_bytes))[0],
                         env.nonce, env.payload).to_bytes()
    cases = [
        (blob[:-1], opening, {}, DisputeCheck.MALFORMED),
        (blob, opening, {"ctx": dataclasses.replace(c.ctx, round=c.ctx.round + 1)},
         DisputeCheck.HEADER),
        (blob, opening, {"sender": c.senders[1]}, DisputeCheck.HEADER),
        (blob, opening, {"quant": QuantParams.for_vector(LENGTH, max_senders=9)},
         DisputeCheck.PARAMETERS),
        (blob, dataclasses.replace(opening, context_digest=bytes(32)), {}, DisputeCheck.OPENING),
        (blob, dataclasses.replace(opening, wrap_secret=None), {}, DisputeCheck.OPENING),
        (blob, dataclasses.replace(opening, message_key=bytes(32)), {},
         DisputeCheck.KEY_COMMITMENT),
        (blob, dataclasses.replace(opening, wrap_secret=bytes(range(32))), {},
         DisputeCheck.LAYER3),
        (rewrapped, opening, {}, DisputeCheck.LAYER3),
        (blob, opening, {"receiver_public": other_receiver}, DisputeCheck.LAYER3),
        (bytes(flipped), opening, {}, DisputeCheck.LAYER2),
    ]
    for data, op, kw, expected in cases:
        verdict = _verdict(c, x, data, op, **kw)
        assert not verdict.valid and verdict.failed is expected, (expected, verdict)


def test_hybrid_suite_checks_layer_2_only(make_consortium: ConsortiumFactory) -> None:
    c = make_consortium(3, seed="dispute-pq", post_quantum=True)
    quant = QuantParams.for_vector(LENGTH)
    x = c.senders[0]
    sealed = seal(sparse_vectors((x,), LENGTH, seed=2)[x], ctx=c.ctx, sender=x,
                  sender_keys=c.keys[x], receiver_public=c.receiver_keys.public(),
                  peer_publics=c.x25519, quant=quant, suite=WrapSuite.MLKEM768_X25519)
    assert sealed.wrap_secret is None
    opening = dispute_opening(sealed)
    assert DisputeOpening.from_bytes(opening.to_bytes(), sender=x) == opening
    verdict = _verdict(c, x, sealed.blob, opening)
    assert verdict.valid and not verdict.layer3_checked


def test_opening_wire_format_is_strict(make_consortium: ConsortiumFactory) -> None:
    c, x, _, opening = _setup(make_consortium)
    wire = opening.to_bytes()
    assert len(wire) == 4 + 1 + 32 + 20 + 32 + 1 + 32
    for cut in (0, 10, len(wire) - 1):
        with pytest.raises(DisclosureError):
            DisputeOpening.from_bytes(wire[:cut], sender=x)
    with pytest.raises(DisclosureError, match="not a dispute opening of this sender"):
        DisputeOpening.from_bytes(wire, sender=address("someone"))
    bad_flag = bytearray(wire)
    bad_flag[4 + 1 + 32 + 20 + 32] = 0
    with pytest.raises(DisclosureError, match="flag") as info:
        DisputeOpening.from_bytes(bytes(bad_flag), sender=x)
    assert info.value.culprit == x
    assert "message_key" not in repr(opening) and opening.message_key.hex() not in repr(opening)
