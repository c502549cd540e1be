"""Frozen records exchanged with the ledger contract: parameters, reads and events.

Enums mirror the Solidity enums of contracts/IConsortiumLedger.sol (tests/chain checks the
member order against the source).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from enum import IntEnum
from typing import Any

from eth_utils import to_checksum_address


class Phase(IntEnum):
    """Consortium phase, as returned by ``phase()``."""

    REGISTRATION = 0
    BENCHMARKING = 1
    REQUEST = 2
    UPLOAD = 3
    SETTLE = 4
    FINISHED = 5


class PartyStatus(IntEnum):
    """Membership status of an address."""

    NONE = 0
    CREDIBLE = 1
    REMOVED = 2


class RequestStatus(IntEnum):
    """Status of one (round, requester, uploader) request."""

    NONE = 0
    OPEN = 1
    FULFILLED = 2
    SKIPPED = 3
    DISPUTED = 4


class ClaimKind(IntEnum):
    """What a requester claims about a delivered envelope."""

    NONE = 0
    MISSING = 1
    UNDECRYPTABLE = 2
    MALFORMED = 3


class ClaimState(IntEnum):
    """Life cycle of a claim."""

    NONE = 0
    FILED = 1
    ANSWERED = 2
    UPHELD = 3
    REJECTED = 4


class ClaimResolution(IntEnum):
    """Why a claim was resolved."""

    SILENCE = 0
    VOTES = 1
    DEADLINE = 2
    CONCESSION = 3


class Admission(IntEnum):
    """Who may register: OPEN (anyone: devnets and tests only), ALLOWLIST, or VOTE.

    VOTE admits the allowlisted founders plus the addresses their members vote in.
    """

    OPEN = 0
    ALLOWLIST = 1
    VOTE = 2


class ThresholdMode(IntEnum):
    """How c_th is derived: PAPER (num/den)/|C|; AUTHORS (num/den)/(|C|-1)."""

    PAPER = 0
    AUTHORS = 1


#: Fields of the Solidity ``Parameters`` struct, in order (the ABI tuple).
_STRUCT_FIELDS = (
    "model_size", "min_parties", "max_parties", "rounds", "registration_blocks",
    "registration_deadline", "benchmark_blocks", "request_blocks", "upload_blocks",
    "settle_blocks", "quorum_numerator", "quorum_denominator", "threshold_mode",
    "threshold_numerator", "threshold_denominator", "admission", "admission_quorum_numerator",
    "admission_quorum_denominator", "registration_deposit", "min_data_size", "max_data_size",
    "max_sharing_numerator", "max_sharing_denominator", "min_uploaders", "claim_deposit",
    "response_blocks", "vote_blocks", "retention_blocks",
)
_ENUM_FIELDS: dict[str, type[IntEnum]] = {
    "threshold_mode": ThresholdMode, "admission": Admission,
}
#: Fields that say *when* a deployment happened rather than *what* a user chose; ignored by
#: :meth:`LedgerParams.differences`.
_CIRCUMSTANTIAL = frozenset({"registration_deadline"})


@dataclass(frozen=True)
class LedgerParams:
    """Deployment parameters: the Solidity ``Parameters`` struct, the allowlist and settings.

    Phase lengths are in blocks. Registration lasts ``registration_blocks`` from the deployment
    block; ``registration_deadline`` is the resulting absolute block as read back from a ledger
    (0 when deploying: derived on-chain; a nonzero value overrides the length, for callers that
    compute an absolute deadline). The default removal quorum is ceil(2/3 |C|) and the default
    threshold is the authors' c_th = (1/3) / (|C| - 1); the paper's (2/3) / |C| is
    ``ThresholdMode.PAPER`` with 2/3. ``admission`` OPEN lets anyone register (devnets and
    tests only); ALLOWLIST admits exactly ``allowlist``; VOTE admits ``allowlist`` (the
    founders) plus addresses voted in by ceil(admission quorum * admitted) members.
    ``registration_deposit`` is in wei. ``max_sharing_numerator / max_sharing_denominator``
    bounds u_i / |D_i| at registration. A nonempty DOWNLOAD names at least ``min_uploaders``
    uploaders (2 by default, so that no sum is one sender's update: a consortium then needs at
    least 3 parties; a two-party deployment sets ``min_parties=2, min_uploaders=1`` explicitly,
    and its sums hide nothing). Claims cost ``claim_deposit`` points; the uploader answers
    within ``response_blocks``, the credible set votes within ``vote_blocks`` more, and content
    stays retained ``retention_blocks`` after its round closes (at least the two together).
    ``settings`` are the consortium-wide settings (encoded by the client, at most 4096 bytes).
    """

    model_size: int
    min_parties: int = 3
    max_parties: int = 50
    rounds: int = 100
    registration_blocks: int = 1_000
    registration_deadline: int = 0
    benchmark_blocks: int = 1_000
    request_blocks: int = 100
    upload_blocks: int = 100
    settle_blocks: int = 1_000
    quorum_numerator: int = 2
    quorum_denominator: int = 3
    # The authors' rule, (1/3) / (|C| - 1): measured to separate free-riders from honest
    # parties while the paper's (2/3) / n sits close to weak-but-honest ones
    # (docs/design/ledger.md#the-c_th-choice).
    threshold_mode: ThresholdMode = ThresholdMode.AUTHORS
    threshold_numerator: int = 1
    threshold_denominator: int = 3
    admission: Admission = Admission.OPEN
    admission_quorum_numerator: int = 1
    admission_quorum_denominator: int = 2
    registration_deposit: int = 0
    min_data_size: int = 1
    max_data_size: int = 100_000
    # The highest sharing level the partitions draw (U[0.1, 0.5]).
    max_sharing_numerator: int = 1
    max_sharing_denominator: int = 2
    min_uploaders: int = 2
    claim_deposit: int = 1_000
    response_blocks: int = 100
    vote_blocks: int = 200
    retention_blocks: int = 300
    allowlist: tuple[str, ...] = ()
    settings: bytes = b""

    def as_tuple(self) -> tuple[int, ...]:
        """Return the ABI tuple of the Solidity ``Parameters`` struct."""
        return tuple(int(getattr(self, name)) for name in _STRUCT_FIELDS)

    def constructor_args(self) -> tuple[Any, ...]:
        """Return the constructor arguments: the struct tuple, the allowlist and settings."""
        return (
            self.as_tuple(), [to_checksum_address(a) for a in self.allowlist], bytes(self.settings)
        )

    @classmethod
    def from_tuple(
        cls,
        values: tuple[Any, ...] | list[Any],
        allowlist: tuple[str, ...] = (),
        settings: bytes = b"",
    ) -> LedgerParams:
        """Build from the ABI tuple returned by ``parameters()`` (and allowlist, settings)."""
        parsed: dict[str, Any] = {}
        for name, value in zip(_STRUCT_FIELDS, values, strict=True):
            kind = _ENUM_FIELDS.get(name)
            parsed[name] = kind(value) if kind is not None else int(value)
        return cls(**parsed, allowlist=tuple(allowlist), settings=bytes(settings))

    def as_json(self) -> dict[str, Any]:
        """Return the parameters as a JSON object (integers; allowlist list; settings hex)."""
        out: dict[str, Any] = {name: int(getattr(self, name)) for name in _STRUCT_FIELDS}
        out["allowlist"] = list(self.allowlist)
        out["settings"] = "0x" + bytes(self.settings).hex()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LedgerParams:
        """Parse :meth:`as_json` output; unknown keys are refused, missing ones defaulted."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown ledger parameters {unknown}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name == "allowlist":
                values[name] = tuple(str(v) for v in value)
            elif name == "settings":
                values[name] = bytes.fromhex(str(value).removeprefix("0x"))
            else:
                kind = _ENUM_FIELDS.get(name)
                values[name] = kind(int(value)) if kind is not None else int(value)
        return cls(**values)

    def differences(self, other: LedgerParams) -> dict[str, tuple[Any, Any]]:
        """Return ``{field: (mine, theirs)}`` for every user-chosen field that differs.

        The absolute ``registration_deadline`` is ignored (it depends on when a deployment
        happened); the relative ``registration_blocks`` is compared. Allowlists compare as
        sets of checksummed-or-not addresses, case-insensitively.
        """
        out: dict[str, tuple[Any, Any]] = {}
        for f in fields(self):
            if f.name in _CIRCUMSTANTIAL:
                continue
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if f.name == "allowlist":
                if {a.lower() for a in mine} != {a.lower() for a in theirs}:
                    out[f.name] = (mine, theirs)
            elif f.name == "settings":
                if bytes(mine) != bytes(theirs):
                    out[f.name] = (mine, theirs)
            elif int(mine) != int(theirs):
                out[f.name] = (mine, theirs)
        return out

    def relative_to(self, block_number: int) -> LedgerParams:
        """Return these parameters with an absolute deadline turned into a length.

        A deployment sent now executes in block ``block_number + 1`` on an auto-mining node,
        so a deadline D becomes ``registration_blocks = D - block_number - 1``.
        """
        if self.registration_deadline == 0:
            return self
        blocks = self.registration_deadline - block_number - 1
        return replace(self, registration_blocks=max(0, blocks), registration_deadline=0)


