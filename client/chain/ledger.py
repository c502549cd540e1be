"""Typed bindings of the ConsortiumLedger contract over web3.py and eth-account.

Transactions are signed locally by the ``LocalAccount`` handed in (keys never leave the
process; node accounts are never unlocked), with per-account nonce tracking that is safe for
several ``Ledger`` objects (of the same or different accounts) in one process, gas estimation
and awaited receipts. Custom-error reverts become the named exceptions of
:mod:`client.chain.errors`. Reads return frozen records of :mod:`client.chain.records`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import requests
from eth_account.signers.local import LocalAccount
from eth_utils import event_abi_to_log_topic
from hexbytes import HexBytes
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import (
    BadFunctionCallOutput,
    ContractLogicError,
    ProviderConnectionError,
    TimeExhausted,
    Web3RPCError,
)

from client.chain.compile import load_artifact
from client.chain.errors import (
    LEDGER_CONTRACT,
    ChainUnavailable,
    LedgerError,
    NotALedger,
    TransactionFailed,
    decode_revert,
)
from client.chain.records import (
    Admission,
    AdmissionVote,
    ClaimFiling,
    ClaimInfo,
    ClaimKind,
    ClaimResolution,
    ClaimState,
    ClaimTally,
    ClaimVerdict,
    DownloadRequest,
    EventMeta,
    LedgerEvent,
    LedgerParams,
    LowQualityReport,
    MessageCommitment,
    PartyInfo,
    PartyStatus,
    Phase,
    Points,
    Ratio,
    Receipt,
    Registration,
    Removal,
    RequestState,
    RequestStatus,
    RoundDeadlines,
    RoundOpening,
    RoundProgress,
    SkippedRequest,
    Snapshot,
    Upload,
)

# Headroom over eth_estimateGas. State may move between estimate and inclusion (another
# party's transaction first), and the ledger's phases depend on block.number: a closeRound
# estimated one block before a deadline takes the cheap vote path but may execute on the
# deadline and open the next round (~30k gas more). Unused gas is not charged.
GAS_HEADROOM_NUM = 5
GAS_HEADROOM_DEN = 4
GAS_HEADROOM_FIXED = 60_000
RECEIPT_TIMEOUT_S = 120.0
#: Blocks per ``eth_getLogs`` query of :meth:`Ledger.events` (public nodes cap the range).
LOG_CHUNK_BLOCKS = 10_000

# What a node that is down, unreachable or too slow raises through web3's HTTP provider.
_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    ProviderConnectionError,
)


class ReadOnlyLedger(LedgerError):
    """A transaction was attempted on a Ledger opened without an account."""


class PhaseTimeout(LedgerError):
    """The ledger did not reach the awaited phase in time."""


class _NonceBook:
    """One lock per (chain id, address), shared by every Ledger of the process.

    The nonce is the node's pending transaction count read under the lock: the node counts
    a transaction as pending as soon as ``eth_sendRawTransaction`` returns, so two Ledger
    objects of one account never pick the same nonce, and a devnet reverted to a snapshot
    never leaves a stale local counter that would park transactions behind a nonce gap.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._locks: dict[tuple[int, str], threading.Lock] = {}

    def lock(self, key: tuple[int, str]) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(key, threading.Lock())


NONCES = _NonceBook()


def connect(rpc_url: str, timeout_s: float = 60.0) -> Web3:
    """Return a Web3 on ``rpc_url`` (HTTP JSON-RPC)."""
    return Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))


def _endpoint(w3: Web3) -> str:
    return str(getattr(w3.provider, "endpoint_uri", None) or "the JSON-RPC node")


@contextmanager
def transport(w3: Web3, address: str | None = None) -> Iterator[None]:
    """Translate transport failures and non-ledger answers into named ledger errors.

    Connection errors and timeouts become :class:`ChainUnavailable`; web3's
    ``BadFunctionCallOutput`` (empty or undecodable return data: no contract, or not a
    ledger, at ``address``) becomes :class:`NotALedger`. Both carry a one-line message.
    """
    try:
        yield
    except _TRANSPORT_ERRORS as exc:
        raise ChainUnavailable(
            f"no answer from {_endpoint(w3)} ({type(exc).__name__})"
        ) from exc
    except BadFunctionCallOutput as exc:
        where = address or "the given address"
        raise NotALedger(f"{where} is not a ConsortiumLedger on this chain") from exc


