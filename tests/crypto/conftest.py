"""Fixtures for the crypto suite: small deterministic consortia (keys are seeded for speed
and reproducibility; the production default is OS randomness), and the round helpers that
play every party of one request: seal, receipt, neighbours' reveals, aggregation."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pytest

from client.crypto import (
    Aggregate,
    Exclusion,
    MaskedShare,
    PartyKeys,
    QuantParams,
    Receipt,
    RevealGuard,
    RoundContext,
    Sealed,
    UnmaskMessage,
    WrapSuite,
    aggregate,
    decide_reveals,
    make_receipt,
    open_envelope,
    seal,
    seeded_random,
)

CHAIN_ID = 31337
CONTRACT = bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")


def address(label: str) -> bytes:
    """A 20-byte test address derived from a label."""
    return hashlib.sha256(label.encode()).digest()[:20]


def digest(blob: bytes) -> bytes:
    """The 32-byte on-chain commitment of a stored blob (the store's own is opaque too)."""
    return hashlib.sha256(blob).digest()


@dataclass
class Consortium:
    """A receiver and its senders with keys and a context for one round."""

    ctx: RoundContext
    keys: dict[bytes, PartyKeys]
    receiver_keys: PartyKeys
    guards: dict[bytes, RevealGuard] = field(default_factory=dict)
    saved: dict[bytes, bytes] = field(default_factory=dict)

    @property
    def senders(self) -> tuple[bytes, ...]:
        return self.ctx.senders

    @property
    def x25519(self) -> dict[bytes, bytes]:
        return {a: k.public().x25519 for a, k in self.keys.items()}

    def seal_one(
        self,
        sender: bytes,
        vector: npt.NDArray[np.float32],
        quant: QuantParams,
        suite: WrapSuite = WrapSuite.X25519,
    ) -> Sealed:
        return seal(
            vector,
            ctx=self.ctx,
            sender=sender,
            sender_keys=self.keys[sender],
            receiver_public=self.receiver_keys.public(),
            peer_publics=self.x25519,
            quant=quant,
            suite=suite,
        )

    def seal_all(
        self,
        vectors: Mapping[bytes, npt.NDArray[np.float32]],
        quant: QuantParams,
        suite: WrapSuite = WrapSuite.X25519,
    ) -> dict[bytes, Sealed]:
        return {a: self.seal_one(a, vectors[a], quant, suite) for a in vectors}

    def open_one(self, sender: bytes, blob: bytes) -> MaskedShare:
        return open_envelope(blob, ctx=self.ctx, sender=sender, receiver_keys=self.receiver_keys)

    def open_all(self, sealed: Mapping[bytes, Sealed]) -> list[MaskedShare]:
        return [self.open_one(a, s.blob) for a, s in sealed.items()]

    def guard(self, holder: bytes) -> RevealGuard:
        """The holder's guard, reloaded from its last persisted bytes (as after a restart)."""
        if holder in self.saved:
            return RevealGuard.from_bytes(
                self.saved[holder], holder=holder, chain_id=CHAIN_ID, contract=CONTRACT
            )
        return self.guards.setdefault(
            holder, RevealGuard(holder=holder, chain_id=CHAIN_ID, contract=CONTRACT)
        )

    def reveal(
        self,
        holder: bytes,
        *,
        uploads: Mapping[bytes, bytes],
        receipt: Receipt | None,
        store: Mapping[bytes, bytes],
        min_accepted: int = 2,
    ) -> UnmaskMessage:
        """What ``holder`` sends the receiver: decide, guard, persist, and wire round trip."""
        plan = decide_reveals(
            self.ctx, holder, uploads=uploads, receipt=receipt, min_accepted=min_accepted
        )
        envelopes = {x: store[d] for x, d in plan.shares if d in store}
        out = self.guard(holder).reveal(
            self.ctx,
            uploads=uploads,
            receipt=receipt,
            min_accepted=min_accepted,
            holder_keys=self.keys[holder],
            peer_publics=self.x25519,
            envelopes=envelopes,
            persist=lambda data: self.saved.__setitem__(holder, data),
        )
        return UnmaskMessage.from_bytes(out.message.to_bytes(), ctx=self.ctx, holder=holder)

    def round(
        self,
        vectors: Mapping[bytes, npt.NDArray[np.float32]],
        quant: QuantParams,
        *,
        not_uploaded: Collection[bytes] = (),
        offline: Collection[bytes] = (),
        rejected: Mapping[bytes, Exclusion] | None = None,
        min_accepted: int = 2,
        suite: WrapSuite = WrapSuite.X25519,
    ) -> RoundRun:
        """Play one request: ``not_uploaded`` senders seal and store but their upload fails;
        ``offline`` ones seal nothing and reveal nothing; the receiver rejects ``rejected``."""
        sealed = self.seal_all(
            {a: v for a, v in vectors.items() if a not in offline}, quant, suite
        )
        store = {digest(s.blob): s.blob for s in sealed.values()}
        uploads = {
            a: digest(s.blob) for a, s in sealed.items() if a not in not_uploaded
        }
        receipt = make_receipt(
            self.ctx, uploads=uploads, rejected=rejected, min_accepted=min_accepted
        )
        receipt = Receipt.from_bytes(receipt.to_bytes(), ctx=self.ctx)
        unmasks = [
            self.reveal(h, uploads=uploads, receipt=receipt, store=store,
                        min_accepted=min_accepted)
            for h in self.senders
            if h not in offline
        ]
        return RoundRun(self, sealed, store, uploads, receipt, unmasks)


@dataclass
class RoundRun:
    """Everything one played request produced."""

    consortium: Consortium
    sealed: dict[bytes, Sealed]
    store: dict[bytes, bytes]
    uploads: dict[bytes, bytes]
    receipt: Receipt
    unmasks: list[UnmaskMessage]

    def store_by_sender(self) -> dict[bytes, bytes]:
        return {a: s.blob for a, s in self.sealed.items()}

    def opened(self) -> list[MaskedShare]:
        c = self.consortium
        return [c.open_one(a, self.sealed[a].blob) for a in self.receipt.accepted]

    def aggregate(self) -> Aggregate:
        return aggregate(
            self.opened(), ctx=self.consortium.ctx, receipt=self.receipt, unmasks=self.unmasks
        )


ConsortiumFactory = Callable[..., Consortium]


@pytest.fixture
def make_consortium() -> ConsortiumFactory:
    """Build a consortium of ``n`` senders (keys seeded by ``seed``)."""

    def build(
        n: int,
        *,
        neighbours: int | None = None,
        threshold: int | None = None,
        round: int = 7,
        seed: str = "consortium",
        post_quantum: bool = False,
    ) -> Consortium:
        senders = tuple(address(f"{seed}/sender/{i}") for i in range(n))
        rng = seeded_random(seed.encode())
        keys = {a: PartyKeys.generate(rng=rng) for a in senders}
        receiver_keys = PartyKeys.generate(post_quantum=post_quantum, rng=rng)
        ctx = RoundContext(
            CHAIN_ID, CONTRACT, round, address(f"{seed}/receiver"), senders, neighbours,
            threshold,
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