@dataclass(frozen=True)
class Ratio:
    """An exact non-negative rational numerator / denominator."""

    numerator: int
    denominator: int


@dataclass(frozen=True)
class PartyInfo:
    """Registration data of one party."""

    address: str
    status: PartyStatus
    index: int
    data_size: int
    samples_released: int
    samples_digest: bytes
    enc_pub_key: bytes


@dataclass(frozen=True)
class Points:
    """Points of one party in every bucket (``pointsOf``).

    ``balance`` is spendable; ``escrowed`` backs the party's requests; ``pending`` are payments
    for its deliveries whose dispute window is open (or closed but not yet settled);
    ``disputed`` are payments held by claims against it; ``deposited`` its own claim deposits.
    ``releasable`` is what its next DOWNLOAD (or ``settle``) moves to the balance: escrow of a
    closed round and pending payments whose window closed.
    """

    balance: int
    escrowed: int
    pending: int
    disputed: int
    deposited: int
    releasable: int

    @property
    def spendable(self) -> int:
        """Points the party's next DOWNLOAD can escrow: ``balance + releasable``."""
        return self.balance + self.releasable

    @property
    def total(self) -> int:
        """Sum of every bucket; over all parties it equals ``totalPoints()``."""
        return self.balance + self.escrowed + self.pending + self.disputed + self.deposited