def _plain(value: Any) -> Any:
    """Turn web3's decoded event values into plain Python values (dicts, tuples, bytes)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (HexBytes, bytearray)):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value


def _meta(log: Any) -> EventMeta:
    return EventMeta(int(log["blockNumber"]), "0x" + bytes(log["transactionHash"]).hex(),
                     int(log["logIndex"]))


def _addresses(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(Web3.to_checksum_address(v) for v in values)


def _checksum(value: str) -> str:
    return str(Web3.to_checksum_address(value))


def _topic_of(contract: Contract, event: str) -> bytes:
    abi: list[Any] = list(contract.abi)
    (entry,) = [e for e in abi if e.get("type") == "event" and e.get("name") == event]
    return bytes(event_abi_to_log_topic(entry))


class Ledger:
    """One party's (or an auditor's) handle on a deployed ConsortiumLedger.

    Parameters
    ----------
    w3
        A connected Web3.
    address
        Address of the deployed ledger.
    account
        Local signing account; ``None`` for a read-only (auditor) handle.
    abi
        Contract ABI; by default the compiled ``ConsortiumLedger`` artifact's.
    """

    def __init__(
        self,
        w3: Web3,
        address: str,
        account: LocalAccount | None = None,
        *,
        abi: Sequence[Any] | None = None,
    ) -> None:
        self.w3 = w3
        self.address = Web3.to_checksum_address(address)
        self.account = account
        self.contract: Contract = w3.eth.contract(
            address=self.address, abi=list(abi or load_artifact(LEDGER_CONTRACT).abi)
        )
        with transport(w3):
            self._chain_id = int(w3.eth.chain_id)
        self._params: LedgerParams | None = None
        self._topics: dict[bytes, str] | None = None

    # ------------------------------------------------------------------ construction

    @classmethod
    def deploy(
        cls, w3: Web3, account: LocalAccount, params: LedgerParams
    ) -> tuple[Ledger, Receipt]:
        """Deploy a new ledger with ``params``; return its handle and the deployment receipt.

        Parameters
        ----------
        w3
            A connected Web3.
        account
            The deploying account (it gains no privilege in the contract).
        params
            Deployment parameters.
        """
        artifact = load_artifact(LEDGER_CONTRACT)
        factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        constructor = factory.constructor(*params.constructor_args())
        with transport(w3):
            receipt = _send(w3, account, constructor, contract_call=False,
                            chain_id=int(w3.eth.chain_id))
            raw = w3.eth.get_transaction_receipt(receipt.tx_hash)  # type: ignore[arg-type]
        address = raw["contractAddress"]
        if address is None:
            raise TransactionFailed(f"deployment {receipt.tx_hash} created no contract")
        return cls(w3, address, account, abi=artifact.abi), receipt

    def check(self) -> LedgerParams:
        """Verify that the address holds a ConsortiumLedger; return its parameters.

        Raises :class:`NotALedger` when the address has no code or does not answer the
        ledger's interface, :class:`ChainUnavailable` when the node cannot be reached.
        """
        with transport(self.w3, self.address):
            code = self.w3.eth.get_code(self.address)
        if len(bytes(code)) == 0:
            raise NotALedger(f"{self.address} has no contract code on chain {self._chain_id}")
        try:
            return self.parameters()
        except (NotALedger, ChainUnavailable):
            raise
        except (LedgerError, ValueError, TypeError) as exc:
            raise NotALedger(f"{self.address} is not a ConsortiumLedger: {exc}") from exc

    def with_account(self, account: LocalAccount) -> Ledger:
        """Return a handle on the same ledger signing with ``account``."""
        return Ledger(self.w3, self.address, account, abi=self.contract.abi)

    @property
    def sender(self) -> str:
        """Checksummed address of the signing account."""
        if self.account is None:
            raise ReadOnlyLedger("this Ledger has no account; open it with one to transact")
        return str(self.account.address)

    # ------------------------------------------------------------------ transactions

    def register(
        self,
        enc_pub_key: bytes,
        data_size: int,
        samples_released: int,
        samples_digest: bytes,
        *,
        deposit: int | None = None,
    ) -> Receipt:
        """Register the account (init transaction) with its key, |D_i|, u_i and sample digest.

        ``deposit`` is the wei sent along; by default exactly the ledger's
        ``registration_deposit`` (read from the chain).
        """
        value = self.parameters().registration_deposit if deposit is None else deposit
        return self._transact(
            self.contract.functions.register(
                enc_pub_key, data_size, samples_released, samples_digest
            ),
            value=value,
        )

    def vote_to_admit(self, candidate: str) -> Receipt:
        """Vote, as an admitted member, to admit ``candidate`` (admission mode VOTE)."""
        return self._transact(
            self.contract.functions.voteToAdmit(Web3.to_checksum_address(candidate))
        )

    def withdraw_deposit(self) -> Receipt:
        """Withdraw the account's registration deposit (once Finished, if not removed)."""
        return self._transact(self.contract.functions.withdrawDeposit())

    def close_registration(self) -> Receipt:
        """Close registration and mint everyone's initial points (anyone may call)."""
        return self._transact(self.contract.functions.closeRegistration())

    def request_downloads(self, uploaders: Sequence[str], amounts: Sequence[int]) -> Receipt:
        """DOWNLOAD: escrow ``amounts[j]`` points for an update from ``uploaders[j]``."""
        return self._transact(
            self.contract.functions.requestDownloads(list(_addresses(uploaders)), list(amounts))
        )

    def upload_ciphertexts(self, requesters: Sequence[str], digests: Sequence[bytes]) -> Receipt:
        """UPLOAD: commit ciphertext digests for ``requesters`` and collect their escrow."""
        return self._transact(
            self.contract.functions.uploadCiphertexts(list(_addresses(requesters)), list(digests))
        )

    def close_round(self) -> Receipt:
        """Vote to close the current epoch (closes on unanimity or after its deadline)."""
        return self._transact(self.contract.functions.closeRound())

    def settle(self, party: str) -> Receipt:
        """Settle ``party``: release escrow of closed rounds, credit payments past their window."""
        return self._transact(self.contract.functions.settle(_checksum(party)))

    def release_escrow(self, party: str) -> Receipt:
        """Settle ``party`` (the former name of :meth:`settle`, kept for callers)."""
        return self.settle(party)

    # ------------------------------------------------------------------ claims

    def delivery_proof(
        self, round_number: int, uploader: str, from_block: int = 0
    ) -> tuple[bytes, tuple[str, ...], tuple[bytes, ...]]:
        """Return (previous accumulator, requesters, digests) of ``uploader``'s UPLOAD of a round.

        This is the proof ``fileClaim`` checks against the uploader's upload hash chain: the
        batch exactly as sent and the chain value before it (zero for a first UPLOAD).
        """
        batches = self.uploads(uploader=uploader, from_block=from_block)
        for k, batch in enumerate(batches):
            if batch.round == round_number:
                previous = batches[k - 1].accumulator if k else bytes(32)
                return previous, batch.requesters, batch.digests
        raise LedgerError(f"{uploader} has no UPLOAD in round {round_number}")

    def file_claim(self, round_number: int, uploader: str, kind: ClaimKind) -> int:
        """Claim against ``uploader``'s delivery of ``round_number``; return the claim's id.

        Deposits the ledger's ``claim_deposit`` points; the proof of the delivery is built from
        the uploader's UPLOAD events.
        """
        previous, requesters, digests = self.delivery_proof(round_number, uploader)
        fn = self.contract.functions.fileClaim(
            round_number, _checksum(uploader), int(kind), previous, list(requesters),
            list(digests),
        )
        receipt = self._transact(fn)
        for log in self._receipt_events(receipt, "ClaimFiled"):
            return int(log["args"]["claimId"])
        raise TransactionFailed(f"claim transaction {receipt.tx_hash} filed no claim")

    def file_claim_with_proof(
        self,
        round_number: int,
        uploader: str,
        kind: int,
        previous: bytes,
        requesters: Sequence[str],
        digests: Sequence[bytes],
    ) -> Receipt:
        """Send ``fileClaim`` with an explicit delivery proof (tests and tools)."""
        return self._transact(
            self.contract.functions.fileClaim(
                round_number, _checksum(uploader), int(kind), previous,
                list(_addresses(requesters)), list(digests),
            )
        )

    def declare_republished(self, claim_id: int) -> Receipt:
        """Answer a MISSING claim: bytes matching the committed digest are published again."""
        return self._transact(self.contract.functions.declareRepublished(claim_id))

    def reveal_key(self, claim_id: int, key: bytes) -> Receipt:
        """Answer an UNDECRYPTABLE or MALFORMED claim with the envelope's 32-byte layer-2 key."""
        if len(key) != 32:
            raise ValueError(f"a layer-2 key has 32 bytes, got {len(key)}")
        return self._transact(self.contract.functions.revealKey(claim_id, key))

    def vote_on_claim(self, claim_id: int, upheld: bool) -> Receipt:
        """Vote on an answered claim: ``upheld`` if the uploader's response fails the check."""
        return self._transact(self.contract.functions.voteOnClaim(claim_id, upheld))

    def resolve_claim(self, claim_id: int) -> Receipt:
        """Resolve a claim past its response (unanswered) or vote (answered) deadline."""
        return self._transact(self.contract.functions.resolveClaim(claim_id))

    def concede_claim(self, claim_id: int) -> Receipt:
        """Give up an open claim: as requester (rejected) or as uploader (upheld)."""
        return self._transact(self.contract.functions.concedeClaim(claim_id))

    def report_low_quality(self, epoch: int, suspects: Sequence[str]) -> Receipt:
        """Report ``suspects`` as low-quality parties for ``epoch``."""
        return self._transact(
            self.contract.functions.reportLowQuality(epoch, list(_addresses(suspects)))
        )

    def commit_messages(
        self, epoch: int, kind: int, recipients: Sequence[str], digests: Sequence[bytes]
    ) -> Receipt:
        """Commit digests of off-chain messages of ``kind`` (see :meth:`message_kind`)."""
        return self._transact(
            self.contract.functions.commitMessages(
                epoch, kind, list(_addresses(recipients)), list(digests)
            )
        )

    # ------------------------------------------------------------------ reads

    def parameters(self) -> LedgerParams:
        """Deployment parameters, allowlist and settings included (cached: immutable)."""
        if self._params is None:
            functions = self.contract.functions
            self._params = LedgerParams.from_tuple(
                self._call(functions.parameters()),
                _addresses(self._call(functions.allowlist())),
                bytes(self._call(functions.settings())),
            )
        return self._params

    def message_kind(self, name: str) -> int:
        """Value of the contract constant ``KIND_<NAME>`` (``labels``, ``recovery``, ...)."""
        return int(self._call(getattr(self.contract.functions, f"KIND_{name.upper()}")()))

    def message_kinds(self) -> dict[str, int]:
        """Every message kind the ledger accepts, by lower-case name (from its ``KIND_*``).

        The names are those of the contract's constants; the set is checked against
        ``messageKinds()``, so it is the contract's list, never a copy.
        """
        abi: list[Any] = list(self.contract.abi)
        names = [e["name"] for e in abi
                 if e.get("type") == "function" and str(e.get("name", "")).startswith("KIND_")]
        kinds = {str(n)[5:].lower(): self.message_kind(str(n)[5:]) for n in names}
        listed = [int(k) for k in self._call(self.contract.functions.messageKinds())]
        if sorted(kinds.values()) != listed:
            raise NotALedger(f"{self.address}: KIND_* constants disagree with messageKinds()")
        return dict(sorted(kinds.items(), key=lambda item: item[1]))

    def settings(self) -> bytes:
        """Consortium-wide settings fixed at deployment (opaque bytes; the client decodes)."""
        return self.parameters().settings

    def settings_digest(self) -> bytes:
        """keccak256 of :meth:`settings`, as stored on-chain."""
        return bytes(self._call(self.contract.functions.settingsDigest()))

    def claims_module(self) -> str:
        """Address of the ClaimsModule the ledger runs its claim functions in."""
        return _checksum(self._call(self.contract.functions.claimsModule()))

    def retained_until(self, round_number: int) -> int:
        """Block until which content of ``round_number`` must stay retrievable (0: still open)."""
        return int(self._call(self.contract.functions.retainedUntil(round_number)))

    def registration_failed(self) -> bool:
        """Whether registration ended below ``min_parties`` (deposits become withdrawable)."""
        return bool(self._call(self.contract.functions.registrationFailed()))

    def admission(self) -> Admission:
        """Return the admission mode chosen at deployment."""
        return self.parameters().admission

    def admitted(self) -> tuple[str, ...]:
        """Every admitted address: the allowlist first, then those voted in."""
        return _addresses(self._call(self.contract.functions.admitted()))

    def is_admitted(self, party: str) -> bool:
        """Whether ``party`` may register (always true under OPEN admission)."""
        return bool(self._call(self.contract.functions.isAdmitted(_checksum(party))))

    def admission_votes(self, candidate: str) -> int:
        """Admission votes ``candidate`` has received."""
        return int(self._call(self.contract.functions.admissionVotes(_checksum(candidate))))

    def has_voted_to_admit(self, candidate: str, voter: str) -> bool:
        """Whether ``voter`` voted to admit ``candidate``."""
        fn = self.contract.functions.hasVotedToAdmit(_checksum(candidate), _checksum(voter))
        return bool(self._call(fn))

    def admission_quorum(self) -> int:
        """Votes that admit a candidate now (the contract's rule)."""
        return int(self._call(self.contract.functions.admissionQuorum()))

    def deposit_held(self, party: str) -> bool:
        """Whether ``party``'s registration deposit is still held by the contract."""
        return bool(self._call(self.contract.functions.depositHeld(_checksum(party))))

    def phase(self) -> Phase:
        """Return the current phase."""
        return Phase(self._call(self.contract.functions.phase()))

    def snapshot(self, party: str) -> Snapshot:
        """``phase()``, ``currentRound()`` and ``party``'s status in one batched request.

        A party polls these on every step; one HTTP round trip instead of three.
        """
        functions = self.contract.functions
        with transport(self.w3, self.address), self.w3.batch_requests() as batch:
            batch.add(functions.phase())
            batch.add(functions.currentRound())
            batch.add(functions.partyInfo(Web3.to_checksum_address(party)))
            results: list[Any] = list(batch.execute())
        phase, round_number, info = results
        return Snapshot(Phase(phase), int(round_number), PartyStatus(info[0]))

    def current_round(self) -> int:
        """Return the current epoch: 0 until round 1 opens."""
        return int(self._call(self.contract.functions.currentRound()))

    def round_deadlines(self, round_number: int) -> RoundDeadlines:
        """Start and absolute phase deadline blocks of ``round_number``."""
        return RoundDeadlines(*self._call(self.contract.functions.roundDeadlines(round_number)))

    def round_progress(self, round_number: int) -> RoundProgress:
        """Counters of parties that acted in each phase of ``round_number``."""
        return RoundProgress(*self._call(self.contract.functions.roundProgress(round_number)))

    def registration_closed(self) -> bool:
        """Whether registration is closed."""
        return bool(self._call(self.contract.functions.registrationClosed()))

    def parties(self) -> tuple[str, ...]:
        """Every registered party in registration order."""
        return _addresses(self._call(self.contract.functions.parties()))

    def credible_parties(self) -> tuple[str, ...]:
        """Return the credible set in registration order."""
        return _addresses(self._call(self.contract.functions.credibleParties()))

    def credible_count(self) -> int:
        """|C|."""
        return int(self._call(self.contract.functions.credibleCount()))

    def party_info(self, party: str) -> PartyInfo:
        """Registration data and status of ``party``."""
        address = Web3.to_checksum_address(party)
        status, index, size, released, digest, key = self._call(
            self.contract.functions.partyInfo(address)
        )
        return PartyInfo(
            address, PartyStatus(status), int(index), int(size), int(released),
            bytes(digest), bytes(key),
        )

    def points_of(self, party: str) -> Points:
        """Every points bucket of ``party`` and what its next DOWNLOAD releases."""
        fn = self.contract.functions.pointsOf(Web3.to_checksum_address(party))
        return Points(*self._call(fn))

    def total_points(self) -> int:
        """Points minted at registration (every bucket of every party sums to it)."""
        return int(self._call(self.contract.functions.totalPoints()))

    def claim_count(self) -> int:
        """Return the number of claims filed (ids run from 1 to this)."""
        return int(self._call(self.contract.functions.claimCount()))

    def claim(self, claim_id: int) -> ClaimInfo:
        """Return claim ``claim_id`` as stored."""
        values = self._call(self.contract.functions.claim(claim_id))
        requester, rnd, kind, state, uploader, amount, rdl, vdl, digest, key = values
        return ClaimInfo(
            claim_id, _checksum(requester), int(rnd), ClaimKind(kind), ClaimState(state),
            _checksum(uploader), int(amount), int(rdl), int(vdl), bytes(digest), bytes(key),
        )

    def claim_of(self, round_number: int, requester: str, uploader: str) -> int:
        """Id of the claim against ``uploader``'s delivery to ``requester`` (0: none)."""
        fn = self.contract.functions.claimOf(round_number, _checksum(requester),
                                             _checksum(uploader))
        return int(self._call(fn))

    def claim_tally(self, claim_id: int) -> ClaimTally:
        """Votes that count now on ``claim_id`` and its electorate (the contract's rule)."""
        return ClaimTally(*(int(v) for v in self._call(
            self.contract.functions.claimTally(claim_id))))

    def claim_vote(self, claim_id: int, voter: str) -> bool | None:
        """How ``voter`` voted on ``claim_id``: True upheld, False rejected, None not at all."""
        vote = int(self._call(self.contract.functions.claimVote(claim_id, _checksum(voter))))
        return None if vote == 0 else vote == 1

    def request_state(self, round_number: int, requester: str, uploader: str) -> RequestState:
        """Return the stored request of ``requester`` to ``uploader`` in ``round_number``."""
        a, b = Web3.to_checksum_address(requester), Web3.to_checksum_address(uploader)
        amount, status = self._call(self.contract.functions.requestOf(round_number, a, b))
        return RequestState(round_number, a, b, int(amount), RequestStatus(status))

    def upload_accumulator(self, uploader: str) -> bytes:
        """Hash chain of ``uploader``'s UPLOADs.

        Each UPLOAD sets acc = keccak256(abi.encode(acc, round, requesters, digests)).
        """
        fn = self.contract.functions.uploadAccumulator(Web3.to_checksum_address(uploader))
        return bytes(self._call(fn))

    def reporters_of(self, epoch: int, suspect: str) -> tuple[str, ...]:
        """Members that reported ``suspect`` in ``epoch`` while it was credible."""
        fn = self.contract.functions.reportersOf(epoch, Web3.to_checksum_address(suspect))
        return _addresses(self._call(fn))

    def has_reported(self, epoch: int, suspect: str, reporter: str) -> bool:
        """Whether ``reporter`` reported ``suspect`` in ``epoch``."""
        fn = self.contract.functions.hasReported(
            epoch, Web3.to_checksum_address(suspect), Web3.to_checksum_address(reporter)
        )
        return bool(self._call(fn))

    def message_accumulator(self, epoch: int, kind: int, sender: str) -> bytes:
        """Hash chain of ``sender``'s committed message batches of ``kind`` in ``epoch``."""
        fn = self.contract.functions.messageAccumulator(
            epoch, kind, Web3.to_checksum_address(sender)
        )
        return bytes(self._call(fn))

    def credible_report_count(self, epoch: int, suspect: str) -> int:
        """Count the reports against ``suspect`` in ``epoch`` whose reporters are still credible.

        ``suspect`` is removed when this reaches :meth:`removal_quorum`.
        """
        fn = self.contract.functions.credibleReportCount(epoch, _checksum(suspect))
        return int(self._call(fn))

    def removal_quorum(self) -> int:
        """Return credible reports needed now to remove a party: ceil(num |C| / den)."""
        return int(self._call(self.contract.functions.removalQuorum()))

    def credibility_threshold(self, credible: int | None = None) -> Ratio:
        """c_th for a credible set of ``credible`` parties (default: the current |C|)."""
        n = self.credible_count() if credible is None else credible
        return Ratio(*self._call(self.contract.functions.credibilityThreshold(n)))

    def block_number(self) -> int:
        """Latest block number of the chain."""
        with transport(self.w3):
            return int(self.w3.eth.block_number)

    def wait_for_phase(
        self,
        accept: Callable[[Phase, int], bool],
        *,
        timeout_s: float = 300.0,
        poll_s: float = 0.2,
    ) -> tuple[Phase, int]:
        """Poll the chain until ``accept(phase, round)`` holds; return that (phase, round).

        Parties wait on the chain, never on each other.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            current = (self.phase(), self.current_round())
            if accept(*current):
                return current
            if time.monotonic() > deadline:
                raise PhaseTimeout(f"still in {current[0].name} of epoch {current[1]}")
            time.sleep(poll_s)

    # ------------------------------------------------------------------ events

    def registrations(self, from_block: int = 0) -> list[Registration]:
        """Every ``PartyRegistered`` event."""
        return [
            Registration(
                Web3.to_checksum_address(e["args"]["party"]), int(e["args"]["index"]),
                int(e["args"]["dataSize"]), int(e["args"]["samplesReleased"]),
                bytes(e["args"]["samplesDigest"]), bytes(e["args"]["encPubKey"]), _meta(e),
                int(e["args"]["deposit"]),
            )
            for e in self._logs("PartyRegistered", from_block, {})
        ]

    def download_requests(
        self, round_number: int | None = None, requester: str | None = None, from_block: int = 0
    ) -> list[DownloadRequest]:
        """``DownloadRequested`` events, optionally for one round and/or requester."""
        filters: dict[str, Any] = {}
        if round_number is not None:
            filters["round"] = round_number
        if requester is not None:
            filters["requester"] = Web3.to_checksum_address(requester)
        return [
            DownloadRequest(
                int(e["args"]["round"]), Web3.to_checksum_address(e["args"]["requester"]),
                _addresses(e["args"]["uploaders"]), tuple(int(a) for a in e["args"]["amounts"]),
                _meta(e),
            )
            for e in self._logs("DownloadRequested", from_block, filters)
        ]

    def uploads(
        self, round_number: int | None = None, uploader: str | None = None, from_block: int = 0
    ) -> list[Upload]:
        """``CiphertextsUploaded`` events, optionally for one round and/or uploader."""
        filters: dict[str, Any] = {}
        if round_number is not None:
            filters["round"] = round_number
        if uploader is not None:
            filters["uploader"] = Web3.to_checksum_address(uploader)
        return [
            Upload(
                int(e["args"]["round"]), Web3.to_checksum_address(e["args"]["uploader"]),
                _addresses(e["args"]["requesters"]),
                tuple(bytes(d) for d in e["args"]["digests"]), _meta(e),
                int(e["args"]["pending"]), bytes(e["args"]["accumulator"]),
            )
            for e in self._logs("CiphertextsUploaded", from_block, filters)
        ]

    def low_quality_reports(
        self, epoch: int | None = None, from_block: int = 0
    ) -> list[LowQualityReport]:
        """``LowQualityReported`` events, optionally for one epoch."""
        filters: dict[str, Any] = {} if epoch is None else {"epoch": epoch}
        return [
            LowQualityReport(
                int(e["args"]["epoch"]), Web3.to_checksum_address(e["args"]["reporter"]),
                _addresses(e["args"]["suspects"]), _meta(e),
            )
            for e in self._logs("LowQualityReported", from_block, filters)
        ]

    def removals(self, from_block: int = 0) -> list[Removal]:
        """``PartyRemoved`` events."""
        return [
            Removal(
                Web3.to_checksum_address(e["args"]["party"]), int(e["args"]["epoch"]),
                _addresses(e["args"]["reporters"]), _meta(e), int(e["args"]["forfeited"]),
            )
            for e in self._logs("PartyRemoved", from_block, {})
        ]

    def message_commitments(
        self,
        epoch: int | None = None,
        kind: int | None = None,
        sender: str | None = None,
        from_block: int = 0,
    ) -> list[MessageCommitment]:
        """``MessagesCommitted`` events, optionally filtered by epoch, kind and sender."""
        filters: dict[str, Any] = {}
        if epoch is not None:
            filters["epoch"] = epoch
        if kind is not None:
            filters["kind"] = kind
        if sender is not None:
            filters["sender"] = Web3.to_checksum_address(sender)
        return [
            MessageCommitment(
                int(e["args"]["epoch"]), int(e["args"]["kind"]),
                Web3.to_checksum_address(e["args"]["sender"]),
                _addresses(e["args"]["recipients"]),
                tuple(bytes(d) for d in e["args"]["digests"]),
                bytes(e["args"]["accumulator"]), _meta(e),
            )
            for e in self._logs("MessagesCommitted", from_block, filters)
        ]

    def rounds_opened(self, from_block: int = 0) -> list[RoundOpening]:
        """``RoundOpened`` events."""
        return [
            RoundOpening(
                int(e["args"]["round"]), int(e["args"]["requestDeadline"]),
                int(e["args"]["uploadDeadline"]), int(e["args"]["settleDeadline"]), _meta(e),
            )
            for e in self._logs("RoundOpened", from_block, {})
        ]

    def skipped_requests(self, from_block: int = 0) -> list[SkippedRequest]:
        """``RequestSkipped`` events: requests of removed requesters refunded at UPLOAD."""
        return [
            SkippedRequest(
                int(e["args"]["round"]), _checksum(e["args"]["requester"]),
                _checksum(e["args"]["uploader"]), int(e["args"]["refunded"]), _meta(e),
            )
            for e in self._logs("RequestSkipped", from_block, {})
        ]

    def claims_filed(
        self, requester: str | None = None, from_block: int = 0
    ) -> list[ClaimFiling]:
        """``ClaimFiled`` events, optionally of one requester."""
        filters: dict[str, Any] = {} if requester is None else {"requester": _checksum(requester)}
        return [
            ClaimFiling(
                int(e["args"]["claimId"]), int(e["args"]["round"]),
                _checksum(e["args"]["requester"]), _checksum(e["args"]["uploader"]),
                ClaimKind(e["args"]["kind"]), bytes(e["args"]["digest"]),
                int(e["args"]["amount"]), int(e["args"]["deposit"]),
                int(e["args"]["responseDeadline"]), int(e["args"]["voteDeadline"]), _meta(e),
            )
            for e in self._logs("ClaimFiled", from_block, filters)
        ]

    def claim_verdicts(self, from_block: int = 0) -> list[ClaimVerdict]:
        """``ClaimResolved`` events."""
        return [
            ClaimVerdict(
                int(e["args"]["claimId"]), _checksum(e["args"]["requester"]),
                _checksum(e["args"]["uploader"]), bool(e["args"]["upheld"]),
                ClaimResolution(e["args"]["cause"]), int(e["args"]["payment"]),
                int(e["args"]["deposit"]), int(e["args"]["fine"]), _meta(e),
            )
            for e in self._logs("ClaimResolved", from_block, {})
        ]

    def admission_votes_cast(self, from_block: int = 0) -> list[AdmissionVote]:
        """``AdmissionVoted`` events."""
        return [
            AdmissionVote(
                _checksum(e["args"]["candidate"]), _checksum(e["args"]["voter"]),
                int(e["args"]["votes"]), int(e["args"]["quorum"]), _meta(e),
            )
            for e in self._logs("AdmissionVoted", from_block, {})
        ]

    def event_names(self) -> tuple[str, ...]:
        """Names of every event of the ledger's ABI."""
        return tuple(sorted(self._event_topics().values()))

    def events(
        self,
        from_block: int = 0,
        to_block: int | None = None,
        *,
        chunk_blocks: int = LOG_CHUNK_BLOCKS,
    ) -> Iterator[LedgerEvent]:
        """Yield every ledger event in block and log order, decoded (for auditors).

        Logs are fetched in windows of ``chunk_blocks`` blocks (public nodes cap the range of
        one ``eth_getLogs``). Argument values are plain Python: addresses checksummed, bytes
        as ``bytes``, arrays as tuples, structs as dicts.
        """
        if chunk_blocks < 1:
            raise ValueError("chunk_blocks must be >= 1")
        last = self.block_number() if to_block is None else to_block
        topics = self._event_topics()
        start = from_block
        while start <= last:
            end = min(last, start + chunk_blocks - 1)
            with transport(self.w3, self.address):
                logs = self.w3.eth.get_logs(
                    {"address": self.address, "fromBlock": start, "toBlock": end}
                )
            for log in sorted(logs, key=lambda e: (e["blockNumber"], e["logIndex"])):
                if not log["topics"]:
                    continue
                name = topics.get(bytes(log["topics"][0]))
                if name is None:
                    continue
                decoded = getattr(self.contract.events, name)().process_log(log)
                yield LedgerEvent(name, _plain(decoded["args"]), _meta(log))
            start = end + 1

    # ------------------------------------------------------------------ plumbing

    def _receipt_events(self, receipt: Receipt, event: str) -> list[Any]:
        with transport(self.w3, self.address):
            raw = self.w3.eth.get_transaction_receipt(receipt.tx_hash)  # type: ignore[arg-type]
        handle = getattr(self.contract.events, event)()
        topic = _topic_of(self.contract, event)
        return [handle.process_log(log) for log in raw["logs"]
                if str(log["address"]).lower() == self.address.lower() and log["topics"]
                and bytes(log["topics"][0]) == topic]

    def _event_topics(self) -> dict[bytes, str]:
        if self._topics is None:
            abi: list[Any] = list(self.contract.abi)
            self._topics = {
                bytes(event_abi_to_log_topic(entry)): str(entry["name"])
                for entry in abi
                if entry.get("type") == "event"
            }
        return self._topics

    def _logs(self, event: str, from_block: int, filters: dict[str, Any]) -> list[Any]:
        handle = getattr(self.contract.events, event)
        with transport(self.w3, self.address):
            logs = handle.get_logs(argument_filters=filters or None, from_block=from_block,
                                   to_block="latest")
        return sorted(logs, key=lambda e: (e["blockNumber"], e["logIndex"]))

    def _call(self, fn: ContractFunction) -> Any:
        try:
            with transport(self.w3, self.address):
                return fn.call()
        except ContractLogicError as exc:
            raise _decoded(exc) from exc

    def _transact(self, fn: ContractFunction, *, value: int = 0) -> Receipt:
        if self.account is None:
            raise ReadOnlyLedger("this Ledger has no account; open it with one to transact")
        with transport(self.w3, self.address):
            return _send(self.w3, self.account, fn, contract_call=True,
                         chain_id=self._chain_id, value=value)


