"""Rebuild a consortium from its ledger's events alone and check every rule on the way.

:class:`Replay` takes the ledger's decoded events in block and log order, one transaction at
a time, and keeps its own copy of everything the contract stores: parties and their points in
every bucket, admissions, rounds with their counters and deadlines, requests, deliveries,
reports, claims and hash chains. Each event is checked against the rules (see
:mod:`client.audit.rules`) *before* it is applied, with the state the contract had when the
transaction ran; what the contract must emit next in the same transaction (a removal once a
quorum is reached, a verdict once a majority voted, the next round after a close) is expected
and checked when the transaction ends. The state then follows what the events say, so one
broken rule is reported once and the replay goes on; points are checked to be conserved after
every transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from eth_utils import keccak

from client.audit import rules
from client.audit.model import Violation, ViolationKind
from client.chain.records import (
    Admission,
    ClaimKind,
    ClaimResolution,
    ClaimState,
    LedgerEvent,
    LedgerParams,
    PartyStatus,
    Phase,
    RequestStatus,
)

K = ViolationKind
ZERO32 = bytes(32)
#: Events that settle a party's buckets; they may come between an action and what it implies.
SETTLEMENT_EVENTS = frozenset({"EscrowReleased", "PaymentCredited"})
#: Field names of the Solidity ``Parameters`` struct, in order (camelCase, as in the ABI).
_PARAM_FIELDS = tuple(f.name for f in fields(LedgerParams) if f.name not in ("allowlist",
                                                                               "settings"))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def params_from_event(struct: Mapping[str, Any], settings: bytes) -> LedgerParams:
    """Return the deployment parameters carried by a ``LedgerDeployed`` event."""
    values = [struct[_camel(name)] for name in _PARAM_FIELDS]
    return LedgerParams.from_tuple(values, (), settings)


@dataclass(frozen=True)
class TxInfo:
    """What the audit knows of one transaction besides its events (from its receipt)."""

    sender: str
    gas_used: int
    status: int


@dataclass
class PartyState:
    """The replay's copy of one registered party."""

    address: str
    index: int
    data_size: int
    samples_released: int
    samples_digest: bytes
    enc_pub_key: bytes
    deposit_paid: int
    registered_block: int
    status: PartyStatus = PartyStatus.CREDIBLE
    deposit_held: bool = False
    minted: int = 0
    balance: int = 0
    escrowed: int = 0
    pending: int = 0
    disputed: int = 0
    deposited: int = 0
    escrow_round: int = 0
    pending_round: int = 0
    last_request_round: int = 0
    last_upload_round: int = 0
    last_named_round: int = 0
    vote_mark: int = 0
    removed_epoch: int | None = None
    removed_block: int | None = None

    def holdings(self) -> int:
        """Return the sum of every bucket (what the party owns)."""
        return self.balance + self.escrowed + self.pending + self.disputed + self.deposited

    def releasable(self, current_round: int) -> int:
        """Return what settling the party now moves to its balance (``pointsOf``'s rule)."""
        out = self.escrowed if self.escrow_round < current_round else 0
        return out + (self.pending if self.pending_round < current_round else 0)


@dataclass
class RoundState:
    """The replay's copy of one epoch's start and progress counters."""

    start: int
    request_count: int = 0
    uploaders_expected: int = 0
    upload_count: int = 0
    vote_count: int = 0
    closed_block: int | None = None
    closed_by_deadline: bool = False


@dataclass
class RequestRecord:
    """One (round, requester, uploader) request."""

    amount: int
    status: RequestStatus
    block: int
    tx: str


@dataclass
class Delivery:
    """One committed envelope digest of an UPLOAD."""

    round: int
    requester: str
    uploader: str
    digest: bytes
    block: int
    tx: str
    paid: bool


@dataclass
class ClaimRecord:
    """The replay's copy of one claim."""

    claim_id: int
    requester: str
    round: int
    kind: ClaimKind
    uploader: str
    amount: int
    response_deadline: int
    vote_deadline: int
    digest: bytes
    block: int
    tx: str
    state: ClaimState = ClaimState.FILED
    revealed_key: bytes = ZERO32
    votes: dict[str, bool] = field(default_factory=dict)
    cause: ClaimResolution | None = None
    fine: int = 0
    resolved_block: int | None = None

    @property
    def open(self) -> bool:
        """Whether the claim awaits a response or votes."""
        return self.state in (ClaimState.FILED, ClaimState.ANSWERED)


@dataclass(frozen=True)
class Commitment:
    """A digest committed on-chain that the store must hold (samples, envelope, message)."""

    what: str
    epoch: int
    owner: str
    digest: bytes
    block: int
    tx: str
    receiver: str = ""
    required: bool = True


@dataclass
class _Expect:
    name: str
    args: dict[str, Any]
    kind: ViolationKind
    why: str


@dataclass
class _TxScope:
    tx: str
    block: int
    info: TxInfo | None
    epoch: int
    label: str
    expected: list[_Expect] = field(default_factory=list)
    settled: set[str] = field(default_factory=set)
    skipped: set[tuple[int, str, str]] = field(default_factory=set)
    minted: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


