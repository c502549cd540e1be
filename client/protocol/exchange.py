"""The masked exchange of one round (Algorithm 2 steps 2-3): seal, disclose, open the sum.

As a sender a party seals one envelope per request that names it (the rule's vector, masked
so that only the sum of a request's envelopes is readable); as a survivor it discloses the
recovery seeds its receivers need for senders that dropped; as a receiver it opens its
envelopes and removes the masks. The receiver never sees an individual update.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from client.chain.records import DownloadRequest
from client.crypto import (
    CryptoError,
    MaskedShare,
    QuantParams,
    Recovery,
    RoundContext,
    aggregate,
    open_envelope,
    recovery_stream,
    seal,
)
from client.identity import PartyIdentity
from client.protocol.peers import PeerDirectory, address_bytes
from client.timing import PhaseTimer
from storage import ContentId, ContentStore, StorageError

FloatVec = npt.NDArray[np.float32]

#: (requester, uploader) -> digest of the envelope committed on-chain for that request.
Served = Mapping[tuple[str, str], bytes]


@dataclass(frozen=True)
class OpenedSum:
    """What a receiver got out of one round's envelopes.

    Attributes
    ----------
    total : ndarray or None
        The decrypted sum of the senders' vectors (None when it is unusable).
    senders : int
        Senders whose envelopes are in the sum.
    excluded : list of dict
        Envelopes that could not be fetched or opened: sender, digest, error.
    error : str
        Why there is no sum, if there is none.
    """

    total: FloatVec | None
    senders: int = 0
    excluded: list[dict[str, str]] = field(default_factory=list)
    error: str = ""


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
    ) -> None:
        self._identity = identity
        self._peers = peers
        self._store = store
        self._timer = timer
        self._quant = quant
        self._chain_id = chain_id
        self._contract = contract
        self._neighbours = neighbours
        self._me = identity.address
        self._me_bytes = address_bytes(self._me)

    def context(self, epoch: int, request: DownloadRequest) -> RoundContext:
        """Return the round context that binds every envelope of ``request``."""
        return RoundContext(
            self._chain_id, self._contract, epoch,
            receiver=address_bytes(request.requester),
            senders=tuple(address_bytes(u) for u in request.uploaders),
            neighbours=self._neighbours,
        )

    def seal(self, epoch: int, request: DownloadRequest, vector: FloatVec) -> bytes:
        """Return this sender's envelope of ``vector`` for ``request``'s receiver."""
        with self._timer.measure("crypto"):
            return seal(
                vector, ctx=self.context(epoch, request), sender=self._me_bytes,
                sender_keys=self._identity.keys,
                receiver_public=self._peers.public(request.requester),
                peer_publics=self._peers.x25519_by_address(self._me), quant=self._quant,
            ).blob

    def recoveries(
        self, epoch: int, request: DownloadRequest, served: Served
    ) -> tuple[Recovery, ...]:
        """Return the recovery seeds this survivor owes ``request``'s receiver (maybe none)."""
        if (request.requester, self._me) not in served:
            return ()
        ctx = self.context(epoch, request)
        neighbours = set(ctx.neighbours_of(self._me_bytes))
        dropped = [
            u for u in request.uploaders
            if u != self._me and address_bytes(u) in neighbours
            and (request.requester, u) not in served
        ]
        peers = self._peers.x25519_by_address(self._me)
        with self._timer.measure("crypto"):
            return tuple(
                recovery_stream(ctx, survivor=self._me_bytes, survivor_keys=self._identity.keys,
                                dropped=address_bytes(u), peer_publics=peers)
                for u in dropped
            )

    def recoverers(self, epoch: int, request: DownloadRequest, served: Served) -> set[str]:
        """Return the senders that owe this receiver recovery seeds for dropped neighbours."""
        ctx = self.context(epoch, request)
        present = [u for u in request.uploaders if (self._me, u) in served]
        dropped = [address_bytes(u) for u in request.uploaders if u not in present]
        return {
            u for u in present
            if any(d in ctx.neighbours_of(address_bytes(u)) for d in dropped)
        }

    def open_sum(
        self, epoch: int, request: DownloadRequest, served: Served,
        recoveries: list[Recovery],
    ) -> OpenedSum:
        """Open every served envelope of ``request`` and remove the masks."""
        ctx = self.context(epoch, request)
        present = [u for u in request.uploaders if (self._me, u) in served]
        shares: list[MaskedShare] = []
        excluded: list[dict[str, str]] = []
        for sender in present:
            digest = served[(self._me, sender)]
            try:
                blob = self._store.get(ContentId.from_commitment(digest))
                with self._timer.measure("crypto"):
                    shares.append(open_envelope(
                        blob, ctx=ctx, sender=address_bytes(sender),
                        receiver_keys=self._identity.keys, quant=self._quant,
                    ))
            except (StorageError, CryptoError) as err:
                excluded.append(
                    {"sender": sender, "digest": digest.hex(), "error": type(err).__name__}
                )
        if excluded:
            # One sender's mask cannot be cancelled without its share, so the whole received
            # sum of this round is unusable; the evidence is kept for a dispute.
            return OpenedSum(None, excluded=excluded, error="envelope excluded")
        try:
            with self._timer.measure("crypto"):
                total = aggregate(shares, ctx=ctx, recoveries=recoveries)
        except CryptoError as err:
            return OpenedSum(None, error=f"aggregation failed: {type(err).__name__}")
        return OpenedSum(total.astype(np.float32), len(present))
