"""Frozen known-answer vectors (tests/vectors/envelope_v2.json): the envelope format, both
masks, the share channel, the HPKE wrap, receipts, unmask messages and dispute openings must
reproduce them byte for byte."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from client.crypto import (
    DisputeOpening,
    Exclusion,
    PartyKeys,
    QuantParams,
    Receipt,
    RevealGuard,
    RoundContext,
    Segment,
    UnmaskMessage,
    aggregate,
    decide_reveals,
    make_receipt,
    open_envelope,
    seal,
    seeded_random,
    verify_dispute,
)

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "envelope_v2.json").read_text())[
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
        case["threshold"],
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
        if i == 0:
            opening = DisputeOpening.from_bytes(
                bytes.fromhex(case["dispute_opening_first"]), sender=a
            )
            assert opening.message_key == sealed.message_key
            assert opening.wrap_secret == sealed.wrap_secret
            verdict = verify_dispute(
                sealed.blob, opening, ctx=ctx, sender=a, receiver_public=receiver.public()
            )
            assert verdict.valid and verdict.layer3_checked


@pytest.mark.parametrize("case", VECTORS, ids=[c["name"] for c in VECTORS])
def test_frozen_envelopes_open_to_the_frozen_sums(case: dict[str, Any]) -> None:
    ctx, keys, receiver, quant = _setup(case)
    blobs = {a: bytes.fromhex(b) for a, b in zip(ctx.senders, case["envelopes"], strict=True)}
    uploads = {a: hashlib.sha256(b).digest() for a, b in blobs.items()}
    opened = {a: open_envelope(b, ctx=ctx, sender=a, receiver_keys=receiver)
              for a, b in blobs.items()}
    publics = {a: k.public().x25519 for a, k in zip(ctx.senders, keys, strict=True)}
    first = ctx.senders[0]
    for receipt_key, unmask_key, sum_key, rejected in (
        ("receipt", "unmasks", "ring_sum", {}),
        ("receipt_without_first", "unmasks_without_first", "ring_sum_without_first",
         {first: Exclusion.UNDECRYPTABLE}),
    ):
        receipt = Receipt.from_bytes(bytes.fromhex(case[receipt_key]), ctx=ctx)
        assert receipt == make_receipt(ctx, uploads=uploads, rejected=rejected)
        unmasks = [
            UnmaskMessage.from_bytes(bytes.fromhex(h), ctx=ctx, holder=a)
            for h, a in zip(case[unmask_key], ctx.senders, strict=True)
        ]
        total = aggregate([opened[a] for a in receipt.accepted], ctx=ctx, receipt=receipt,
                          unmasks=unmasks)
        assert [int(v) for v in total.ring] == case[sum_key]
        # Every holder's unmask message is reproduced from its keys and the rule.
        for holder, k, frozen in zip(ctx.senders, keys, case[unmask_key], strict=True):
            plan = decide_reveals(ctx, holder, uploads=uploads, receipt=receipt)
            guard = RevealGuard(holder=holder, chain_id=ctx.chain_id, contract=ctx.contract)
            out = guard.reveal(ctx, uploads=uploads, receipt=receipt, holder_keys=k,
                               peer_publics=publics,
                               envelopes={x: blobs[x] for x in plan.share_senders},
                               persist=lambda _: None)
            assert out.message.to_bytes().hex() == frozen