@dataclass(frozen=True)
class ClaimInfo:
    """One claim as stored on-chain (``claim(id)``)."""

    claim_id: int
    requester: str
    round: int
    kind: ClaimKind
    state: ClaimState
    uploader: str
    amount: int
    response_deadline: int
    vote_deadline: int
    digest: bytes
    revealed_key: bytes

    @property
    def open(self) -> bool:
        """Whether the claim awaits a response or votes."""
        return self.state in (ClaimState.FILED, ClaimState.ANSWERED)


@dataclass(frozen=True)
class ClaimTally:
    """Votes on a claim that count now, and its electorate (``claimTally``)."""

    upheld: int
    rejected: int
    eligible: int


@dataclass(frozen=True)
class RequestState:
    """One (round, requester, uploader) request as stored on-chain."""

    round: int
    requester: str
    uploader: str
    amount: int
    status: RequestStatus


@dataclass(frozen=True)
class RoundDeadlines:
    """Start block and absolute deadline blocks of one epoch's phases."""

    start: int
    request_deadline: int
    upload_deadline: int
    settle_deadline: int


@dataclass(frozen=True)
class RoundProgress:
    """How many parties acted in each phase of one epoch."""

    requests: int
    uploaders_expected: int
    uploads: int
    votes: int


@dataclass(frozen=True)
class Receipt:
    """Outcome of a mined transaction."""

    tx_hash: str
    block_number: int
    gas_used: int


