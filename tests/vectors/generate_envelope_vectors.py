"""Regenerate tests/vectors/envelope_v1.json (run by hand ONLY when the format version changes).

    .venv/bin/python tests/vectors/generate_envelope_vectors.py

Every random input (keys, message keys, nonces, HPKE ephemeral keys) comes from a seeded
source, so the envelopes are reproducible byte for byte; the checked-in file freezes them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from client.crypto import (
    PartyKeys,
    QuantParams,
    RoundContext,
    aggregate_ring,
    open_envelope,
    recovery_stream,
    seal,
    seeded_random,
)

OUT = Path(__file__).with_name("envelope_v1.json")


def _case(name: str, quant: QuantParams, vectors: list[list[float]], k_n: int | None) -> dict:
    n = len(vectors)
    key_rng = seeded_random(f"fppdl/kat/{name}/keys".encode())
    senders = [bytes([0x10 + i]) * 20 for i in range(n)]
    sender_keys = [PartyKeys.generate(rng=key_rng) for _ in senders]
    receiver_keys = PartyKeys.generate(rng=key_rng)
    ctx = RoundContext(
        31337,
        bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3"),
        42,
        bytes([0xEE]) * 20,
        tuple(senders),
        k_n,
    )
    publics = {a: k.public().x25519 for a, k in zip(senders, sender_keys, strict=True)}
    blobs = []
    for i, (a, k) in enumerate(zip(senders, sender_keys, strict=True)):
        vec = np.array(vectors[i], dtype=np.float32)
        sealed = seal(
            vec,
            ctx=ctx,
            sender=a,
            sender_keys=k,
            receiver_public=receiver_keys.public(),
            peer_publics=publics,
            quant=quant,
            rng=seeded_random(f"fppdl/kat/{name}/{i}".encode()),
        )
        blobs.append(sealed.blob)
    shares = [
        open_envelope(b, ctx=ctx, sender=a, receiver_keys=receiver_keys)
        for a, b in zip(senders, blobs, strict=True)
    ]
    total, _ = aggregate_ring(shares, ctx=ctx)
    # Dropout of the first sender: every surviving neighbour discloses its pair seed.
    recoveries = [
        recovery_stream(
            ctx,
            survivor=x,
            survivor_keys=sender_keys[i + 1],
            dropped=senders[0],
            peer_publics=publics,
        )
        for i, x in enumerate(senders[1:])
        if senders[0] in ctx.neighbours_of(x)
    ]
    partial, _ = aggregate_ring(shares[1:], ctx=ctx, recoveries=recoveries)
    out: dict[str, Any] = {
        "name": name,
        "chain_id": ctx.chain_id,
        "contract": ctx.contract.hex(),
        "round": ctx.round,
        "receiver": ctx.receiver.hex(),
        "neighbours": k_n,
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
        "envelopes": [b.hex() for b in blobs],
        "ring_sum": [int(v) for v in total],
        "recoveries": [r.to_bytes().hex() for r in recoveries],
        "ring_sum_without_first": [int(v) for v in partial],
    }
    return out


def main() -> None:
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
            "k64-indicator-kn2",
            QuantParams.for_values_and_indicator(3, bits=64),
            [
                [0.5, 0.0, -2.0, 1, 0, 1],
                [0.0, 0.0, 4.0, 0, 0, 1],
                [0.0, 1.5, 0.0, 0, 1, 0],
                [-0.5, 0.0, 0.0, 1, 0, 0],
            ],
            2,
        ),
    ]
    OUT.write_text(json.dumps({"format": "fppdl envelope v1", "cases": cases}, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
