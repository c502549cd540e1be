"""Attackers for ``fppdl demo --adversary KIND`` and the tests.

An attacker is a stranger who tries to stop or game the consortium from inside it.

Each kind registers the way a real attacker would (a signed ``register`` transaction and,
where it needs one, an object in the shared store) and then acts as it likes; the honest
parties never know which one it is. The scheduler steps an attacker like a party. What the
consortium did about it is read back from the chain: refused (the ledger rejected it),
removed (the credible set voted it out) or excluded (it got nothing and paid for nothing).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from eth_account.signers.local import LocalAccount

from client.chain.errors import ContractRevert, LedgerError
from client.chain.ledger import Ledger
from client.chain.records import DownloadRequest, PartyStatus, Phase
from client.errors import FppdlError
from client.protocol.party import Party
from storage import ContentStore, compute_cid
from trainer.dpgan import SampleRelease

#: What a junk registrant claims unless its kind says otherwise (an ordinary honest claim).
CLAIMED_SIZE: Final = 600
CLAIMED_SAMPLES: Final = 60
#: The X25519 identity point: 32 bytes that parse as a key but give no shared secret.
LOW_ORDER_KEY: Final = bytes(32)


class UnknownAdversary(FppdlError, ValueError):
    """No adversary is registered under that name."""


@dataclass(frozen=True)
class Outcome:
    """What the consortium did about the attacker (the demo's ``adversary`` block)."""

    kind: str
    outcome: str
    epoch: int | None
    #: For the dispute kinds: the claims against the attacker and their verdicts.
    extra: dict[str, Any] = field(default_factory=dict)


class Adversary(ABC):
    """An attacking registrant, stepped by the scheduler like a party."""

    kind: str = ""

    def __init__(self, account: LocalAccount, ledger: Ledger, store: ContentStore) -> None:
        self.account = account
        self.ledger = ledger.with_account(account)
        self.store = store
        self.refused: str = ""

    @property
    def address(self) -> str:
        """Return the attacker's address."""
        return str(self.account.address)

    def step(self) -> bool:
        """Act if anything is due; return whether anything was done."""
        if self.refused:
            return False
        status = self.ledger.party_info(self.address).status
        if status is PartyStatus.NONE and self.ledger.phase() is Phase.REGISTRATION:
            try:
                self.register()
            except ContractRevert as err:
                self.refused = str(err)
            return True
        if status is PartyStatus.CREDIBLE:
            return self.act()
        return False

    @abstractmethod
    def register(self) -> None:
        """Send the attacker's registration."""

    def act(self) -> bool:
        """Act as a member after registration (default: stay silent)."""
        return False

    def outcome(self) -> Outcome:
        """Return what happened to the attacker, read from the chain."""
        if self.refused:
            return Outcome(self.kind, "refused", None)
        removal = next((r for r in self.ledger.removals() if r.party == self.address), None)
        if removal is not None:
            return Outcome(self.kind, "removed", removal.epoch)
        earned = any(self.address == u.uploader for u in self.ledger.uploads())
        return Outcome(self.kind, "excluded" if not earned else "not stopped", None)

    def _samples(self, count: int) -> bytes:
        rng = np.random.default_rng(int.from_bytes(os.urandom(4), "big"))
        pixels = rng.integers(0, 256, size=(count, 1, 32, 32), dtype=np.uint8)
        return SampleRelease(pixels, 0, 0).to_bytes()

    def _register(self, key: bytes, size: int, released: int, digest: bytes) -> None:
        self.ledger.register(key, size, released, digest)


class JunkKey(Adversary):
    """Registers the X25519 identity point: every mask and note with it fails."""

    kind = "junk-key"

    def register(self) -> None:
        """Register a low-order key with an ordinary claim and real (noise) samples."""
        digest = self.store.put(self._samples(CLAIMED_SAMPLES)).commitment
        self._register(LOW_ORDER_KEY, CLAIMED_SIZE, CLAIMED_SAMPLES, digest)


class MissingSamples(Adversary):
    """Registers a samples digest of nothing stored: nobody can label its samples."""

    kind = "missing-samples"

    def register(self) -> None:
        """Register a fresh key, an ordinary claim and a digest of nothing."""
        from client.crypto import PartyKeys

        key = PartyKeys.generate().public().to_bytes()
        self._register(key, CLAIMED_SIZE, CLAIMED_SAMPLES, os.urandom(32))


class HugeClaim(Adversary):
    """Claims |D| = u = 10^9: the sharing level 1 maximises minted points (a sybil's claim)."""

    kind = "huge-claim"

    def register(self) -> None:
        """Register an absurd claim; the samples it points at are a handful of noise."""
        from client.crypto import PartyKeys

        key = PartyKeys.generate().public().to_bytes()
        digest = self.store.put(self._samples(4)).commitment
        self._register(key, 10**9, 10**9, digest)


_KINDS: dict[str, Callable[[LocalAccount, Ledger, ContentStore], Adversary]] = {
    JunkKey.kind: JunkKey,
    MissingSamples.kind: MissingSamples,
    HugeClaim.kind: HugeClaim,
}


class GarbageUploader(Party):
    """A member that sells nothing: its UPLOAD commits digests of nothing stored.

    Otherwise it takes part honestly, and it expects to keep the payments.
    """

    def _upload(self, epoch: int) -> bool:
        if self.ledger.uploads(epoch, self.address):
            return False
        credible = set(self.ledger.credible_parties())
        mine = [r for r in self.ledger.download_requests(epoch)
                if self.address in r.uploaders and r.requester in credible]
        if not mine:
            return False
        self.ledger.upload_ciphertexts([r.requester for r in mine],
                                       [os.urandom(32) for _ in mine])
        return True


class LateUploader(Party):
    """A member whose round-1 envelopes reach the store but whose UPLOAD lands too late.

    Its UPLOAD reverts after the deadline: the case in which the others used to disclose
    their pair seeds with it while the receiver held its stored envelope.
    """

    #: The round in which its upload is late.
    LATE_ROUND = 1

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: (requester, envelope, encoded vector) of the late round, for the measurement.
        self.late: list[tuple[DownloadRequest, bytes, npt.NDArray[np.float32]]] = []
        self._sent_late = False

    def _upload(self, epoch: int) -> bool:
        if epoch != self.LATE_ROUND:
            return super()._upload(epoch)
        if self.late:
            return False
        assert self.state.delta is not None
        params = self.learner.params()
        for request in self.ledger.download_requests(epoch):
            if self.address not in request.uploaders:
                continue
            entries = request.amounts[request.uploaders.index(self.address)]
            vector = self.rule.encode(delta=self.state.delta, params=params, entries=entries)
            blob = self.exchange.seal(epoch, request, vector).blob
            self.store.put(blob)  # in the shared store, never committed in time
            self.late.append((request, blob, vector))
        return bool(self.late)

    def step(self) -> bool:
        """Send the late UPLOAD once the round is past its upload deadline, then go on."""
        if self.late and not self._sent_late and self.ledger.phase() is Phase.SETTLE:
            self._sent_late = True
            try:
                self.ledger.upload_ciphertexts(
                    [r.requester for r, _, _ in self.late],
                    [compute_cid(blob).commitment for _, blob, _ in self.late],
                )
            except LedgerError as err:
                self.state.record("late_upload_refused", round=self.LATE_ROUND, error=str(err))
            return True
        return super().step()


#: Kinds played by a full party (the scheduler composes it with this type; None: the
#: free-rider's ordinary Party around a learner that has no data).
PARTY_KINDS: Final[dict[str, type[Party] | None]] = {
    "free-rider": None,
    "garbage-upload": GarbageUploader,
    "late-upload": LateUploader,
}


def adversary_kinds() -> tuple[str, ...]:
    """Return every kind ``fppdl demo --adversary`` accepts."""
    return (*PARTY_KINDS, *_KINDS)


def claims_outcome(ledger: Ledger, attacker: str, from_block: int) -> dict[str, Any]:
    """Return the ``claim``, ``verdict``, ``refunded_points`` and ``fined_points`` fields."""
    filed = [c for c in ledger.claims_filed(from_block=from_block) if c.uploader == attacker]
    verdicts = [v for v in ledger.claim_verdicts(from_block=from_block) if v.uploader == attacker]
    upheld = [v for v in verdicts if v.upheld]
    return {
        "claim": filed[0].kind.name.lower() if filed else None,
        "verdict": ("upheld" if upheld else "rejected") if verdicts else None,
        "refunded_points": sum(v.payment for v in upheld),
        "fined_points": sum(v.fine for v in upheld),
    }


def make_adversary(
    kind: str, account: LocalAccount, ledger: Ledger, store: ContentStore
) -> Adversary:
    """Return the attacker of ``kind`` (not for :data:`PARTY_KINDS`)."""
    if kind not in _KINDS:
        raise UnknownAdversary(
            f"unknown adversary {kind!r}: choose one of {', '.join(adversary_kinds())}"
        )
    return _KINDS[kind](account, ledger, store)


def adversary_report(
    outcome: Outcome, *, honest: list[dict[str, Any]], rounds: int, points_conserved: bool
) -> dict[str, Any]:
    """Return the ``adversary`` block of results.json (field names are a contract).

    ``honest`` are the honest parties' result rows; they finished when every one of them
    recorded all ``rounds`` rounds.
    """
    return {
        "kind": outcome.kind,
        "outcome": outcome.outcome,
        "epoch": outcome.epoch,
        "honest_finished": all(len(r["accuracy_per_round"]) == rounds for r in honest),
        "honest_removed": sum(1 for r in honest if r["removed"]),
        "points_conserved": points_conserved,
        **outcome.extra,
    }


__all__ = ["Adversary", "Outcome", "adversary_kinds", "adversary_report", "make_adversary"]
