"""Typed bindings of the ConsortiumLedger contract over web3.py and eth-account.

Transactions are signed locally by the ``LocalAccount`` handed in (keys never leave the
process; node accounts are never unlocked), with per-account nonce tracking that is safe for
several ``Ledger`` objects (of the same or different accounts) in one process, gas estimation,
EIP-1559 fees read from the node, and awaited receipts: a transaction stuck in the pool is
replaced with higher fees, a dropped one is sent again, and a receipt counts once
:attr:`TxPolicy.confirmations` blocks are on top of it (see :class:`TxPolicy`). Custom-error
reverts become the named exceptions of :mod:`client.chain.errors`. Reads return frozen
records of :mod:`client.chain.records`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
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
    TransactionNotFound,
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
#: Seconds a transaction may take to be included, fee bumps and re-sends included.
RECEIPT_TIMEOUT_S = 300.0
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


class TxPolicyError(LedgerError, ValueError):
    """A transaction policy setting is out of range."""


#: Most confirmations a party may ask for (deeper finality is the network's, not ours).
MAX_CONFIRMATIONS = 64
#: Blocks of ``eth_feeHistory`` the priority fee is the median of.
FEE_HISTORY_BLOCKS = 10
#: Percentile of the included transactions' tips read from each of those blocks.
FEE_PERCENTILE = 50
#: A replacement offers at least old * 9/8 + 1 in both fee fields (geth, Anvil and Hardhat
#: accept a replacement from +10%).
FEE_BUMP_NUM = 9
FEE_BUMP_DEN = 8
# Fragments of the send errors of geth, Besu, Anvil and Hardhat that are not failures of the
# transaction itself, lower-cased.
_ALREADY_KNOWN = ("already known", "known transaction", "already imported", "already in")
_NONCE_USED = ("nonce too low", "nonce has already been used", "nonce is too low",
               "old nonce")
_UNDERPRICED = ("underpriced", "fee too low", "max fee per gas less than block base fee",
                "gas price too low")


@dataclass(frozen=True)
class TxPolicy:
    """How a ledger handle sends transactions: confirmations, fee bumps, timeouts.

    Attributes
    ----------
    confirmations : int
        Blocks that must be on top of a transaction's block before it counts as final
        (0: final once included; devnets).
    inclusion_timeout_s : float
        Seconds a transaction may take to be included, bumps and re-sends included.
    replace_after_s : float
        Seconds a transaction may stay pending before it is replaced by the same one with
        higher fees (fees read from the node again, and at least 9/8 of the last ones).
    max_replacements : int
        Most fee bumps of one transaction.
    max_resends : int
        Most times a call is built again on a fresh nonce when its nonce was taken by a
        transaction that is not one of its versions.
    max_fee_wei : int or None
        Cap on ``maxFeePerGas`` (None: no cap).
    block_timeout_s : float
        While waiting for confirmations: most seconds without a new block.
    poll_s : float
        Pause between receipt polls.
    """

    confirmations: int = 0
    inclusion_timeout_s: float = RECEIPT_TIMEOUT_S
    replace_after_s: float = 30.0
    max_replacements: int = 5
    max_resends: int = 2
    max_fee_wei: int | None = None
    block_timeout_s: float = 120.0
    poll_s: float = 0.1

    def __post_init__(self) -> None:
        if not 0 <= self.confirmations <= MAX_CONFIRMATIONS:
            raise TxPolicyError(
                f"confirmations must be between 0 and {MAX_CONFIRMATIONS}, got "
                f"{self.confirmations}"
            )
        for name in ("inclusion_timeout_s", "replace_after_s", "block_timeout_s", "poll_s"):
            if not getattr(self, name) > 0:
                raise TxPolicyError(f"{name} must be positive, got {getattr(self, name)}")
        if self.max_replacements < 0 or self.max_resends < 0:
            raise TxPolicyError("max_replacements and max_resends must be >= 0")
        if self.max_fee_wei is not None and self.max_fee_wei <= 0:
            raise TxPolicyError(f"max_fee_wei must be positive, got {self.max_fee_wei}")


DEFAULT_POLICY = TxPolicy()


class _NonceBook:
    """One lock per (chain id, address), shared by every Ledger of the process.

    The next nonce is the larger of the node's pending transaction count and one past the
    nonces this process has in flight: the node counts a transaction as pending as soon as
    ``eth_sendRawTransaction`` returns, except one it cannot include yet (Hardhat leaves a
    transaction whose fee cap is under the base fee out of the count), and a devnet reverted
    to a snapshot never leaves a stale local counter that would park transactions behind a
    nonce gap. A nonce is in flight from its choice until its transaction is final or given up.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._locks: dict[tuple[int, str], threading.Lock] = {}
        self._flying: dict[tuple[int, str], set[int]] = {}

    def lock(self, key: tuple[int, str]) -> threading.Lock:
        """Return the lock of ``key`` (held while a nonce is chosen)."""
        with self._lock:
            return self._locks.setdefault(key, threading.Lock())

    def next_nonce(self, w3: Web3, key: tuple[int, str]) -> int:
        """Return the nonce to use next for ``key`` (call with its lock held)."""
        pending = int(w3.eth.get_transaction_count(Web3.to_checksum_address(key[1]), "pending"))
        flying = self._flying.get(key, set())
        return max(pending, *(n + 1 for n in flying)) if flying else pending

    def hold(self, key: tuple[int, str], nonce: int) -> None:
        """Mark ``nonce`` of ``key`` in flight (call with its lock held)."""
        self._flying.setdefault(key, set()).add(nonce)

    def release(self, key: tuple[int, str], nonce: int) -> None:
        """Mark ``nonce`` of ``key`` no longer in flight."""
        with self.lock(key):
            self._flying.get(key, set()).discard(nonce)


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
    policy
        How transactions are sent (confirmations, fee bumps, timeouts; :class:`TxPolicy`).
    """

    def __init__(
        self,
        w3: Web3,
        address: str,
        account: LocalAccount | None = None,
        *,
        abi: Sequence[Any] | None = None,
        policy: TxPolicy = DEFAULT_POLICY,
    ) -> None:
        self.w3 = w3
        self.policy = policy
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
        cls, w3: Web3, account: LocalAccount, params: LedgerParams, *,
        policy: TxPolicy = DEFAULT_POLICY,
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
        policy
            How the deployment (and the returned handle's transactions) are sent.
        """
        artifact = load_artifact(LEDGER_CONTRACT)
        factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        constructor = factory.constructor(*params.constructor_args())
        with transport(w3):
            receipt = _send(w3, account, constructor, contract_call=False,
                            chain_id=int(w3.eth.chain_id), policy=policy)
            raw = w3.eth.get_transaction_receipt(receipt.tx_hash)  # type: ignore[arg-type]
        address = raw["contractAddress"]
        if address is None:
            raise TransactionFailed(f"deployment {receipt.tx_hash} created no contract")
        return cls(w3, address, account, abi=artifact.abi, policy=policy), receipt

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
        return Ledger(self.w3, self.address, account, abi=self.contract.abi,
                      policy=self.policy)

    def with_policy(self, policy: TxPolicy) -> Ledger:
        """Return a handle on the same ledger and account sending under ``policy``."""
        return Ledger(self.w3, self.address, self.account, abi=self.contract.abi,
                      policy=policy)

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
                         chain_id=self._chain_id, value=value, policy=self.policy)


