"""The masked exchange of one round (Algorithm 2 steps 2-3) with SecAgg-style double masking.

Per request (one receiver, its named senders):

1. each sender seals one envelope: its vector under pairwise masks and a fresh self-mask whose
   seed is Shamir-shared to its mask neighbours inside the envelope's header;
2. after the upload phase the receiver opens the envelopes and publishes a **receipt**: which
   senders' envelopes it accepts (the rest are excluded with a reason);
3. every sender, as a neighbour, follows the receipt: for an accepted sender it reveals its
   share of that sender's self-mask, for an excluded one its pair seed with it, never both
   (:class:`client.crypto.RevealGuard` enforces and remembers it across restarts);
4. the receiver removes the masks and gets the sum of the accepted envelopes only.

So a failed or late upload, a crash between store and chain, a removal mid-round or a false
claim that an envelope is bad never exposes one sender's update, and one bad envelope no
longer costs the receiver the others (see ``docs/design/crypto.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from client.chain.records import DownloadRequest
from client.crypto import (
    AggregationError,
    CryptoError,
    Exclusion,
    MaskedShare,
    QuantParams,
    Receipt,
    RevealGuard,
    RevealOutcome,
    RoundContext,
    Sealed,
    UnmaskMessage,
    aggregate,
    decide_reveals,
    expected_unmaskers,
    make_receipt,
    open_envelope,
    seal,
)
from client.identity import PartyIdentity
from client.protocol.peers import PeerDirectory, address_bytes
from client.timing import PhaseTimer
from storage import ContentId, ContentStore, StorageError

FloatVec = npt.NDArray[np.float32]

#: (requester, uploader) -> digest of the envelope committed on-chain for that request.
Served = Mapping[tuple[str, str], bytes]
#: Room in an envelope beyond its ring values: headers, commitments and shares.
ENVELOPE_OVERHEAD = 65_536
#: Header bytes per sender of a request (its shares and commitments).
ENVELOPE_PER_SENDER = 512
#: The most bytes of a receipt (a fixed header and one entry per sender).
MAX_RECEIPT_BYTES = 64 + 64 * 1024


def to_address(raw: bytes, known: Sequence[str]) -> str:
    """Return the checksummed address among ``known`` whose raw bytes are ``raw``."""
    for address in known:
        if address_bytes(address) == raw:
            return address
    raise KeyError("0x" + raw.hex())


@dataclass(frozen=True)
class OpenedSum:
    """What a receiver got out of one round's envelopes.

    Attributes
    ----------
    total : ndarray or None
        The sum of the accepted senders' vectors (None when there is none).
    senders : list of str
        The accepted senders (those in the sum).
    error : str
        Why there is no sum, if there is none.
    faults : list of str
        Bad reveals the sum survived, each naming its culprit.
    """

    total: FloatVec | None
    senders: list[str] = field(default_factory=list)
    error: str = ""
    faults: list[str] = field(default_factory=list)


class Exchange:
    """One party's side of the masked exchange on one ledger."""

    def __init__(
        self,
        *,
        identity: PartyIdentity,
        peers: PeerDirectory,
        store: ContentStore,
        timer: PhaseTimer,
        quant: QuantParams,
        chain_id: int,
        contract: bytes,
        neighbours: int | None,
        min_accepted: int,
    ) -> None:
        self._identity = identity
        self._peers = peers
        self._store = store
        self._timer = timer
        self._quant = quant
        self.quant = quant
        self._chain_id = chain_id
        self._contract = contract
        self._neighbours = neighbours
        self.min_accepted = min_accepted
        self._me = identity.address
        self._me_bytes = address_bytes(self._me)

    # ------------------------------------------------------------------ shared

    def context(self, epoch: int, request: DownloadRequest) -> RoundContext:
        """Return the round context that binds every envelope of ``request``."""
        return RoundContext(
            self._chain_id, self._contract, epoch,
            receiver=address_bytes(request.requester),
            senders=tuple(address_bytes(u) for u in request.uploaders),
            neighbours=self._neighbours,
        )

    @staticmethod
    def uploads_to(request: DownloadRequest, served: Served) -> dict[bytes, bytes]:
        """Return sender -> on-chain digest of every upload answering ``request``."""
        return {
            address_bytes(u): served[(request.requester, u)]
            for u in request.uploaders if (request.requester, u) in served
        }

    def envelope_bound(self, request: DownloadRequest) -> int:
        """Return the most bytes an honest envelope of ``request`` can take."""
        ring = self._quant.length * self._quant.bits // 8
        return ring + ENVELOPE_OVERHEAD + ENVELOPE_PER_SENDER * len(request.uploaders)

    # ------------------------------------------------------------------ sender

    def seal(self, epoch: int, request: DownloadRequest, vector: FloatVec) -> Sealed:
        """Return this sender's envelope of ``vector`` for ``request``'s receiver."""
        with self._timer.measure("crypto"):
            return seal(
                vector, ctx=self.context(epoch, request), sender=self._me_bytes,
                sender_keys=self._identity.keys,
                receiver_public=self._peers.public(request.requester),
                peer_publics=self._peers.x25519_by_address(self._me), quant=self._quant,
            )

    def reveal(
        self,
        epoch: int,
        request: DownloadRequest,
        served: Served,
        receipt: Receipt | None,
        guard: RevealGuard,
        persist: Callable[[bytes], None],
    ) -> RevealOutcome:
        """Return this neighbour's unmask message for ``request`` under its receipt.

        Raises the crypto layer's ``InvalidReceiptError`` (the receiver's fault) or
        ``RevealConflictError`` (nothing is revealed in either case).
        """
        ctx = self.context(epoch, request)
        uploads = self.uploads_to(request, served)
        plan = decide_reveals(ctx, self._me_bytes, uploads=uploads, receipt=receipt,
                              min_accepted=self.min_accepted)
        envelopes: dict[bytes, bytes] = {}
        for sender, digest in plan.shares:
            try:
                envelopes[sender] = self._store.get(ContentId.from_commitment(digest),
                                                    max_size=self.envelope_bound(request))
            except StorageError:
                continue  # its share is reported unreadable to the receiver
        with self._timer.measure("crypto"):
            return guard.reveal(
                ctx, uploads=uploads, receipt=receipt, min_accepted=self.min_accepted,
                holder_keys=self._identity.keys,
                peer_publics=self._peers.x25519_by_address(self._me), envelopes=envelopes,
                persist=persist,
            )

    # ------------------------------------------------------------------ receiver

    def open_all(
        self, epoch: int, request: DownloadRequest, served: Served, credible: set[str],
    ) -> tuple[dict[bytes, MaskedShare], dict[bytes, Exclusion]]:
        """Open every served envelope of ``request``; return the opened and the rejected."""
        ctx = self.context(epoch, request)
        opened: dict[bytes, MaskedShare] = {}
        rejected: dict[bytes, Exclusion] = {}
        for raw, digest in self.uploads_to(request, served).items():
            sender = to_address(raw, request.uploaders)
            if sender not in credible:
                rejected[raw] = Exclusion.REMOVED
                continue
            try:
                blob = self._store.get(ContentId.from_commitment(digest),
                                       max_size=self.envelope_bound(request))
            except StorageError:
                rejected[raw] = Exclusion.MISSING
                continue
            try:
                with self._timer.measure("crypto"):
                    opened[raw] = open_envelope(blob, ctx=ctx, sender=raw,
                                                receiver_keys=self._identity.keys,
                                                quant=self._quant)
            except CryptoError:
                rejected[raw] = Exclusion.UNDECRYPTABLE
        return opened, rejected

    def receipt(
        self, epoch: int, request: DownloadRequest, served: Served,
        rejected: Mapping[bytes, Exclusion],
    ) -> Receipt:
        """Return the receipt of ``request``: the largest usable connected group accepted."""
        return make_receipt(self.context(epoch, request), uploads=self.uploads_to(request, served),
                            rejected=dict(rejected), min_accepted=self.min_accepted)

    def read_receipt(self, epoch: int, request: DownloadRequest, blob: bytes) -> Receipt:
        """Parse the receipt ``request``'s receiver published (raises CryptoError if bad)."""
        return Receipt.from_bytes(blob, ctx=self.context(epoch, request))

    def expected_holders(self, epoch: int, request: DownloadRequest, receipt: Receipt) -> set[str]:
        """Return the senders whose unmask messages this receiver's sum needs."""
        plans = expected_unmaskers(self.context(epoch, request), receipt)
        return {to_address(raw, request.uploaders) for raw in plans}

    def sum(
        self,
        epoch: int,
        request: DownloadRequest,
        receipt: Receipt,
        opened: Mapping[bytes, MaskedShare],
        unmasks: Mapping[str, bytes],
    ) -> OpenedSum:
        """Remove the masks of the accepted envelopes with the neighbours' reveals."""
        ctx = self.context(epoch, request)
        accepted = [to_address(raw, request.uploaders) for raw in receipt.accepted]
        if not accepted:
            return OpenedSum(None, error="no envelope accepted")
        messages: list[UnmaskMessage] = []
        faults: list[str] = []
        for holder, plain in unmasks.items():
            try:
                messages.append(UnmaskMessage.from_bytes(plain, ctx=ctx,
                                                         holder=address_bytes(holder)))
            except CryptoError as err:
                faults.append(f"{holder}: {type(err).__name__}")
        try:
            with self._timer.measure("crypto"):
                result = aggregate([opened[raw] for raw in receipt.accepted], ctx=ctx,
                                   receipt=receipt, unmasks=messages)
        except AggregationError as err:
            return OpenedSum(None, accepted, f"aggregation failed: {type(err).__name__}",
                             [*faults, str(err)])
        faults += [f"{d['kind']} by {d['culprit']}: {d['message']}"
                   for d in (fault.describe() for fault in result.faults)]
        return OpenedSum(result.values().astype(np.float32), accepted, "", faults)