@dataclass(frozen=True)
class EventMeta:
    """Where an event was emitted."""

    block_number: int
    tx_hash: str
    log_index: int


@dataclass(frozen=True)
class Registration:
    """A ``PartyRegistered`` event."""

    party: str
    index: int
    data_size: int
    samples_released: int
    samples_digest: bytes
    enc_pub_key: bytes
    meta: EventMeta
    deposit: int = 0


@dataclass(frozen=True)
class DownloadRequest:
    """A ``DownloadRequested`` event: the requester's full uploader set for one round."""

    round: int
    requester: str
    uploaders: tuple[str, ...]
    amounts: tuple[int, ...]
    meta: EventMeta


@dataclass(frozen=True)
class Upload:
    """A ``CiphertextsUploaded`` event.

    ``pending`` is the total escrow of the requests it fulfilled, now pending for the uploader;
    ``accumulator`` the uploader's hash chain value after this UPLOAD.
    """

    round: int
    uploader: str
    requesters: tuple[str, ...]
    digests: tuple[bytes, ...]
    meta: EventMeta
    pending: int = 0
    accumulator: bytes = b""


@dataclass(frozen=True)
class ClaimFiling:
    """A ``ClaimFiled`` event."""

    claim_id: int
    round: int
    requester: str
    uploader: str
    kind: ClaimKind
    digest: bytes
    amount: int
    deposit: int
    response_deadline: int
    vote_deadline: int
    meta: EventMeta


@dataclass(frozen=True)
class ClaimVerdict:
    """A ``ClaimResolved`` event (see the contract's NatSpec for who got what)."""

    claim_id: int
    requester: str
    uploader: str
    upheld: bool
    cause: ClaimResolution
    payment: int
    deposit: int
    fine: int
    meta: EventMeta


@dataclass(frozen=True)
class SkippedRequest:
    """A ``RequestSkipped`` event: a removed requester's request, refunded at UPLOAD."""

    round: int
    requester: str
    uploader: str
    refunded: int
    meta: EventMeta


@dataclass(frozen=True)
class AdmissionVote:
    """An ``AdmissionVoted`` event."""

    candidate: str
    voter: str
    votes: int
    quorum: int
    meta: EventMeta


@dataclass(frozen=True)
class LowQualityReport:
    """A ``LowQualityReported`` event."""

    epoch: int
    reporter: str
    suspects: tuple[str, ...]
    meta: EventMeta


@dataclass(frozen=True)
class Removal:
    """A ``PartyRemoved`` event."""

    party: str
    epoch: int
    reporters: tuple[str, ...]
    meta: EventMeta
    forfeited: int = 0


@dataclass(frozen=True)
class MessageCommitment:
    """A ``MessagesCommitted`` event."""

    epoch: int
    kind: int
    sender: str
    recipients: tuple[str, ...]
    digests: tuple[bytes, ...]
    accumulator: bytes
    meta: EventMeta


@dataclass(frozen=True)
class RoundOpening:
    """A ``RoundOpened`` event."""

    round: int
    request_deadline: int
    upload_deadline: int
    settle_deadline: int
    meta: EventMeta


@dataclass(frozen=True)
class Snapshot:
    """Phase, epoch and one party's status, read in one batched round trip."""

    phase: Phase
    round: int
    status: PartyStatus


@dataclass(frozen=True)
class LedgerEvent:
    """Any ledger event, decoded: its ABI name, plain-Python arguments and position."""

    name: str
    args: Mapping[str, Any]
    meta: EventMeta
