"""Attackers for ``fppdl demo --adversary KIND`` and the tests.

An attacker is a stranger who tries to stop or game the consortium from inside it.

Each kind registers the way a real attacker would (a signed ``register`` transaction and,
where it needs one, an object in the shared store) and then acts as it likes; the honest
parties never know which one it is. The scheduler steps an attacker like a party. What the
consortium did about it is read back from the chain: refused (the ledger rejected it),
removed (the credible set voted it out) or excluded (it got nothing and paid for nothing).
A kind may need a deployment of its own (:func:`admission_for`: the sybil meets an allowlist).
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
from client.chain.records import Admission, DownloadRequest, PartyStatus, Phase
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
        #: The contract's name for the refusal (e.g. ``NotAdmitted``), when it gave one.
        self.refused_with: str = ""

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
                self.refused_with = err.error_name
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
            return Outcome(self.kind, "refused", None, {"refused_with": self.refused_with})
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


class Sybil(Adversary):
    """An address the deployment did not admit, making the claim that mints the most points.

    Its claim is within every bound (a valid key, |D| in range, u / |D| at the highest
    sharing level allowed): only admission stands between it and the registry. The scheduler
    deploys its consortium with ALLOWLIST admission of the honest parties
    (:func:`admission_for`).
    """

    kind = "sybil"

    def register(self) -> None:
        """Register a fresh key at the highest sharing level the ledger allows."""
        from client.crypto import PartyKeys

        params = self.ledger.parameters()
        size = max(params.min_data_size, CLAIMED_SAMPLES * params.max_sharing_denominator
                   // max(1, params.max_sharing_numerator))
        released = size * params.max_sharing_numerator // params.max_sharing_denominator
        key = PartyKeys.generate().public().to_bytes()
        digest = self.store.put(self._samples(released)).commitment
        self._register(key, size, released, digest)


class StaleReporter(Adversary):
    """A member whose removal votes outlive their window or its own membership.

    It registers a valid key and an ordinary claim but never stores its samples, so that the
    honest parties report it at once, without waiting for it; in the one window where its
    own report is valid (the initial benchmarking, while it is still credible) it reports
    every other party. Once removed it reports them again in every phase of every epoch: for
    the finished epoch, outside the assessment window, as a removed party. The ledger must
    refuse each of these, and its one valid report must stop counting once it is removed
    (the quorum counts only the reports of parties still credible), so that no honest party
    is ever removed by it.
    """

    kind = "stale-reporter"

    def __init__(self, account: LocalAccount, ledger: Ledger, store: ContentStore) -> None:
        super().__init__(account, ledger, store)
        #: The parties it reported inside the window (accepted by the ledger).
        self.reported: tuple[str, ...] = ()
        #: (epoch in which it tried, epoch it reported for, contract error) of each refusal.
        self.stale_refused: list[tuple[int, int, str]] = []
        #: Stale reports the ledger accepted (none, if the votes are sound).
        self.stale_accepted = 0
        #: Why its window report failed, if it did (then it has nothing to go stale).
        self.window_error = ""
        self._tried: set[tuple[int, Phase, PartyStatus]] = set()

    def register(self) -> None:
        """Register a fresh key, an ordinary claim and a digest of nothing stored."""
        from client.crypto import PartyKeys

        key = PartyKeys.generate().public().to_bytes()
        self._register(key, CLAIMED_SIZE, CLAIMED_SAMPLES, os.urandom(32))

    def step(self) -> bool:
        """Report once inside the window, then once per phase and epoch outside it."""
        if self.refused:
            return False
        status = self.ledger.party_info(self.address).status
        if status is PartyStatus.NONE or not self.ledger.registration_closed():
            return super().step()
        phase, epoch = self.ledger.phase(), self.ledger.current_round()
        if phase is Phase.FINISHED:
            return False
        targets = [p for p in self.ledger.parties() if p != self.address]
        if status is PartyStatus.CREDIBLE and epoch == 0:
            if self.reported or self.window_error:
                return False
            # Inside the window: a valid report, which must not outlive its reporter.
            try:
                self.ledger.report_low_quality(0, targets)
                self.reported = tuple(targets)
            except LedgerError as err:
                self.window_error = str(err) or type(err).__name__
            return True
        if (epoch, phase, status) in self._tried:
            return False
        self._tried.add((epoch, phase, status))
        # The finished epoch once a round runs; the current one while removed in benchmarking.
        stale = 0 if epoch >= 1 or status is not PartyStatus.CREDIBLE else epoch
        try:
            self.ledger.report_low_quality(stale, targets)
            self.stale_accepted += 1
        except LedgerError as err:
            name = err.error_name if isinstance(err, ContractRevert) else type(err).__name__
            self.stale_refused.append((epoch, stale, name))
        return True

    def stale_counted(self) -> int:
        """Return how many parties its window report counts against after its removal.

        Measured from the ledger's own tally: a party's credible report count minus the
        reports of its other reporters that are still credible (0 while it is a member,
        whose report is then not stale).
        """
        credible = set(self.ledger.credible_parties())
        if self.address in credible:
            return 0  # still a member: its report is not stale
        counted = 0
        for target in self.reported:
            others = [r for r in self.ledger.reporters_of(0, target)
                      if r != self.address and r in credible]
            if self.ledger.credible_report_count(0, target) > len(others):
                counted += 1
        return counted

    def outcome(self) -> Outcome:
        """Return ``refused`` when the ledger refused every stale report and counts none."""
        if self.refused:
            return super().outcome()
        removal = next((r for r in self.ledger.removals() if r.party == self.address), None)
        counted = self.stale_counted()
        stopped = self.stale_refused and not self.stale_accepted and not counted
        extra = {
            "reported": len(self.reported),
            "stale_refused": len(self.stale_refused),
            "stale_errors": sorted({name for _, _, name in self.stale_refused}),
            "stale_accepted": self.stale_accepted,
            "stale_counted": counted,
            "removed_epoch": removal.epoch if removal is not None else None,
        }
        first = self.stale_refused[0][0] if self.stale_refused else None
        return Outcome(self.kind, "refused" if stopped else "not stopped", first, extra)


_KINDS: dict[str, Callable[[LocalAccount, Ledger, ContentStore], Adversary]] = {
    JunkKey.kind: JunkKey,
    MissingSamples.kind: MissingSamples,
    HugeClaim.kind: HugeClaim,
    Sybil.kind: Sybil,
    StaleReporter.kind: StaleReporter,
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
            vector = self.rules.encode(epoch, request.requester, entries,
                                       delta=self.state.delta, params=params)
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


def admission_for(kind: str | None) -> Admission:
    """Return the admission a consortium attacked by ``kind`` is deployed with.

    OPEN (anyone may register) unless the kind attacks admission itself: a stranger must be
    able to register to try its junk, while a sybil meets the allowlist of a permissioned
    consortium, which is what it has to get past.
    """
    return Admission.ALLOWLIST if kind == Sybil.kind else Admission.OPEN


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


__all__ = ["Adversary", "Outcome", "StaleReporter", "Sybil", "admission_for", "adversary_kinds",
           "adversary_report", "make_adversary"]