def _decoded(exc: ContractLogicError) -> LedgerError:
    data = exc.data
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
        return decode_revert(data)
    return TransactionFailed(str(exc.message or exc))


def _send(
    w3: Web3,
    account: LocalAccount,
    fn: Any,
    *,
    contract_call: bool,
    chain_id: int,
    value: int = 0,
) -> Receipt:
    """Estimate, sign locally, send with a tracked nonce and await the receipt."""
    sender = account.address
    key = (chain_id, sender)
    try:
        gas = int(fn.estimate_gas({"from": sender, "value": value}, block_identifier="pending"))
    except ContractLogicError as exc:
        raise _decoded(exc) from exc
    gas = gas * GAS_HEADROOM_NUM // GAS_HEADROOM_DEN + GAS_HEADROOM_FIXED
    with NONCES.lock(key):
        nonce = int(w3.eth.get_transaction_count(sender, "pending"))
        tx = fn.build_transaction(
            {"from": sender, "nonce": nonce, "gas": gas, "chainId": chain_id, "value": value}
        )
        signed = account.sign_transaction(tx)
        try:
            tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        except Web3RPCError as exc:
            raise TransactionFailed(f"node rejected the transaction: {exc}") from exc
    try:
        raw = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S)
    except TimeExhausted as exc:
        raise TransactionFailed(f"no receipt for 0x{bytes(tx_hash).hex()}") from exc
    receipt = Receipt("0x" + bytes(raw["transactionHash"]).hex(), int(raw["blockNumber"]),
                      int(raw["gasUsed"]))
    if raw["status"] != 1:
        raise _replayed_failure(w3, tx, receipt, contract_call)
    return receipt


def _replayed_failure(w3: Web3, tx: Any, receipt: Receipt, contract_call: bool) -> LedgerError:
    # Replay on the parent block to recover the revert data, which receipts do not carry.
    call = {k: tx[k] for k in ("from", "to", "data", "value") if k in tx}
    try:
        w3.eth.call(call, block_identifier=receipt.block_number - 1)  # type: ignore[arg-type]
    except ContractLogicError as exc:
        return _decoded(exc)
    kind = "call" if contract_call else "deployment"
    return TransactionFailed(f"{kind} {receipt.tx_hash} reverted (gas used {receipt.gas_used})")