class Replay:
    """The consortium rebuilt from events, with every violation found on the way.

    Parameters
    ----------
    address
        The ledger's checksummed address (events from elsewhere are refused).
    message_kinds
        The message kinds ``commitMessages`` accepts.
    """

    def __init__(self, address: str, message_kinds: Sequence[int] = (1, 2, 3, 4, 5)) -> None:
        self.address = address
        self.message_kinds = frozenset(int(k) for k in message_kinds)
        self.violations: list[Violation] = []
        self.params: LedgerParams | None = None
        self.settings_digest = ZERO32
        self.deploy_block: int | None = None
        self.deploy_tx = ""
        self.allowlisted = 0
        self.admitted: list[str] = []
        self.admitted_by_vote: set[str] = set()
        self.admission_votes: dict[str, int] = {}
        self.voted_to_admit: set[tuple[str, str]] = set()
        self.parties: dict[str, PartyState] = {}
        self.order: list[str] = []
        self.registration_closed = False
        self.finished = False
        self.credible_count = 0
        self.current_round = 0
        self.total_points = 0
        self.rounds: dict[int, RoundState] = {}
        self.requests: dict[tuple[int, str, str], RequestRecord] = {}
        self.deliveries: dict[tuple[int, str, str], Delivery] = {}
        self.upload_acc: dict[str, bytes] = {}
        self.message_acc: dict[tuple[int, int, str], bytes] = {}
        self.reported: dict[tuple[int, str, str], int] = {}
        self.reporters: dict[tuple[int, str], list[str]] = {}
        self.claims: dict[int, ClaimRecord] = {}
        self.claim_of: dict[tuple[int, str, str], int] = {}
        self.commitments: list[Commitment] = []
        self.deposits_paid = 0
        self.deposits_withdrawn = 0
        self.events = 0
        self.event_counts: dict[str, int] = {}
        self.last_block = -1
        self.last_log: tuple[int, int] = (-1, -1)
        # What the report draws.
        self.timeline: list[dict[str, Any]] = []
        self.series: list[dict[str, Any]] = []
        self.flows: dict[tuple[int, str], dict[str, int]] = {}
        self.gas: dict[str, int] = {}
        self.gas_by_party: dict[str, int] = {}
        self.tx_count = 0
        self._tx: _TxScope | None = None
        self._handlers: dict[str, Callable[[Mapping[str, Any], _Expect | None], None]] = {
            "LedgerDeployed": self._deployed,
            "PartyAdmitted": self._admitted,
            "AdmissionVoted": self._admission_voted,
            "PartyRegistered": self._registered,
            "PointsMinted": self._minted,
            "RegistrationClosed": self._registration_closed,
            "RoundCloseVoted": self._close_voted,
            "RoundClosed": self._round_closed,
            "RoundOpened": self._round_opened,
            "ConsortiumFinished": self._finished,
            "DownloadRequested": self._requested,
            "RequestSkipped": self._skipped,
            "CiphertextsUploaded": self._uploaded,
            "EscrowReleased": self._escrow_released,
            "PaymentCredited": self._payment_credited,
            "LowQualityReported": self._reported,
            "PartyRemoved": self._removed,
            "DepositWithdrawn": self._withdrawn,
            "ClaimFiled": self._claim_filed,
            "ClaimAnswered": self._claim_answered,
            "ClaimVoted": self._claim_voted,
            "ClaimResolved": self._claim_resolved,
            "ClaimCountedAsReport": self._claim_counted,
            "MessagesCommitted": self._messages,
        }

    # ================================================================== driving

    def apply(self, event: LedgerEvent, info: TxInfo | None = None) -> None:
        """Check and apply one event (events must come in block and log order)."""
        meta = event.meta
        position = (meta.block_number, meta.log_index)
        if self._tx is None or self._tx.tx != meta.tx_hash:
            self.end_transaction()
            self._begin(meta.tx_hash, meta.block_number, info)
        tx = self._tx
        assert tx is not None
        if position <= self.last_log:
            self._v(K.HISTORY_INCOMPLETE, f"log {position} out of order after {self.last_log}")
        self.last_log = max(self.last_log, position)
        self.last_block = max(self.last_block, meta.block_number)
        self.events += 1
        self.event_counts[event.name] = self.event_counts.get(event.name, 0) + 1
        tx.names.append(event.name)
        if info is not None and info.status != 1:
            self._v(K.UNEXPECTED_EVENT, f"{event.name} logged by a transaction with status "
                    f"{info.status} (a reverted transaction logs nothing)")
        if self.params is None and event.name != "LedgerDeployed":
            self._v(K.HISTORY_INCOMPLETE, f"{event.name} before the ledger's LedgerDeployed "
                    "event: the replay starts after the deployment")
            return
        matched = self._match(event)
        handler = self._handlers.get(event.name)
        if handler is None:
            self._v(K.UNEXPECTED_EVENT, f"unknown event {event.name}")
            return
        try:
            handler(event.args, matched)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # A node may hand back logs whose values do not fit the ABI's meaning.
            self._v(K.UNDECODABLE_LOG, f"{event.name} with unusable arguments: "
                    f"{type(exc).__name__}: {str(exc)[:200]}")

    def note_undecodable(self, block: int, tx: str, detail: str) -> None:
        """Record a log of the ledger that could not be decoded."""
        self.violations.append(Violation(K.UNDECODABLE_LOG, detail[:300], block, tx))

    def end_transaction(self) -> None:
        """Finish the current transaction: expected events, settlements, conservation."""
        tx = self._tx
        if tx is None:
            return
        for expect in tx.expected:
            self._v(expect.kind, f"missing {expect.name}({_show(expect.args)}): {expect.why}")
        tx.expected.clear()
        if self.params is not None:
            for address in sorted(tx.settled):
                party = self.parties.get(address)
                if party is not None and party.releasable(self.current_round):
                    self._v(K.SETTLEMENT_MISSING, f"settled only partly: "
                            f"{party.releasable(self.current_round)} points still releasable",
                            (address,))
            if tx.minted and "RegistrationClosed" not in tx.names:
                self._v(K.MINTING_MISMATCH, "points minted outside the closing of registration")
            if tx.tx == self.deploy_tx:
                listed = len(self.admitted) - len(self.admitted_by_vote)
                if listed != self.allowlisted:
                    self._v(K.ADMISSION_INVALID, f"deployment admitted {listed} addresses, "
                            f"its event announced {self.allowlisted}")
            self._check_conservation()
            self._record_series(tx)
        if tx.info is not None:
            self.gas[tx.label] = self.gas.get(tx.label, 0) + tx.info.gas_used
            self.gas_by_party[tx.info.sender] = (
                self.gas_by_party.get(tx.info.sender, 0) + tx.info.gas_used)
        self.tx_count += 1
        self._tx = None

    def _begin(self, tx_hash: str, block: int, info: TxInfo | None) -> None:
        epoch = self.current_round if self.registration_closed else -1
        self._tx = _TxScope(tx_hash, block, info, epoch, self._gas_label(epoch))

    def _gas_label(self, epoch: int) -> str:
        if self.params is None:
            return "deployment"
        if epoch < 0:
            return "registration"
        if self.finished:
            return "after the end"
        if epoch == 0:
            return "benchmarking"
        return f"round {epoch}"

    # ================================================================== helpers

    def _v(self, kind: ViolationKind, detail: str, parties: Sequence[str] = ()) -> None:
        tx = self._tx
        self.violations.append(Violation(
            kind, detail[:500], tx.block if tx else None, tx.tx if tx else "", tuple(parties)))

    @property
    def p(self) -> LedgerParams:
        """The deployment parameters (only after ``LedgerDeployed``)."""
        assert self.params is not None
        return self.params

    @property
    def block(self) -> int:
        """Block of the transaction being replayed."""
        assert self._tx is not None
        return self._tx.block

    def _expect(self, name: str, args: dict[str, Any], kind: ViolationKind, why: str) -> None:
        assert self._tx is not None
        self._tx.expected.append(_Expect(name, args, kind, why))

    def _match(self, event: LedgerEvent) -> _Expect | None:
        """Consume the expectation ``event`` fulfils; report skipped ones as missing."""
        tx = self._tx
        assert tx is not None
        if event.name in SETTLEMENT_EVENTS or not tx.expected:
            return None
        if not any(e.name == event.name for e in tx.expected):
            return None
        while tx.expected:
            head = tx.expected.pop(0)
            if head.name == event.name:
                differing = {k: (v, event.args.get(k)) for k, v in head.args.items()
                             if _norm(event.args.get(k)) != _norm(v)}
                if differing:
                    shown = ", ".join(f"{k}: expected {_show1(a)}, got {_show1(b)}"
                                      for k, (a, b) in differing.items())
                    self._v(head.kind, f"{event.name} differs from the rule ({shown})")
                return head
            self._v(head.kind, f"missing {head.name}({_show(head.args)}): {head.why}")
        return None

    def party(self, address: str) -> PartyState | None:
        """Return the replay's state of a registered party (``None`` if unknown)."""
        return self.parties.get(address)

    def status(self, address: str) -> PartyStatus:
        """Return the membership status of ``address``."""
        party = self.parties.get(address)
        return party.status if party is not None else PartyStatus.NONE

    def credible(self, address: str) -> bool:
        """Return whether ``address`` is in the credible set."""
        return self.status(address) is PartyStatus.CREDIBLE

    def credible_parties(self) -> list[str]:
        """Return the credible set in registration order."""
        return [a for a in self.order if self.parties[a].status is PartyStatus.CREDIBLE]

    def epoch_deadline(self, round_number: int) -> int:
        """Return the block from which epoch ``round_number`` may close by deadline."""
        start = self.rounds[round_number].start
        if round_number == 0:
            return start + self.p.benchmark_blocks
        return start + self.p.request_blocks + self.p.upload_blocks + self.p.settle_blocks

    def deadlines(self, round_number: int) -> tuple[int, int, int, int]:
        """Return (start, request, upload, settle deadline) of an epoch (``roundDeadlines``)."""
        state = self.rounds.get(round_number)
        start = state.start if state is not None else 0
        if round_number == 0:
            end = start + self.p.benchmark_blocks
            return start, end, end, end
        request = start + self.p.request_blocks
        upload = request + self.p.upload_blocks
        return start, request, upload, upload + self.p.settle_blocks

    def phase_at(self, block: int) -> Phase:
        """Return the phase ``phase()`` gives at ``block`` with the current state."""
        if not self.registration_closed:
            return Phase.REGISTRATION
        if self.finished:
            return Phase.FINISHED
        r = self.current_round
        if r == 0:
            return Phase.BENCHMARKING
        state = self.rounds[r]
        if (state.request_count < self.credible_count
                and block < state.start + self.p.request_blocks):
            return Phase.REQUEST
        if (state.upload_count < state.uploaders_expected
                and block < state.start + self.p.request_blocks + self.p.upload_blocks):
            return Phase.UPLOAD
        return Phase.SETTLE

    def registration_failed_at(self, block: int) -> bool:
        """Return whether registration failed for good at ``block``."""
        return (not self.registration_closed and self.params is not None
                and block >= self.p.registration_deadline
                and len(self.order) < self.p.min_parties)

    def retained_until(self, round_number: int) -> int:
        """Return the block until which content of an epoch must stay retrievable (0: open)."""
        if round_number >= self.current_round or round_number + 1 not in self.rounds:
            return 0
        return self.rounds[round_number + 1].start + self.p.retention_blocks

    def tally(self, claim: ClaimRecord) -> tuple[int, int, int]:
        """Return (upheld, rejected, eligible) counting only still-credible voters."""
        up = sum(1 for v, upheld in claim.votes.items() if self.credible(v) and upheld)
        down = sum(1 for v, upheld in claim.votes.items() if self.credible(v) and not upheld)
        eligible = self.credible_count
        eligible -= self.credible(claim.requester)
        eligible -= self.credible(claim.uploader)
        return up, down, eligible

    def removal_quorum(self) -> int:
        """Return the credible reports that remove a party now."""
        return rules.removal_quorum(self.p, self.credible_count)

    def _require_phase(self, expected: Phase, action: str, who: Sequence[str]) -> bool:
        actual = self.phase_at(self.block)
        if actual is not expected:
            self._v(K.PHASE_VIOLATION, f"{action} in phase {actual.name}, allowed only in "
                    f"{expected.name} (epoch {self.current_round})", who)
            return False
        return True

    def _require_credible(self, address: str, action: str, kind: ViolationKind) -> bool:
        if not self.credible(address):
            self._v(kind, f"{action} by a party that is {self.status(address).name}",
                    (address,))
            return False
        return True

    def _check_settled(self, party: PartyState, action: str) -> None:
        left = party.releasable(self.current_round)
        if left:
            self._v(K.SETTLEMENT_MISSING, f"{action} without settling first: {left} points "
                    "of closed rounds left unreleased", (party.address,))

    def _flow(self, round_number: int, address: str, key: str, amount: int) -> None:
        if amount == 0:
            return
        bucket = self.flows.setdefault((round_number, address), {})
        bucket[key] = bucket.get(key, 0) + amount

    def _mark(self, kind: str, **data: Any) -> None:
        tx = self._tx
        self.timeline.append({"kind": kind, "block": tx.block if tx else None,
                              "tx": tx.tx if tx else "", **data})

    def _check_conservation(self) -> None:
        held = 0
        for party in self.parties.values():
            buckets = (party.balance, party.escrowed, party.pending, party.disputed,
                       party.deposited)
            if min(buckets) < 0:
                self._v(K.CONSERVATION, f"negative points bucket {buckets}", (party.address,))
            held += party.holdings()
        expected = self.total_points if self.registration_closed else 0
        if held != expected:
            self._v(K.CONSERVATION, f"parties hold {held} points in all, "
                    f"{expected} were minted")

    def _record_series(self, tx: _TxScope) -> None:
        if not self.registration_closed:
            return
        self.series.append({
            "block": tx.block, "tx": tx.tx,
            "holdings": {a: p.holdings() for a, p in self.parties.items()},
            "balance": {a: p.balance for a, p in self.parties.items()},
        })

    # ================================================================== deployment, admission

    def _deployed(self, a: Mapping[str, Any], _: _Expect | None) -> None:
        if self.params is not None:
            self._v(K.UNEXPECTED_EVENT, "a second LedgerDeployed event")
            return
        settings = bytes(a["settings"])
        params = params_from_event(a["params"], settings)
        self.params = params
        self.allowlisted = int(a["allowlisted"])
        self.settings_digest = bytes(a["settingsDigest"])
        self.deploy_block = self.block
        assert self._tx is not None
        self.deploy_tx = self._tx.tx
        if bytes(keccak(settings)) != self.settings_digest:
            self._v(K.DEPLOYMENT_INVALID, "settingsDigest is not keccak256 of the settings")
        if len(settings) > rules.MAX_SETTINGS_LENGTH:
            self._v(K.DEPLOYMENT_INVALID, f"settings of {len(settings)} bytes")
        if params.registration_deadline <= self.block or (
                params.registration_deadline - params.registration_blocks != self.block):
            self._v(K.DEPLOYMENT_INVALID, f"registration deadline {params.registration_deadline}"
                    f" and length {params.registration_blocks} do not fit deployment block "
                    f"{self.block}")
        for problem in rules.parameter_problems(params, self.allowlisted):
            self._v(K.DEPLOYMENT_INVALID, problem)
        self._mark("deployed")

    def _admitted(self, a: Mapping[str, Any], matched: _Expect | None) -> None:
        party, by_vote, count = str(a["party"]), bool(a["byVote"]), int(a["admittedCount"])
        if party in self.admitted:
            self._v(K.ADMISSION_INVALID, "admitted twice", (party,))
            return
        if count != len(self.admitted) + 1:
            self._v(K.ADMISSION_INVALID, f"admittedCount {count}, expected "
                    f"{len(self.admitted) + 1}", (party,))
        assert self._tx is not None
        if not by_vote:
            if self._tx.tx != self.deploy_tx or self.p.admission is Admission.OPEN:
                self._v(K.ADMISSION_INVALID, "listed outside the deployment", (party,))
        elif matched is None:
            self._v(K.ADMISSION_INVALID, "admitted by vote without a quorum of votes", (party,))
        self.admitted.append(party)
        if by_vote:
            self.admitted_by_vote.add(party)
        self._mark("admitted", party=party, by_vote=by_vote)

    def _admission_voted(self, a: Mapping[str, Any], _: _Expect | None) -> None:
        candidate, voter = str(a["candidate"]), str(a["voter"])
        votes, quorum = int(a["votes"]), int(a["quorum"])
        who = (voter, candidate)
        if self.p.admission is not Admission.VOTE:
            self._v(K.ADMISSION_INVALID, "admission vote under another admission mode", who)
        self._admission_window(who)
        if voter not in self.admitted:
            self._v(K.ADMISSION_INVALID, "vote by an address that is not admitted", who)
        if candidate == voter or candidate in self.admitted:
            self._v(K.ADMISSION_INVALID, "vote for itself or for an admitted address", who)
        if (candidate, voter) in self.voted_to_admit:
            self._v(K.ADMISSION_INVALID, "second vote for the same candidate", who)
        if len(self.admitted) >= self.p.max_parties:
            self._v(K.ADMISSION_INVALID, "vote while maxParties are admitted", who)
        rule_quorum = rules.admission_quorum(self.p, len(self.admitted))
        if quorum != rule_quorum:
            self._v(K.ADMISSION_INVALID, f"quorum {quorum}, the rule gives {rule_quorum}", who)
        count = self.admission_votes.get(candidate, 0) + 1
        if votes != count:
            self._v(K.ADMISSION_INVALID, f"vote count {votes}, expected {count}", who)
        self.voted_to_admit.add((candidate, voter))
        self.admission_votes[candidate] = votes
        if votes >= rule_quorum and candidate not in self.admitted:
            self._expect("PartyAdmitted", {"party": candidate, "byVote": True,
                                           "admittedCount": len(self.admitted) + 1},
                         K.ADMISSION_INVALID, "the candidate reached the admission quorum")

    def _admission_window(self, who: Sequence[str]) -> None:
        if self.registration_closed or self.block >= self.p.registration_deadline:
            self._v(K.PHASE_VIOLATION, "after registration ended", who)

    # ================================================================== registration

    def _registered(self, a: Mapping[str, Any], _: _Expect | None) -> None:
        address = str(a["party"])
        who = (address,)
        p = self.p
        self._admission_window(who)
        if address in self.parties:
            self._v(K.REGISTRATION_INVALID, "registered twice", who)
            return
        if p.admission is not Admission.OPEN and address not in self.admitted:
            self._v(K.REGISTRATION_INVALID, "registered without being admitted", who)
        index, size, released = int(a["index"]), int(a["dataSize"]), int(a["samplesReleased"])
        digest, key, deposit = bytes(a["samplesDigest"]), bytes(a["encPubKey"]), int(a["deposit"])
        if len(self.order) >= p.max_parties:
            self._v(K.REGISTRATION_INVALID, f"more than maxParties={p.max_parties}", who)
        if index != len(self.order):
            self._v(K.REGISTRATION_INVALID, f"index {index}, expected {len(self.order)}", who)
        if deposit != p.registration_deposit:
            self._v(K.REGISTRATION_INVALID, f"deposit {deposit} wei, the ledger requires "
                    f"{p.registration_deposit}", who)
        problem = rules.key_problem(key)
        if problem:
            self._v(K.REGISTRATION_INVALID, problem, who)
        if not p.min_data_size <= size <= p.max_data_size:
            self._v(K.REGISTRATION_INVALID, f"|D| = {size} outside [{p.min_data_size}, "
                    f"{p.max_data_size}]", who)
        if not 1 <= released <= size:
            self._v(K.REGISTRATION_INVALID, f"u = {released} outside [1, |D| = {size}]", who)
        if released * p.max_sharing_denominator > size * p.max_sharing_numerator:
            self._v(K.REGISTRATION_INVALID, f"sharing level {released}/{size} above "
                    f"{p.max_sharing_numerator}/{p.max_sharing_denominator}", who)
        if digest == ZERO32:
            self._v(K.REGISTRATION_INVALID, "zero samples digest", who)
        party = PartyState(address, index, size, released, digest, key, deposit, self.block)
        party.deposit_held = deposit != 0
        self.parties[address] = party
        self.order.append(address)
        self.deposits_paid += deposit
        assert self._tx is not None
        self.commitments.append(Commitment("samples", 0, address, digest, self.block,
                                           self._tx.tx))
        self._mark("registered", party=address)

    def _minted(self, a: Mapping[str, Any], _: _Expect | None) -> None:
        address, amount = str(a["party"]), int(a["amount"])
        party = self.parties.get(address)
        assert self._tx is not None
        if party is None:
            self._v(K.MINTING_MISMATCH, "points minted to an unregistered address", (address,))
            return
        if self.registration_closed or address in self._tx.minted:
            self._v(K.MINTING_MISMATCH, "points minted twice", (address,))
        expected = rules.minted_points(party.samples_released, self.p.model_size,
                                       len(self.order), party.data_size)
        if amount != expected:
            self._v(K.MINTING_MISMATCH, f"minted {amount}, the formula floor(u |w| (n-1) / |D|)"
                    f" = floor({party.samples_released} * {self.p.model_size} * "
                    f"{len(self.order) - 1} / {party.data_size}) gives {expected}", (address,))
        self._tx.minted.append(address)
        party.minted = amount
        party.balance = amount

    def _registration_closed(self, a: Mapping[str, Any], _: _Expect | None) -> None:
        count, total, deadline = int(a["partyCount"]), int(a["totalPoints"]), int(
            a["benchmarkDeadline"])
        p = self.p
        assert self._tx is not None
        if self.registration_closed:
            self._v(K.UNEXPECTED_EVENT, "registration closed twice")
            return
        n = len(self.order)
        if self.block < p.registration_deadline and n < p.max_parties:
            self._v(K.PHASE_VIOLATION, f"registration closed before its deadline "
                    f"{p.registration_deadline} with {n} < maxParties parties")
        if n < p.min_parties:
            self._v(K.REGISTRATION_INVALID, f"closed with {n} < minParties={p.min_parties}")
        if count != n:
            self._v(K.MINTING_MISMATCH, f"partyCount {count}, {n} registered")
        if self._tx.minted != self.order:
            self._v(K.MINTING_MISMATCH, f"minted to {len(self._tx.minted)} of {n} parties")
        minted = sum(self.parties[x].minted for x in self._tx.minted)
        if total != minted:
            self._v(K.MINTING_MISMATCH, f"totalPoints {total}, the minted amounts sum to "
                    f"{minted}")
        if deadline != self.block + p.benchmark_blocks:
            self._v(K.ROUND_SCHEDULE_MISMATCH, f"benchmark deadline {deadline}, expected "
                    f"{self.block + p.benchmark_blocks}")
        self.registration_closed = True
        self.credible_count = n
        self.total_points = total
        self.rounds[0] = RoundState(self.block)
        self._mark("registration_closed", parties=n, total=total)

    def _withdrawn(self, a: Mapping[str, Any], _: _Expect | None) -> None:
        address, amount = str(a["party"]), int(a["amount"])
        who = (address,)
        party = self.parties.get(address)
        if self.phase_at(self.block) is not Phase.FINISHED and not self.registration_failed_at(
                self.block):
            self._v(K.DEPOSIT_INVALID, "deposit withdrawn before the consortium finished", who)
        if party is None or party.status is PartyStatus.REMOVED or not party.deposit_held:
            self._v(K.DEPOSIT_INVALID, "withdrawal without a held deposit (none, withdrawn, or "
                    "forfeited by removal)", who)
        if amount != self.p.registration_deposit:
            self._v(K.DEPOSIT_INVALID, f"withdrew {amount} wei, the deposit is "
                    f"{self.p.registration_deposit}", who)
        if party is not None:
            party.deposit_held = False
        self.deposits_withdrawn += amount

    # ================================================================== epochs

    def _close_voted(self, a: Mapping[str, Any], _: _Expect | None) -> None:
        round_number, address = int(a["round"]), str(a["party"])
        who = (address,)
        party = self.parties.get(address)
        self._require_credible(address, "vote to close", K.PHASE_VIOLATION)
        phase = self.phase_at(self.block)
        if phase not in (Phase.SETTLE, Phase.BENCHMARKING):
            self._v(K.PHASE_VIOLATION, f"vote to close in phase {phase.name}", who)
        if round_number != self.current_round:
            self._v(K.PHASE_VIOLATION, f"vote to close epoch {round_number} during epoch "
                    f"{self.current_round}", who)
        state = self.rounds.get(self.current_round)
        if party is None or state is None:
            return
        if party.vote_mark == self.current_round + 1:
            self._v(K.PHASE_VIOLATION, "voted twice to close the epoch", who)
            return
        party.vote_mark = self.current_round + 1
        state.vote_count += 1
        by_deadline = self.block >= self.epoch_deadline(self.current_round)
        if state.vote_count >= self.credible_count or by_deadline:
            self._expect("RoundClosed", {"round": self.current_round, "byDeadline": by_deadline},
                         K.ROUND_SCHEDULE_MISMATCH,
                         "every credible party voted, or the epoch's deadline passed")

    def _round_closed(self, a: Mapping[str, Any], _: _Expect | None) -> None:
        round_number, closer, by_deadline = int(a["round"]), str(a["closer"]), bool(
            a["byDeadline"])
        who = (closer,)
        state = self.rounds.get(self.current_round)
        if round_number != self.current_round or state is None or self.finished:
            self._v(K.ROUND_SCHEDULE_MISMATCH, f"closed epoch {round_number} during epoch "
                    f"{self.current_round}", who)
            return
        self._require_credible(closer, "closing the epoch", K.PHASE_VIOLATION)
        phase = self.phase_at(self.block)
        if phase not in (Phase.SETTLE, Phase.BENCHMARKING):
            self._v(K.PHASE_VIOLATION, f"epoch closed in phase {phase.name}", who)
        rule_deadline = self.block >= self.epoch_deadline(round_number)
        if by_deadline != rule_deadline:
            self._v(K.ROUND_SCHEDULE_MISMATCH, f"byDeadline {by_deadline} at block "
                    f"{self.block}, deadline {self.epoch_deadline(round_number)}", who)
        if not rule_deadline and state.vote_count < self.credible_count:
            self._v(K.ROUND_SCHEDULE_MISMATCH, f"closed before its deadline with "
                    f"{state.vote_count} of {self.credible_count} votes", who)
        state.closed_block = self.block
        state.closed_by_deadline = by_deadline
        nxt = round_number + 1
        self.current_round = nxt
        self.rounds[nxt] = RoundState(self.block)
        if round_number == self.p.rounds:
            self.finished = True
            self._expect("ConsortiumFinished", {"lastRound": round_number,
                                                "credibleCount": self.credible_count},
                         K.ROUND_SCHEDULE_MISMATCH, "the last round closed")
        else:
            request, upload, settle = self.deadlines(nxt)[1:]
            self._expect("RoundOpened", {"round": nxt, "requestDeadline": request,
                                         "uploadDeadline": upload, "settleDeadline": settle},
                         K.ROUND_SCHEDULE_MISMATCH, "an epoch closed")
        self._mark("round_closed", round=round_number, by_deadline=by_deadline)

    def _round_opened(self, a: Mapping[str, Any], matched: _Expect | None) -> None:
        if matched is None:
            self._v(K.ROUND_SCHEDULE_MISMATCH, f"round {a['round']} opened without a close")
        self._mark("round_opened", round=int(a["round"]))

    def _finished(self, a: Mapping[str, Any], matched: _Expect | None) -> None:
        if matched is None:
            self._v(K.ROUND_SCHEDULE_MISMATCH, "consortium finished before its last round")
        self._mark("finished", round=int(a["lastRound"]))

    # ================================================================== rounds

    def _requested(self, a: Mapping[str, Any], _: _Expect | None) -> None:
        round_number, requester = int(a["round"]), str(a["requester"])
        uploaders = [str(u) for u in a["uploaders"]]
        amounts = [int(x) for x in a["amounts"]]
        who = (requester,)
        p = self.p
        self._require_credible(requester, "DOWNLOAD", K.REQUEST_INVALID)
        self._require_phase(Phase.REQUEST, "DOWNLOAD", who)
        party = self.parties.get(requester)
        if round_number != self.current_round or party is None:
            self._v(K.REQUEST_INVALID, f"DOWNLOAD for round {round_number} during epoch "
                    f"{self.current_round}", who)
            return
        if party.last_request_round == round_number:
            self._v(K.REQUEST_INVALID, "second DOWNLOAD in the round", who)
        if len(uploaders) != len(amounts) or len(uploaders) > p.max_parties:
            self._v(K.REQUEST_INVALID, f"{len(uploaders)} uploaders, {len(amounts)} amounts",
                    who)
            return
        if uploaders and len(uploaders) < p.min_uploaders:
            self._v(K.REQUEST_INVALID, f"{len(uploaders)} uploaders, minUploaders is "
                    f"{p.min_uploaders}", who)
        self._check_settled(party, "DOWNLOAD")
        state = self.rounds[round_number]
        seen: set[str] = set()
        for uploader, amount in zip(uploaders, amounts, strict=True):
            pair = (requester, uploader)
            if uploader == requester or uploader in seen:
                self._v(K.REQUEST_INVALID, "requester named itself or an uploader twice", pair)
                continue
            seen.add(uploader)
            if amount <= 0 or amount > rules.AMOUNT_LIMIT:
                self._v(K.REQUEST_INVALID, f"offer of {amount} points", pair)
            if not self.credible(uploader):
                self._v(K.REQUEST_INVALID, f"uploader is {self.status(uploader).name}", pair)
            key = (round_number, requester, uploader)
            self.requests[key] = RequestRecord(amount, RequestStatus.OPEN, self.block,
                                               self._tx.tx if self._tx else "")
            them = self.parties.get(uploader)
            if them is not None and them.last_named_round != round_number:
                them.last_named_round = round_number
                state.uploaders_expected += 1
        total = sum(amounts)
        if total > party.balance:
            self._v(K.REQUEST_INVALID, f"escrowed {total} points with a balance of "
                    f"{party.balance}", who)
        party.balance -= total
        party.escrowed += total
        party.escrow_round = round_number
        party.last_request_round = round_number
        state.request_count += 1

    def _skipped(self, a: Mapping[str, Any], _: _Expect | None) -> None:
        round_number, requester, uploader = int(a["round"]), str(a["requester"]), str(
            a["uploader"])
        refunded = int(a["refunded"])
        pair = (uploader, requester)
        assert self._tx is not None
        key = (round_number, requester, uploader)
        record = self.requests.get(key)
        self._require_phase(Phase.UPLOAD, "UPLOAD (skip)", pair)
        if round_number != self.current_round or record is None or (
                record.status is not RequestStatus.OPEN):
            self._v(K.REFUND_MISMATCH, f"skip of a request that is not open in round "
                    f"{round_number}", pair)
        elif refunded != record.amount:
            self._v(K.REFUND_MISMATCH, f"skip refunded {refunded}, the request escrowed "
                    f"{record.amount}", pair)
        if self.credible(requester):
            self._v(K.REFUND_MISMATCH, "skipped the request of a credible requester", pair)
        if record is not None:
            record.status = RequestStatus.SKIPPED
        self._tx.skipped.add(key)
        party = self.parties.get(requester)
        if party is not None:
            party.escrowed -= refunded
            party.balance += refunded

    def _uploaded(self, a: Mapping[str, Any], _: _Expect | None) -> None:
        round_number, uploader = int(a["round"]), str(a["uploader"])
        requesters = [str(r) for r in a["requesters"]]
        digests = [bytes(d) for d in a["digests"]]
        pending, accumulator = int(a["pending"]), bytes(a["accumulator"])
        who = (uploader,)
        p = self.p
        tx = self._tx
        assert tx is not None
        self._require_credible(uploader, "UPLOAD", K.UPLOAD_INVALID)
        self._require_phase(Phase.UPLOAD, "UPLOAD", who)
        party = self.parties.get(uploader)
        if round_number != self.current_round or party is None:
            self._v(K.UPLOAD_INVALID, f"UPLOAD for round {round_number} during epoch "
                    f"{self.current_round}", who)
            return
        if party.last_named_round != round_number:
            self._v(K.UPLOAD_INVALID, "UPLOAD by a party nobody requested from", who)
        if party.last_upload_round == round_number:
            self._v(K.UPLOAD_INVALID, "second UPLOAD in the round", who)
        if len(requesters) != len(digests) or len(requesters) > p.max_parties:
            self._v(K.UPLOAD_INVALID, f"{len(requesters)} requesters, {len(digests)} digests",
                    who)
            return
        earned = 0
        listed: set[tuple[int, str, str]] = set()
        for requester, digest in zip(requesters, digests, strict=True):
            pair = (uploader, requester)
            key = (round_number, requester, uploader)
            listed.add(key)
            if digest == ZERO32:
                self._v(K.UPLOAD_INVALID, "zero digest committed", pair)
            record = self.requests.get(key)
            skipped = key in tx.skipped
            paid = False
            if skipped:
                pass
            elif record is None or record.status is not RequestStatus.OPEN:
                self._v(K.PAYMENT_MISMATCH, "delivery without an open request", pair)
            elif not self.credible(requester):
                self._v(K.REFUND_MISMATCH, "delivery to a removed requester paid instead of "
                        "skipped and refunded", pair)
            else:
                paid = True
            if paid and record is not None:
                record.status = RequestStatus.FULFILLED
                earned += record.amount
                them = self.parties.get(requester)
                if them is not None:
                    them.escrowed -= record.amount
                self._flow(round_number, requester, "paid", -record.amount)
            self.deliveries[key] = Delivery(round_number, requester, uploader, digest,
                                            self.block, tx.tx, paid)
            self.commitments.append(Commitment("envelope", round_number, uploader, digest,
                                               self.block, tx.tx, requester, required=paid))
        for key in sorted(tx.skipped - listed):
            self._v(K.REFUND_MISMATCH, "request skipped outside the batch", (key[2], key[1]))
        if pending != earned:
            self._v(K.PAYMENT_MISMATCH, f"UPLOAD moved {pending} points to pending, the "
                    f"requests it fulfilled offered {earned}", who)
        self._check_settled(party, "UPLOAD")
        previous = self.upload_acc.get(uploader, ZERO32)
        computed = rules.upload_accumulator(previous, round_number, requesters, digests)
        if computed != accumulator:
            self._v(K.ACCUMULATOR_MISMATCH, "upload hash chain does not extend the previous "
                    f"value (0x{computed.hex()} computed, 0x{accumulator.hex()} logged)", who)
        self.upload_acc[uploader] = accumulator
        party.pending += pending
        party.pending_round = round_number
        party.last_upload_round = round_number
        self.rounds[round_number].upload_count += 1
        self._flow(round_number, uploader, "earned", pending)

    def _escrow_released(self, a: Mapping[str, Any], _: _Expect | None) -> None:
        address, round_number, amount = str(a["party"]), int(a["round"]), int(a["amount"])
        who = (address,)
        party = self.parties.get(address)
        assert self._tx is not None
        self._tx.settled.add(address)
        if party is None:
            self._v(K.REFUND_MISMATCH, "escrow released to an unregistered address", who)
            return
        if round_number >= self.current_round or party.escrow_round != round_number:
            self._v(K.REFUND_MISMATCH, f"escrow of round {round_number} released during epoch "
                    f"{self.current_round} (escrow of round {party.escrow_round})", who)
        if amount != party.escrowed:
            self._v(K.REFUND_MISMATCH, f"released {amount}, {party.escrowed} were escrowed",
                    who)
        unserved = sum(r.amount for (rnd, req, _), r in self.requests.items()
                       if rnd == round_number and req == address
                       and r.status is RequestStatus.OPEN)
        if amount != unserved:
            self._v(K.REFUND_MISMATCH, f"released {amount}, the requests of round "
                    f"{round_number} left unserved offered {unserved}", who)
        party.escrowed -= amount
        party.balance += amount

    def _payment_credited(self, a: Mapping[str, Any], _: _Expect | None) -> None:
        address, round_number, amount = str(a["uploader"]), int(a["round"]), int(a["amount"])
        who = (address,)
        party = self.parties.get(address)
        assert self._tx is not None
        self._tx.settled.add(address)
        if party is None:
            self._v(K.PAYMENT_MISMATCH, "payment credited to an unregistered address", who)
            return
        if round_number >= self.current_round or party.pending_round != round_number:
            self._v(K.PAYMENT_MISMATCH, f"payment of round {round_number} credited during "
                    f"epoch {self.current_round}, inside its dispute window", who)
        if amount != party.pending:
            self._v(K.PAYMENT_MISMATCH, f"credited {amount}, {party.pending} were pending", who)
        undisputed = sum(r.amount for (rnd, _, up), r in self.requests.items()
                         if rnd == round_number and up == address
                         and r.status is RequestStatus.FULFILLED)
        if amount != undisputed:
            self._v(K.PAYMENT_MISMATCH, f"credited {amount}, its undisputed deliveries of round"
                    f" {round_number} were offered {undisputed}", who)
        party.pending -= amount
        party.balance += amount

    # ================================================================== credibility

    def _reported(self, a: Mapping[str, Any], _: _Expect | None) -> None:
        epoch, reporter = int(a["epoch"]), str(a["reporter"])
        suspects = [str(s) for s in a["suspects"]]
        who = (reporter,)
        self._require_credible(reporter, "report", K.REPORT_INVALID)
        window = Phase.BENCHMARKING if self.current_round == 0 else Phase.SETTLE
        phase = self.phase_at(self.block)
        if epoch != self.current_round or phase is not window:
            self._v(K.REPORT_INVALID, f"report for epoch {epoch} in phase {phase.name} of "
                    f"epoch {self.current_round}: outside the assessment window", who)
        if len(suspects) > self.p.max_parties:
            self._v(K.REPORT_INVALID, f"{len(suspects)} suspects", who)
            return
        # Simulate the contract's loop on copies: removals change the quorum for the next.
        status = {x: s.status for x, s in self.parties.items()}
        credible = self.credible_count
        for suspect in suspects:
            pair = (reporter, suspect)
            if suspect == reporter or suspect not in self.parties:
                self._v(K.REPORT_INVALID, "report of itself or of an unregistered address",
                        pair)
                continue
            key = (epoch, suspect, reporter)
            mark = self.reported.get(key, 0)
            if mark == rules.BY_REPORT:
                self._v(K.REPORT_INVALID, "reported the same party twice in the epoch", pair)
                continue
            if mark == rules.BY_CLAIM:
                continue
            self.reported[key] = rules.BY_REPORT
            if status[suspect] is PartyStatus.REMOVED:
                continue
            reporters = self.reporters.setdefault((epoch, suspect), [])
            reporters.append(reporter)
            self._mark("report", epoch=epoch, reporter=reporter, suspect=suspect)
            counted = [r for r in reporters if status.get(r) is PartyStatus.CREDIBLE]
            quorum = rules.removal_quorum(self.p, credible)
            if len(reporters) >= quorum and len(counted) >= quorum:
                status[suspect] = PartyStatus.REMOVED
                credible -= 1
                self._expect_removal(suspect, epoch, counted, quorum)

    def _expect_removal(self, suspect: str, epoch: int, counted: list[str], quorum: int) -> None:
        party = self.parties[suspect]
        forfeited = self.p.registration_deposit if party.deposit_held else 0
        self._expect("PartyRemoved", {"party": suspect, "epoch": epoch,
                                      "reporters": tuple(counted), "forfeited": forfeited},
                     K.REMOVAL_MISSING, f"{len(counted)} credible reporters reached the "
                     f"quorum of {quorum}")

    def _removed(self, a: Mapping[str, Any], matched: _Expect | None) -> None:
        address, epoch = str(a["party"]), int(a["epoch"])
        reporters = [str(r) for r in a["reporters"]]
        forfeited = int(a["forfeited"])
        who = (address, *reporters)
        party = self.parties.get(address)
        if matched is None:
            counted = [r for r in self.reporters.get((epoch, address), []) if self.credible(r)]
            self._v(K.REMOVAL_WITHOUT_QUORUM, f"removed in epoch {epoch} with {len(counted)} "
                    f"credible reporters, the quorum is {self.removal_quorum()}", who)
        if party is None or party.status is not PartyStatus.CREDIBLE:
            self._v(K.REMOVAL_WITHOUT_QUORUM, "removal of a party that is not credible", who)
            return
        expected_forfeit = self.p.registration_deposit if party.deposit_held else 0
        if forfeited != expected_forfeit:
            self._v(K.DEPOSIT_INVALID, f"removal forfeited {forfeited} wei, the party's held "
                    f"deposit is {expected_forfeit}", who)
        party.status = PartyStatus.REMOVED
        party.removed_epoch = epoch
        party.removed_block = self.block
        self.credible_count -= 1
        r = self.current_round
        state = self.rounds.get(r)
        if state is not None:
            if r != 0:
                if party.last_request_round == r:
                    state.request_count -= 1
                if party.last_named_round == r:
                    state.uploaders_expected -= 1
                if party.last_upload_round == r:
                    state.upload_count -= 1
            if party.vote_mark == r + 1:
                state.vote_count -= 1
        self._mark("removal", party=address, epoch=epoch, reporters=reporters)

    # ================================================================== claims

    def _claim_filed(self, a: Mapping[str, Any], _: _Expect | None) -> None:
        claim_id, round_number = int(a["claimId"]), int(a["round"])
        requester, uploader = str(a["requester"]), str(a["uploader"])
        kind_value, digest = int(a["kind"]), bytes(a["digest"])
        amount, deposit = int(a["amount"]), int(a["deposit"])
        response, vote = int(a["responseDeadline"]), int(a["voteDeadline"])
        who = (requester, uploader)
        p = self.p
        assert self._tx is not None
        self._require_credible(requester, "claim", K.CLAIM_INVALID)
        if kind_value not in (1, 2, 3):
            self._v(K.CLAIM_INVALID, f"claim kind {kind_value}", who)
            kind_value = ClaimKind.MISSING
        if round_number != self.current_round or round_number == 0 or self.finished:
            self._v(K.CLAIM_INVALID, f"claim on round {round_number} during epoch "
                    f"{self.current_round}: outside its window", who)
        key = (round_number, requester, uploader)
        record = self.requests.get(key)
        if record is None or record.status is not RequestStatus.FULFILLED:
            self._v(K.CLAIM_INVALID, "claim on a delivery that is not fulfilled and unclaimed",
                    who)
        elif amount != record.amount:
            self._v(K.CLAIM_INVALID, f"claim holds {amount} points, the delivery was paid "
                    f"{record.amount}", who)
        delivery = self.deliveries.get(key)
        if delivery is None or delivery.digest != digest:
            self._v(K.CLAIM_INVALID, "claimed digest is not the one the uploader committed",
                    who)
        if claim_id != len(self.claims) + 1:
            self._v(K.CLAIM_INVALID, f"claim id {claim_id}, expected {len(self.claims) + 1}",
                    who)
        if deposit != p.claim_deposit:
            self._v(K.CLAIM_INVALID, f"deposit {deposit}, claimDeposit is {p.claim_deposit}",
                    who)
        if response != self.block + p.response_blocks or vote != response + p.vote_blocks:
            self._v(K.CLAIM_INVALID, f"deadlines {response}/{vote}, expected "
                    f"{self.block + p.response_blocks}/"
                    f"{self.block + p.response_blocks + p.vote_blocks}", who)
        them, up = self.parties.get(requester), self.parties.get(uploader)
        if them is not None:
            self._check_settled(them, "claim")
            if them.balance < deposit:
                self._v(K.CLAIM_INVALID, f"deposit {deposit} with a balance of {them.balance}",
                        who)
            them.balance -= deposit
            them.deposited += deposit
        if up is not None:
            if up.pending < amount:
                self._v(K.CLAIM_INVALID, f"claim holds {amount} of {up.pending} pending", who)
            up.pending -= amount
            up.disputed += amount
        if record is not None:
            record.status = RequestStatus.DISPUTED
        self.claims[claim_id] = ClaimRecord(
            claim_id, requester, round_number, ClaimKind(kind_value), uploader, amount,
            response, vote, digest, self.block, self._tx.tx)
        self.claim_of[key] = claim_id
        self._mark("claim_filed", claim=claim_id, requester=requester, uploader=uploader,
                   claim_kind=ClaimKind(kind_value).name.lower(), round=round_number)

    def _claim(self, claim_id: int, kind: ViolationKind) -> ClaimRecord | None:
        claim = self.claims.get(claim_id)
        if claim is None:
            self._v(kind, f"unknown claim {claim_id}")
        return claim

    def _claim_answered(self, a: Mapping[str, Any], _: _Expect | None) -> None:
        claim = self._claim(int(a["claimId"]), K.CLAIM_RESPONSE_INVALID)
        uploader, key = str(a["uploader"]), bytes(a["revealedKey"])
        if claim is None:
            return
        who = (uploader,)
        if uploader != claim.uploader:
            self._v(K.CLAIM_RESPONSE_INVALID, "answered by another party than the uploader", who)
        if claim.state is not ClaimState.FILED:
            self._v(K.CLAIM_RESPONSE_INVALID, f"answer to a claim in state {claim.state.name}",
                    who)
        if claim.kind is ClaimKind.MISSING and key != ZERO32:
            self._v(K.CLAIM_RESPONSE_INVALID, "a Missing claim answered with a key reveal", who)
        if self.block >= claim.response_deadline:
            self._v(K.CLAIM_RESPONSE_INVALID, f"answer after the response deadline "
                    f"{claim.response_deadline}", who)
        claim.state = ClaimState.ANSWERED
        claim.revealed_key = key
        self._mark("claim_answered", claim=claim.claim_id)

    def _claim_voted(self, a: Mapping[str, Any], _: _Expect | None) -> None:
        claim = self._claim(int(a["claimId"]), K.CLAIM_VOTE_INVALID)
        voter, upheld = str(a["voter"]), bool(a["upheld"])
        if claim is None:
            return
        who = (voter,)
        self._require_credible(voter, "claim vote", K.CLAIM_VOTE_INVALID)
        if voter in (claim.requester, claim.uploader):
            self._v(K.CLAIM_VOTE_INVALID, "a side voted on its own claim", who)
        if claim.state is not ClaimState.ANSWERED:
            self._v(K.CLAIM_VOTE_INVALID, f"vote on a claim in state {claim.state.name}", who)
        if self.block >= claim.vote_deadline:
            self._v(K.CLAIM_VOTE_INVALID, f"vote after the deadline {claim.vote_deadline}", who)
        if voter in claim.votes:
            self._v(K.CLAIM_VOTE_INVALID, "voted twice", who)
            return
        claim.votes[voter] = upheld
        up, down, eligible = self.tally(claim)
        if up * 2 > eligible or down * 2 > eligible:
            self._expect("ClaimResolved", {"claimId": claim.claim_id, "upheld": up * 2 > eligible,
                                           "cause": int(ClaimResolution.VOTES)},
                         K.VERDICT_MISMATCH, f"a majority of the {eligible} eligible voters "
                         f"agreed ({up} upheld, {down} rejected)")

    def _claim_resolved(self, a: Mapping[str, Any], matched: _Expect | None) -> None:
        claim = self._claim(int(a["claimId"]), K.VERDICT_MISMATCH)
        if claim is None:
            return
        requester, uploader, upheld = str(a["requester"]), str(a["uploader"]), bool(a["upheld"])
        cause = ClaimResolution(int(a["cause"]))
        payment, deposit, fine = int(a["payment"]), int(a["deposit"]), int(a["fine"])
        who = (claim.requester, claim.uploader)
        tx = self._tx
        assert tx is not None
        if (requester, uploader) != who:
            self._v(K.VERDICT_MISMATCH, "verdict names other sides than the claim", who)
        if not claim.open:
            self._v(K.VERDICT_MISMATCH, f"verdict on a claim in state {claim.state.name}", who)
        if cause is ClaimResolution.SILENCE:
            if claim.state is not ClaimState.FILED or self.block < claim.response_deadline or (
                    not upheld):
                self._v(K.VERDICT_MISMATCH, "resolved for silence, but the claim was answered, "
                        "its response deadline had not passed, or it was rejected", who)
        elif cause is ClaimResolution.DEADLINE:
            up, down, _ = self.tally(claim)
            if claim.state is not ClaimState.ANSWERED or self.block < claim.vote_deadline:
                self._v(K.VERDICT_MISMATCH, "resolved by deadline before the vote deadline",
                        who)
            if upheld != (up > down):
                self._v(K.VERDICT_MISMATCH, f"upheld={upheld} by deadline with {up} upholding "
                        f"and {down} rejecting credible votes", who)
        elif cause is ClaimResolution.VOTES:
            if matched is None:
                self._v(K.VERDICT_MISMATCH, "resolved by votes without a majority vote", who)
        elif tx.info is not None:
            side = tx.info.sender
            if (side, upheld) not in ((claim.requester, False), (claim.uploader, True)):
                self._v(K.VERDICT_MISMATCH, f"concession by {side} gave upheld={upheld}", who)
        if payment != claim.amount or deposit != self.p.claim_deposit:
            self._v(K.VERDICT_MISMATCH, f"moved payment {payment} and deposit {deposit}, the "
                    f"claim held {claim.amount} and {self.p.claim_deposit}", who)
        them, up_party = self.parties.get(claim.requester), self.parties.get(claim.uploader)
        if them is None or up_party is None:
            return
        up_party.disputed -= payment
        them.deposited -= deposit
        if upheld:
            self._check_settled(up_party, "fine")
            rule_fine = min(up_party.balance, self.p.claim_deposit)
            if fine != rule_fine:
                self._v(K.VERDICT_MISMATCH, f"fine {fine}, the rule gives min(balance "
                        f"{up_party.balance}, deposit {self.p.claim_deposit}) = {rule_fine}",
                        who)
            up_party.balance -= fine
            them.balance += payment + deposit + fine
            self._flow(claim.round, claim.requester, "claims", payment + fine)
            self._flow(claim.round, claim.uploader, "claims", -(payment + fine))
        else:
            if fine != 0:
                self._v(K.VERDICT_MISMATCH, f"a rejected claim fined {fine}", who)
            up_party.balance += payment + deposit
            self._flow(claim.round, claim.uploader, "claims", deposit)
            self._flow(claim.round, claim.requester, "claims", -deposit)
        claim.state = ClaimState.UPHELD if upheld else ClaimState.REJECTED
        claim.cause = cause
        claim.fine = fine
        claim.resolved_block = self.block
        self._mark("claim_resolved", claim=claim.claim_id, upheld=upheld,
                   cause=cause.name.lower())
        if upheld and self.credible(claim.uploader) and not self.reported.get(
                (claim.round, claim.uploader, claim.requester)):
            self._expect("ClaimCountedAsReport",
                         {"claimId": claim.claim_id, "epoch": claim.round,
                          "reporter": claim.requester, "suspect": claim.uploader},
                         K.VERDICT_MISMATCH, "an upheld claim counts as the requester's report")

    def _claim_counted(self, a: Mapping[str, Any], matched: _Expect | None) -> None:
        epoch, reporter, suspect = int(a["epoch"]), str(a["reporter"]), str(a["suspect"])
        if matched is None:
            self._v(K.UNEXPECTED_EVENT, "claim counted as a report without an upheld claim",
                    (reporter, suspect))
            return
        self.reported[(epoch, suspect, reporter)] = rules.BY_CLAIM
        reporters = self.reporters.setdefault((epoch, suspect), [])
        reporters.append(reporter)
        self._mark("report", epoch=epoch, reporter=reporter, suspect=suspect, by_claim=True)
        counted = [r for r in reporters if self.credible(r)]
        quorum = self.removal_quorum()
        if len(reporters) >= quorum and len(counted) >= quorum:
            self._expect_removal(suspect, epoch, counted, quorum)

    # ================================================================== messages

    def _messages(self, a: Mapping[str, Any], _: _Expect | None) -> None:
        epoch, kind, sender = int(a["epoch"]), int(a["kind"]), str(a["sender"])
        recipients = [str(r) for r in a["recipients"]]
        digests = [bytes(d) for d in a["digests"]]
        accumulator = bytes(a["accumulator"])
        who = (sender,)
        assert self._tx is not None
        self._require_credible(sender, "message commitment", K.MESSAGE_INVALID)
        if not self.registration_closed:
            self._v(K.PHASE_VIOLATION, "messages committed during registration", who)
        if epoch > self.current_round:
            self._v(K.MESSAGE_INVALID, f"messages for future epoch {epoch}", who)
        if kind not in self.message_kinds:
            self._v(K.MESSAGE_INVALID, f"unknown message kind {kind}", who)
        if len(recipients) != len(digests) or len(recipients) > self.p.max_parties:
            self._v(K.MESSAGE_INVALID, f"{len(recipients)} recipients, {len(digests)} digests",
                    who)
            return
        for recipient, digest in zip(recipients, digests, strict=True):
            if recipient not in self.parties or digest == ZERO32:
                self._v(K.MESSAGE_INVALID, "message to an unregistered address or zero digest",
                        (sender, recipient))
            self.commitments.append(Commitment(f"message kind {kind}", epoch, sender, digest,
                                               self.block, self._tx.tx, recipient))
        key = (epoch, kind, sender)
        computed = rules.message_accumulator(self.message_acc.get(key, ZERO32), recipients,
                                             digests)
        if computed != accumulator:
            self._v(K.ACCUMULATOR_MISMATCH, f"message hash chain of kind {kind} does not extend"
                    " the previous value", who)
        self.message_acc[key] = accumulator


def _norm(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_norm(v) for v in value)
    if isinstance(value, tuple):
        return tuple(_norm(v) for v in value)
    if isinstance(value, bool):
        return value
    return value


def _show1(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show1(v) for v in value) + "]"
    return str(value)


def _show(args: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_show1(v)}" for k, v in args.items())
