"""Regenerate tests/vectors/envelope_v2.json (run by hand ONLY when a format version changes).

    .venv/bin/python tests/vectors/generate_envelope_vectors.py

Every random input (keys, message keys, nonces, self-mask seeds, Shamir coefficients, share
nonces, HPKE ephemeral keys) comes from a seeded source, so the envelopes, receipts, unmask
messages and dispute openings are reproducible byte for byte; the checked-in file freezes
them. Digests stand for the store's on-chain commitments (SHA-256 of the envelope here).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from client.crypto import (
    Exclusion,
    PartyKeys,
    QuantParams,
    Receipt,
    RevealGuard,
    RoundContext,
    UnmaskMessage,
    aggregate,
    decide_reveals,
    dispute_opening,
    make_receipt,
    open_envelope,
    seal,
    seeded_random,
)

OUT = Path(__file__).with_name("envelope_v2.json")
CHAIN_ID = 31337
CONTRACT = bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")


def _unmasks(
    ctx: RoundContext,
    keys: list[PartyKeys],
    publics: dict[bytes, bytes],
    uploads: dict[bytes, bytes],
    receipt: Receipt,
    blobs: dict[bytes, bytes],
) -> list[str]:
    out = []
    for holder, k in zip(ctx.senders, keys, strict=True):
        plan = decide_reveals(ctx, holder, uploads=uploads, receipt=receipt)
        guard = RevealGuard(holder=holder, chain_id=ctx.chain_id, contract=ctx.contract)
        envelopes = {x: blobs[x] for x in plan.share_senders}
        outcome = guard.reveal(ctx, uploads=uploads, receipt=receipt, holder_keys=k,
                               peer_publics=publics, envelopes=envelopes,
                               persist=lambda _: None)
        out.append(outcome.message.to_bytes().hex())
    return out


def _case(
    name: str,
    quant: QuantParams,
    vectors: list[list[float]],
    k_n: int | None,
    threshold: int | None = None,
) -> dict[str, Any]:
    n = len(vectors)
    key_rng = seeded_random(f"fppdl/kat/{name}/keys".encode())
    senders = [bytes([0x10 + i]) * 20 for i in range(n)]
    sender_keys = [PartyKeys.generate(rng=key_rng) for _ in senders]
    receiver_keys = PartyKeys.generate(rng=key_rng)
    ctx = RoundContext(CHAIN_ID, CONTRACT, 42, bytes([0xEE]) * 20, tuple(senders), k_n, threshold)
    publics = {a: k.public().x25519 for a, k in zip(senders, sender_keys, strict=True)}
    sealed = [
        seal(
            np.array(vectors[i], dtype=np.float32),
            ctx=ctx,
            sender=a,
            sender_keys=k,
            receiver_public=receiver_keys.public(),
            peer_publics=publics,
            quant=quant,
            rng=seeded_random(f"fppdl/kat/{name}/{i}".encode()),
        )
        for i, (a, k) in enumerate(zip(senders, sender_keys, strict=True))
    ]
    blobs = {a: s.blob for a, s in zip(senders, sealed, strict=True)}
    uploads = {a: hashlib.sha256(b).digest() for a, b in blobs.items()}
    opened = {a: open_envelope(b, ctx=ctx, sender=a, receiver_keys=receiver_keys)
              for a, b in blobs.items()}

    def run(receipt: Receipt) -> tuple[list[str], list[int]]:
        hexes = _unmasks(ctx, sender_keys, publics, uploads, receipt, blobs)
        unmasks = [UnmaskMessage.from_bytes(bytes.fromhex(h), ctx=ctx, holder=a)
                   for h, a in zip(hexes, senders, strict=True)]
        total = aggregate([opened[a] for a in receipt.accepted], ctx=ctx, receipt=receipt,
                          unmasks=unmasks)
        return hexes, [int(v) for v in total.ring]

    full = make_receipt(ctx, uploads=uploads)
    full_unmasks, ring_sum = run(full)
    partial = make_receipt(ctx, uploads=uploads, rejected={senders[0]: Exclusion.UNDECRYPTABLE})
    partial_unmasks, ring_sum_without_first = run(partial)
    return {
        "name": name,
        "chain_id": ctx.chain_id,
        "contract": ctx.contract.hex(),
        "round": ctx.round,
        "receiver": ctx.receiver.hex(),
        "neighbours": k_n,
        "threshold": threshold,
        "senders": [a.hex() for a in senders],
        "sender_private_keys": [k.x25519_private.hex() for k in sender_keys],
        "receiver_private_key": receiver_keys.x25519_private.hex(),
        "quant": {
            "bits": quant.bits,
            "max_senders": quant.max_senders,
            "segments": [[s.length, s.frac_bits] for s in quant.segments],
        },
        "vectors": vectors,
        "rng_seeds": [f"fppdl/kat/{name}/{i}" for i in range(n)],
        "envelopes": [s.blob.hex() for s in sealed],
        "receipt": full.to_bytes().hex(),
        "unmasks": full_unmasks,
        "ring_sum": ring_sum,
        "receipt_without_first": partial.to_bytes().hex(),
        "unmasks_without_first": partial_unmasks,
        "ring_sum_without_first": ring_sum_without_first,
        "dispute_opening_first": dispute_opening(sealed[0]).to_bytes().hex(),
    }


def main() -> None:
    """Write the vectors file."""
    cases = [
        _case(
            "k32-all",
            QuantParams.for_vector(6),
            [
                [0.5, -1.25, 0.0, 0.0, 3.0, 1e-3],
                [0.0, 2.0, 0.0, -7.5, 0.0, 0.0],
                [1.0, 0.0, 0.25, 0.0, 0.0, -1e-3],
            ],
            None,
        ),
        _case(
            "k64-indicator-kn2-t2",
            QuantParams.for_values_and_indicator(3, bits=64),
            [
                [0.5, 0.0, -2.0, 1, 0, 1],
                [0.0, 0.0, 4.0, 0, 0, 1],
                [0.0, 1.5, 0.0, 0, 1, 0],
                [-0.5, 0.0, 0.0, 1, 0, 0],
                [0.0, 0.0, 0.125, 0, 0, 1],
                [2.0, 0.0, 0.0, 1, 0, 0],
            ],
            2,
            2,
        ),
    ]
    OUT.write_text(json.dumps({"format": "fppdl envelope v2", "cases": cases}, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
