"""Frozen records exchanged with the ledger contract: parameters, reads and events.

Enums mirror the Solidity enums of contracts/IConsortiumLedger.sol (tests/chain checks the
member order against the source).
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from enum import IntEnum
from typing import Any


class Phase(IntEnum):
    """Consortium phase, as returned by ``phase()``."""

    REGISTRATION = 0
    BENCHMARKING = 1
    REQUEST = 2
    UPLOAD = 3
    SETTLE = 4


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


class ThresholdMode(IntEnum):
    """How c_th is derived: PAPER (num/den)/|C|; AUTHORS (num/den)/(|C|-1)."""

    PAPER = 0
    AUTHORS = 1


@dataclass(frozen=True)
class LedgerParams:
    """Deployment parameters, in the order of the Solidity ``Parameters`` struct.

    ``registration_deadline`` is an absolute block number; phase lengths are in blocks.
    The default removal quorum is ceil(2/3 |C|) and the default threshold is the authors'
    c_th = (1/3) / (|C| - 1); the paper's (2/3) / |C| is ``ThresholdMode.PAPER`` with 2/3.
    """

    model_size: int
    min_parties: int = 2
    max_parties: int = 50
    registration_deadline: int = 1_000_000
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
    max_enc_key_length: int = 1_600

    def as_tuple(self) -> tuple[int, ...]:
        """Return the ABI tuple of the Solidity struct."""
        return tuple(int(v) for v in astuple(self))

    @classmethod
    def from_tuple(cls, values: tuple[Any, ...] | list[Any]) -> LedgerParams:
        """Build from the ABI tuple returned by ``parameters()``."""
        fields = list(values)
        fields[10] = ThresholdMode(fields[10])
        return cls(*fields)

    def as_json(self) -> dict[str, int]:
        """Return the parameters as a JSON object of integers."""
        return {k: int(v) for k, v in self.__dict__.items()}


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
    """Points of one party: spendable balance, escrow, and escrow of a closed round."""

    balance: int
    escrowed: int
    releasable: int


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
    """A ``CiphertextsUploaded`` event."""

    round: int
    uploader: str
    requesters: tuple[str, ...]
    digests: tuple[bytes, ...]
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
