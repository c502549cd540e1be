"""Disputes: a sender can open ONE message to everyone; nothing else is weakened."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from client.crypto import (
    ContextError,
    Disclosure,
    DisclosureError,
    QuantParams,
    dequantize,
    inconsistent_pairs,
    open_envelope,
    parse_envelope,
    quantize,
    reveal,
    seal,
    verify_reveal,
)
from client.crypto.masking import derive_pair_seeds

from .conftest import ConsortiumFactory, sparse_vectors


def test_disclosure_opens_exactly_the_committed_message(
    make_consortium: ConsortiumFactory,
) -> None:
    c = make_consortium(4, seed="dispute")
    quant = QuantParams.for_vector(500)
    vectors = sparse_vectors(c.senders, 500, seed=4)
    sealed = c.seal_all(vectors, quant)
    a = c.senders[1]
    disclosure = reveal(
        c.ctx,
        sender=a,
        sender_keys=c.keys[a],
        peer_publics=c.x25519,
        message_key=sealed[a].message_key,
    )
    wire = Disclosure.from_bytes(disclosure.to_bytes())
    assert wire == disclosure
    out = verify_reveal(sealed[a].blob, wire, ctx=c.ctx)
    assert np.array_equal(out, dequantize(quantize(vectors[a], quant), quant))
    # The disclosure opens nothing else: not another sender's envelope ...
    b = c.senders[2]
    with pytest.raises(DisclosureError):
        verify_reveal(sealed[b].blob, wire, ctx=c.ctx)
    # ... and the receiver still cannot isolate b: after removing a's full plaintext from
    # the sum, b stays masked by its streams with the other two senders.
    share_b = open_envelope(sealed[b].blob, ctx=c.ctx, sender=b, receiver_keys=c.receiver_keys)
    residual = share_b.ring - quantize(vectors[b], quant)
    assert np.count_nonzero(residual) > 490


def test_forged_disclosures_are_rejected(make_consortium: ConsortiumFactory) -> None:
    c = make_consortium(3, seed="forged")
    quant = QuantParams.for_vector(50)
    sealed = c.seal_all(sparse_vectors(c.senders, 50, seed=1), quant)
    a = c.senders[0]
    good = reveal(
        c.ctx,
        sender=a,
        sender_keys=c.keys[a],
        peer_publics=c.x25519,
        message_key=sealed[a].message_key,
    )
    forgeries = {
        "key commitment": Disclosure(good.context_digest, a, bytes(32), good.seeds),
        "pair commitment": Disclosure(
            good.context_digest, a, good.message_key, (bytes(32), *good.seeds[1:])
        ),
        "number of pair seeds": Disclosure(
            good.context_digest, a, good.message_key, good.seeds[:1]
        ),
        "another request": Disclosure(bytes(32), a, good.message_key, good.seeds),
    }
    for message, forged in forgeries.items():
        with pytest.raises(DisclosureError, match=message):
            verify_reveal(sealed[a].blob, forged, ctx=c.ctx)
    with pytest.raises(DisclosureError, match="malformed"):
        verify_reveal(sealed[a].blob[:-1], good, ctx=c.ctx)
    with pytest.raises(DisclosureError):
        Disclosure.from_bytes(good.to_bytes()[:-1])


def test_inconsistent_pair_commitments_name_the_cheater(
    make_consortium: ConsortiumFactory,
) -> None:
    """A sender that masks with a made-up seed breaks the sum; the public pair commitments
    of the envelopes show which pairs disagree (all of them involve the cheater)."""
    c = make_consortium(4, seed="cheater")
    quant = QuantParams.for_vector(20)
    vectors = sparse_vectors(c.senders, 20, seed=2)
    sealed = c.seal_all(vectors, quant)
    cheater = c.senders[2]
    fake_publics = dict(c.x25519)
    fake_publics[c.senders[0]] = c.x25519[c.senders[1]]  # wrong key for one neighbour
    sealed[cheater] = seal(
        vectors[cheater],
        ctx=c.ctx,
        sender=cheater,
        sender_keys=c.keys[cheater],
        receiver_public=c.receiver_keys.public(),
        peer_publics=fake_publics,
        quant=quant,
    )
    headers = {a: parse_envelope(s.blob).header for a, s in sealed.items()}
    assert inconsistent_pairs(c.ctx, headers) == [tuple(sorted((c.senders[0], cheater)))]
    honest = {a: h for a, h in headers.items() if a != cheater}
    assert inconsistent_pairs(c.ctx, honest) == []
    with pytest.raises(ContextError, match="does not belong"):
        inconsistent_pairs(
            c.ctx, {c.senders[0]: dataclasses.replace(honest[c.senders[0]], pair_commits=())}
        )
    # Sanity: the honest pair seeds agree with what the cheater should have used.
    seeds = derive_pair_seeds(c.ctx, cheater, c.keys[cheater], c.x25519)
    assert len(seeds.seeds) == 3
