"""Fixtures for the crypto suite: small deterministic consortia (keys are seeded for speed
and reproducibility; the production default is OS randomness)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from client.crypto import (
    MaskedShare,
    PartyKeys,
    QuantParams,
    RoundContext,
    Sealed,
    open_envelope,
    seal,
    seeded_random,
)

CHAIN_ID = 31337
CONTRACT = bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")


def address(label: str) -> bytes:
    """A 20-byte test address derived from a label."""
    return hashlib.sha256(label.encode()).digest()[:20]


@dataclass
class Consortium:
    """A receiver and its senders with keys and a context for one round."""

    ctx: RoundContext
    keys: dict[bytes, PartyKeys]
    receiver_keys: PartyKeys

    @property
    def senders(self) -> tuple[bytes, ...]:
        return self.ctx.senders

    @property
    def x25519(self) -> dict[bytes, bytes]:
        return {a: k.public().x25519 for a, k in self.keys.items()}

    def seal_all(
        self, vectors: dict[bytes, npt.NDArray[np.float32]], quant: QuantParams
    ) -> dict[bytes, Sealed]:
        publics = self.x25519
        return {
            a: seal(
                vectors[a],
                ctx=self.ctx,
                sender=a,
                sender_keys=self.keys[a],
                receiver_public=self.receiver_keys.public(),
                peer_publics=publics,
                quant=quant,
            )
            for a in vectors
        }

    def open_all(self, sealed: dict[bytes, Sealed]) -> list[MaskedShare]:
        return [
            open_envelope(s.blob, ctx=self.ctx, sender=a, receiver_keys=self.receiver_keys)
            for a, s in sealed.items()
        ]


ConsortiumFactory = Callable[..., Consortium]


@pytest.fixture
def make_consortium() -> ConsortiumFactory:
    """Build a consortium of ``n`` senders (keys seeded by ``seed``)."""

    def build(
        n: int,
        *,
        neighbours: int | None = None,
        round: int = 7,
        seed: str = "consortium",
        post_quantum: bool = False,
    ) -> Consortium:
        senders = tuple(address(f"{seed}/sender/{i}") for i in range(n))
        rng = seeded_random(seed.encode())
        keys = {a: PartyKeys.generate(rng=rng) for a in senders}
        receiver_keys = PartyKeys.generate(post_quantum=post_quantum, rng=rng)
        ctx = RoundContext(
            CHAIN_ID, CONTRACT, round, address(f"{seed}/receiver"), senders, neighbours
        )
        return Consortium(ctx, keys, receiver_keys)

    return build


def sparse_vectors(
    senders: Sequence[bytes], length: int, seed: int, density: float = 0.1, scale: float = 1.0
) -> dict[bytes, npt.NDArray[np.float32]]:
    """Dense float32 vectors with only a fraction ``density`` of non-zero entries."""
    rng = np.random.default_rng(seed)
    out = {}
    for a in senders:
        v = rng.standard_normal(length) * scale
        v[rng.random(length) >= density] = 0.0
        out[a] = v.astype(np.float32)
    return out
