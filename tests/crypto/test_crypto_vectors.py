"""Frozen known-answer vectors (tests/vectors/envelope_v1.json): the envelope format,
mask derivation, HPKE wrap and recovery must reproduce them byte for byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from client.crypto import (
    PartyKeys,
    QuantParams,
    Recovery,
    RoundContext,
    Segment,
    aggregate_ring,
    open_envelope,
    recovery_stream,
    seal,
    seeded_random,
)

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "envelope_v1.json").read_text())[
    "cases"
]


def _setup(case: dict[str, Any]) -> tuple[RoundContext, list[PartyKeys], PartyKeys, QuantParams]:
    senders = tuple(bytes.fromhex(a) for a in case["senders"])
    ctx = RoundContext(
        case["chain_id"],
        bytes.fromhex(case["contract"]),
        case["round"],
        bytes.fromhex(case["receiver"]),
        senders,
        case["neighbours"],
    )
    keys = [PartyKeys(bytes.fromhex(k)) for k in case["sender_private_keys"]]
    receiver = PartyKeys(bytes.fromhex(case["receiver_private_key"]))
    q = case["quant"]
    quant = QuantParams(q["bits"], q["max_senders"], tuple(Segment(*s) for s in q["segments"]))
    return ctx, keys, receiver, quant


@pytest.mark.parametrize("case", VECTORS, ids=[c["name"] for c in VECTORS])
def test_seal_reproduces_frozen_envelopes(case: dict[str, Any]) -> None:
    ctx, keys, receiver, quant = _setup(case)
    publics = {a: k.public().x25519 for a, k in zip(ctx.senders, keys, strict=True)}
    for i, (a, k) in enumerate(zip(ctx.senders, keys, strict=True)):
        sealed = seal(
            np.array(case["vectors"][i], dtype=np.float32),
            ctx=ctx,
            sender=a,
            sender_keys=k,
            receiver_public=receiver.public(),
            peer_publics=publics,
            quant=quant,
            rng=seeded_random(case["rng_seeds"][i].encode()),
        )
        assert sealed.blob.hex() == case["envelopes"][i]


@pytest.mark.parametrize("case", VECTORS, ids=[c["name"] for c in VECTORS])
def test_frozen_envelopes_open_to_the_frozen_sums(case: dict[str, Any]) -> None:
    ctx, keys, receiver, quant = _setup(case)
    shares = [
        open_envelope(bytes.fromhex(blob), ctx=ctx, sender=a, receiver_keys=receiver)
        for a, blob in zip(ctx.senders, case["envelopes"], strict=True)
    ]
    total, _ = aggregate_ring(shares, ctx=ctx)
    assert [int(v) for v in total] == case["ring_sum"]
    recoveries = [Recovery.from_bytes(bytes.fromhex(r)) for r in case["recoveries"]]
    partial, _ = aggregate_ring(shares[1:], ctx=ctx, recoveries=recoveries)
    assert [int(v) for v in partial] == case["ring_sum_without_first"]
    publics = {a: k.public().x25519 for a, k in zip(ctx.senders, keys, strict=True)}
    for rec in recoveries:
        index = ctx.senders.index(rec.survivor)
        again = recovery_stream(
            ctx,
            survivor=rec.survivor,
            survivor_keys=keys[index],
            dropped=rec.dropped,
            peer_publics=publics,
        )
        assert again.to_bytes() == rec.to_bytes()
