"""Private messages between parties: sealed notes in the store, committed on-chain by kind.

Labels for a sample owner, recovery seeds for a receiver and later protocol messages all take
the same path: seal to the recipient (HPKE, bound to chain, contract, epoch, kind, sender and
recipient), put in the content store (retained for the epoch), commit the digests in one
transaction. The recipient finds its notes from the commitment events and opens them.
"""

from __future__ import annotations

from collections.abc import Sequence

from client.chain.ledger import Ledger
from client.crypto.notes import NoteContext, open_note, seal_note
from client.identity import PartyIdentity
from client.protocol.peers import PeerDirectory, address_bytes
from client.timing import PhaseTimer
from storage import ContentId, ContentStore, Retention


class Mailbox:
    """One party's outgoing and incoming notes on one ledger."""

    def __init__(
        self,
        *,
        identity: PartyIdentity,
        ledger: Ledger,
        store: ContentStore,
        peers: PeerDirectory,
        retention: Retention,
        timer: PhaseTimer,
    ) -> None:
        self._identity = identity
        self._ledger = ledger
        self._store = store
        self._peers = peers
        self._retention = retention
        self._timer = timer
        self._me = identity.address
        self._chain_id = int(ledger.w3.eth.chain_id)
        self._contract = address_bytes(ledger.address)

    def publish(
        self, epoch: int, blobs: Sequence[tuple[str, bytes]]
    ) -> tuple[list[str], list[bytes]]:
        """Put each ``(recipient, blob)`` in the store, retained for ``epoch``; return digests."""
        recipients: list[str] = []
        digests: list[bytes] = []
        for recipient, blob in blobs:
            cid = self._store.put(blob)
            self._retention.track(cid, epoch)
            recipients.append(recipient)
            digests.append(cid.commitment)
        return recipients, digests

    def context(self, epoch: int, kind: int, sender: str, recipient: str) -> NoteContext:
        """Return the binding of a note of ``kind`` from ``sender`` to ``recipient``."""
        return NoteContext(
            self._chain_id, self._contract, epoch, kind, address_bytes(sender),
            address_bytes(recipient),
        )

    def sent(self, epoch: int, kind: int) -> bool:
        """Return whether this party already committed notes of ``kind`` for ``epoch``."""
        return bool(self._ledger.message_commitments(epoch, kind, self._me))

    def send(self, epoch: int, kind: int, notes: Sequence[tuple[str, bytes]]) -> None:
        """Seal each ``(recipient, plaintext)``, store them and commit the batch on-chain."""
        sealed = []
        for recipient, plaintext in notes:
            with self._timer.measure("crypto"):
                sealed.append((recipient, seal_note(
                    plaintext, ctx=self.context(epoch, kind, self._me, recipient),
                    recipient=self._peers.public(recipient),
                )))
        recipients, digests = self.publish(epoch, sealed)
        self._ledger.commit_messages(epoch, kind, recipients, digests)

    def inbox(self, epoch: int, kind: int) -> dict[str, bytes]:
        """Return sender -> digest of every note of ``kind`` committed to this party."""
        found: dict[str, bytes] = {}
        for commitment in self._ledger.message_commitments(epoch, kind):
            for recipient, digest in zip(commitment.recipients, commitment.digests, strict=True):
                if recipient == self._me:
                    found[commitment.sender] = digest
        return found

    def read(self, epoch: int, kind: int, sender: str, digest: bytes) -> bytes:
        """Fetch and open the note ``digest`` from ``sender`` (raises on any bad byte)."""
        blob = self._store.get(ContentId.from_commitment(digest))
        with self._timer.measure("crypto"):
            return open_note(
                blob, ctx=self.context(epoch, kind, sender, self._me),
                keys=self._identity.keys,
            )