def _decoded(exc: ContractLogicError) -> LedgerError:
    data = exc.data
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
        return decode_revert(data)
    return TransactionFailed(str(exc.message or exc))


def suggest_fees(w3: Web3, policy: TxPolicy = DEFAULT_POLICY) -> dict[str, int]:
    """Return the fee fields of a transaction sent now, read from the node.

    EIP-1559: the tip is the median of the last blocks' median tips (``eth_feeHistory``), or
    the node's ``eth_maxPriorityFeePerGas`` when those blocks carried none, and the fee cap is
    twice the next block's base fee plus the tip (room for six full blocks of base-fee rises);
    both capped by ``policy.max_fee_wei``. A chain without a base fee gets a legacy
    ``gasPrice``.
    """
    base_fees: list[int] = []
    rewards: list[int] = []
    for newest in ("pending", "latest"):  # some nodes answer fee history only up to latest
        try:
            history = w3.eth.fee_history(FEE_HISTORY_BLOCKS, newest, [FEE_PERCENTILE])
            base_fees = [int(b) for b in history.get("baseFeePerGas") or []]
            rewards = sorted(int(r[0]) for r in history.get("reward") or [] if r)
            break
        except (Web3RPCError, ValueError, TypeError, IndexError):  # no EIP-1559 here
            base_fees, rewards = [], []
    cap = policy.max_fee_wei
    if not base_fees:
        price = int(w3.eth.gas_price)
        return {"gasPrice": price if cap is None else min(price, cap)}
    tip = rewards[len(rewards) // 2] if rewards else 0
    if tip == 0:
        try:
            tip = int(w3.eth.max_priority_fee)
        except (Web3RPCError, ValueError, TypeError):
            tip = 0
    max_fee = 2 * base_fees[-1] + tip
    if cap is not None:
        max_fee = min(max_fee, cap)
    return {"maxFeePerGas": max_fee, "maxPriorityFeePerGas": min(tip, max_fee)}


def _bumped(old: int, fresh: int, cap: int | None) -> int:
    value = max(fresh, old * FEE_BUMP_NUM // FEE_BUMP_DEN + 1)
    return value if cap is None else min(value, cap)


def _rpc_message(exc: Web3RPCError) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return " ".join(str(message).split())


class _Flight:
    """One nonce's transaction until it is final: every version sent, fee bumps, re-sends."""

    def __init__(
        self, w3: Web3, account: LocalAccount, tx: dict[str, Any], policy: TxPolicy
    ) -> None:
        self.w3 = w3
        self.account = account
        self.tx = dict(tx)
        self.policy = policy
        self.nonce = int(tx["nonce"])
        self.hashes: list[bytes] = []
        self.replacements = 0

    def included(self) -> Any:
        """Return the receipt of whichever version is final; None: another tx took the nonce.

        Raises :class:`TransactionFailed` when no version is included in time, or the chain
        stops making blocks while confirmations are awaited.
        """
        started = time.monotonic()
        self._broadcast()
        sent_at = time.monotonic()
        taken_polls = 0
        while True:
            raw = self._receipt()
            if raw is not None:
                final = self._confirmed(raw)
                if final is not None:
                    return final
                continue  # a reorganisation took it out again: wait for inclusion anew
            if self._nonce_taken():
                # A node may count the nonce as used a moment before it serves the receipt:
                # the nonce went to another transaction only when no version of ours is in a
                # block, and still so one poll later.
                if self._ours_in_a_block():
                    time.sleep(self.policy.poll_s)
                    continue
                taken_polls += 1
                if taken_polls >= 2:
                    return None
                time.sleep(self.policy.poll_s)
                continue
            taken_polls = 0
            now = time.monotonic()
            if now - started > self.policy.inclusion_timeout_s:
                raise TransactionFailed(
                    f"transaction {self._shown()} (nonce {self.nonce}) was not included within "
                    f"{self.policy.inclusion_timeout_s:.0f}s after {self.replacements} fee "
                    f"bumps; fees offered {self._fees_text()}"
                )
            if (now - sent_at >= self.policy.replace_after_s
                    and self.replacements < self.policy.max_replacements):
                self._bump()
                self._broadcast()
                sent_at = now
            elif self._dropped():
                self._broadcast()  # the node forgot it: the same signed bytes again
            time.sleep(self.policy.poll_s)

    def _shown(self) -> str:
        return "0x" + self.hashes[-1].hex() if self.hashes else "(never accepted)"

    def _fees_text(self) -> str:
        if "gasPrice" in self.tx:
            return f"gasPrice {self.tx['gasPrice']} wei"
        return (f"maxFeePerGas {self.tx['maxFeePerGas']} wei, maxPriorityFeePerGas "
                f"{self.tx['maxPriorityFeePerGas']} wei")

    def _broadcast(self) -> None:
        signed = self.account.sign_transaction(self.tx)
        tx_hash = bytes(signed.hash)
        try:
            self.w3.eth.send_raw_transaction(signed.raw_transaction)
        except Web3RPCError as exc:
            message = _rpc_message(exc)
            lowered = message.lower()
            if any(f in lowered for f in _ALREADY_KNOWN):
                pass  # the node has exactly these bytes: wait on them
            elif any(f in lowered for f in _NONCE_USED):
                return  # the loop sees whose transaction took the nonce
            elif any(f in lowered for f in _UNDERPRICED):
                return  # any previous version stays; the next bump offers more
            else:
                raise TransactionFailed(f"node rejected the transaction: {message}") from exc
        if tx_hash not in self.hashes:
            self.hashes.append(tx_hash)

    def _bump(self) -> None:
        fresh = suggest_fees(self.w3, replace(self.policy, max_fee_wei=None))
        cap = self.policy.max_fee_wei
        if "gasPrice" in self.tx:
            self.tx["gasPrice"] = _bumped(int(self.tx["gasPrice"]),
                                          fresh.get("gasPrice", 0), cap)
        else:
            max_fee = _bumped(int(self.tx["maxFeePerGas"]), fresh.get("maxFeePerGas", 0), cap)
            tip = _bumped(int(self.tx["maxPriorityFeePerGas"]),
                          fresh.get("maxPriorityFeePerGas", 0), cap)
            self.tx["maxFeePerGas"], self.tx["maxPriorityFeePerGas"] = max_fee, min(tip, max_fee)
        self.replacements += 1

    def _receipt(self) -> Any:
        for tx_hash in reversed(self.hashes):
            try:
                raw = self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
            except TransactionNotFound:
                continue
            if raw is not None and raw.get("blockNumber") is not None:
                return raw
        return None

    def _nonce_taken(self) -> bool:
        sender = Web3.to_checksum_address(self.account.address)
        return int(self.w3.eth.get_transaction_count(sender, "latest")) > self.nonce

    def _ours_in_a_block(self) -> bool:
        for tx_hash in self.hashes:
            try:
                found = self.w3.eth.get_transaction(HexBytes(tx_hash))
            except TransactionNotFound:
                continue
            if found.get("blockNumber") is not None:
                return True
        return False

    def _dropped(self) -> bool:
        if not self.hashes:
            return True
        try:
            self.w3.eth.get_transaction(HexBytes(self.hashes[-1]))
        except TransactionNotFound:
            return True
        return False

    def _confirmed(self, raw: Any) -> Any:
        """Return the receipt again once confirmed; None if it left the chain meanwhile."""
        needed = self.policy.confirmations
        if needed == 0:
            return raw
        target = int(raw["blockNumber"]) + needed
        last, last_at = int(self.w3.eth.block_number), time.monotonic()
        while last < target:
            time.sleep(self.policy.poll_s)
            now_block = int(self.w3.eth.block_number)
            if now_block > last:
                last, last_at = now_block, time.monotonic()
            elif time.monotonic() - last_at > self.policy.block_timeout_s:
                raise TransactionFailed(
                    f"transaction 0x{bytes(raw['transactionHash']).hex()} is in block "
                    f"{raw['blockNumber']}, but no new block came for "
                    f"{self.policy.block_timeout_s:.0f}s ({needed} confirmations awaited)"
                )
        try:
            again = self.w3.eth.get_transaction_receipt(raw["transactionHash"])
        except TransactionNotFound:
            return None
        if again is None or again.get("blockHash") != raw.get("blockHash"):
            return None
        return again


def _send(
    w3: Web3,
    account: LocalAccount,
    fn: Any,
    *,
    contract_call: bool,
    chain_id: int,
    value: int = 0,
    policy: TxPolicy = DEFAULT_POLICY,
) -> Receipt:
    """Estimate, sign locally, send with a tracked nonce, see it included and confirmed.

    A transaction still pending after ``policy.replace_after_s`` is signed again with the same
    nonce and higher fees (read from the node again) and replaces the first; one the node
    dropped is sent again. Whichever of the versions is included counts. When the nonce was
    used by another transaction of the account (none of ours), the call is built again on a
    fresh nonce, at most ``policy.max_resends`` times. The receipt is returned once
    ``policy.confirmations`` blocks are on top of its block, and a receipt that a
    reorganisation removed is waited for again.
    """
    sender = account.address
    key = (chain_id, sender)
    for _attempt in range(policy.max_resends + 1):
        try:
            gas = int(fn.estimate_gas({"from": sender, "value": value},
                                      block_identifier="pending"))
        except ContractLogicError as exc:
            raise _decoded(exc) from exc
        gas = gas * GAS_HEADROOM_NUM // GAS_HEADROOM_DEN + GAS_HEADROOM_FIXED
        with NONCES.lock(key):
            nonce = NONCES.next_nonce(w3, key)
            NONCES.hold(key, nonce)
        try:
            tx = fn.build_transaction(
                {"from": sender, "nonce": nonce, "gas": gas, "chainId": chain_id,
                 "value": value, **suggest_fees(w3, policy)}
            )
            flight = _Flight(w3, account, tx, policy)
            raw = flight.included()
        finally:
            NONCES.release(key, nonce)
        if raw is None:  # the nonce went to a transaction that is not ours: build it again
            continue
        receipt = Receipt("0x" + bytes(raw["transactionHash"]).hex(), int(raw["blockNumber"]),
                          int(raw["gasUsed"]))
        if raw["status"] != 1:
            raise _replayed_failure(w3, flight.tx, receipt, contract_call)
        return receipt
    raise TransactionFailed(
        f"the nonces of {sender} were taken by other transactions {policy.max_resends + 1} "
        "times in a row; is another program sending with this key?"
    )


def _replayed_failure(w3: Web3, tx: Any, receipt: Receipt, contract_call: bool) -> LedgerError:
    # Replay on the parent block to recover the revert data, which receipts do not carry.
    call = {k: tx[k] for k in ("from", "to", "data", "value") if k in tx}
    try:
        w3.eth.call(call, block_identifier=receipt.block_number - 1)  # type: ignore[arg-type]
    except ContractLogicError as exc:
        return _decoded(exc)
    kind = "call" if contract_call else "deployment"
    return TransactionFailed(f"{kind} {receipt.tx_hash} reverted (gas used {receipt.gas_used})")
