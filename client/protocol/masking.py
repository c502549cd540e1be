"""The double-masking steps of a round: receipts, unmask reveals and the receiver's sum.

After the UPLOAD phase a receiver opens the envelopes sent to it and publishes a receipt
naming the ones it accepts; each neighbour named in a request follows that receipt and
reveals, under its :class:`~client.crypto.RevealGuard`, what the sum of the accepted envelopes
needs (and nothing about a sender that was not accepted); the receiver then removes the masks.
:class:`DoubleMasking` holds these steps for one party; :class:`~client.protocol.party.Party`
calls them in its SETTLE phase. See docs/design/protocol.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from client.chain.ledger import Ledger
from client.chain.records import DownloadRequest
from client.crypto import CryptoError, MaskedShare, Receipt, RevealGuard
from client.protocol.disputes import Disputes
from client.protocol.exchange import MAX_RECEIPT_BYTES, Exchange, to_address
from client.protocol.mailbox import Mailbox
from client.protocol.state import PartyState
from storage import ContentId, ContentStore, StorageError

FloatVec = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Unmasked:
    """What the receiver's sum came to.

    Attributes
    ----------
    total : ndarray or None
        The sum of the accepted senders' vectors; None when there is none to apply.
    senders : tuple of str
        The senders whose envelopes the sum holds.
    dropped : list of str
        Requested uploaders whose envelope is not in the sum.
    note : str
        Why there is no sum ("" when there is one).
    """

    total: FloatVec | None
    senders: tuple[str, ...] = ()
    dropped: list[str] = field(default_factory=list)
    note: str = ""


class DoubleMasking:
    """One party's receipt, unmask and sum steps (as receiver and as neighbour).

    Parameters
    ----------
    me : str
        This party's address.
    ledger, store, exchange, mailbox, state, disputes
        The party's components (shared, not owned).
    kinds : dict
        The ledger's message kinds (``receipt`` and ``unmask`` are used).
    guard : RevealGuard
        What this party has revealed, persisted through ``persist_guard`` before a reveal
        leaves it.
    persist_guard : callable
        Stores the guard's bytes durably.
    save : callable
        Saves the party's state.
    deadline_passed : callable
        Whether an epoch's settle deadline has passed.
    """

    def __init__(
        self, *, me: str, ledger: Ledger, store: ContentStore, exchange: Exchange,
        mailbox: Mailbox, state: PartyState, disputes: Disputes, kinds: dict[str, int],
        guard: RevealGuard, persist_guard: Callable[[bytes], None],
        save: Callable[[], None], deadline_passed: Callable[[int], bool],
    ) -> None:
        self._me = me
        self.ledger = ledger
        self.store = store
        self.exchange = exchange
        self.mailbox = mailbox
        self.state = state
        self.disputes = disputes
        self._kind_receipt = kinds["receipt"]
        self._kind_unmask = kinds["unmask"]
        self.guard = guard
        self._persist = persist_guard
        self._save = save
        self._deadline_passed = deadline_passed
        # Per epoch: the receipt this party published (receiver) and the envelopes it opened.
        self._receipts: dict[int, Receipt] = {}
        self._opened: dict[int, dict[bytes, MaskedShare]] = {}
        # Per-process memory of steps the chain does not expose cheaply; each is idempotent.
        self._done: set[tuple[str, int] | tuple[str, int, str]] = set()
        self._served_by_epoch: dict[int, dict[tuple[str, str], bytes]] = {}

    def served(self, epoch: int) -> dict[tuple[str, str], bytes]:
        """Return (requester, uploader) -> envelope digest of every UPLOAD of ``epoch``.

        Read only in the SETTLE phase, when no upload of the round can be added any more, so
        one log query per epoch replaces a request lookup per (request, uploader) pair.
        """
        if epoch not in self._served_by_epoch:
            self._served_by_epoch[epoch] = {
                (requester, upload.uploader): digest
                for upload in self.ledger.uploads(epoch)
                for requester, digest in zip(upload.requesters, upload.digests, strict=True)
            }
        return self._served_by_epoch[epoch]

    def my_request(self, epoch: int) -> DownloadRequest | None:
        """Return this party's nonempty DOWNLOAD request of ``epoch``, if any."""
        requests = self.ledger.download_requests(epoch, self._me)
        return requests[0] if requests and requests[0].uploaders else None

    def unmasked(self, epoch: int) -> bool:
        """Return whether this party has followed every receipt it must follow in ``epoch``."""
        return ("unmask", epoch) in self._done

    def send_receipt(self, epoch: int) -> bool:
        """As receiver: open the envelopes and publish which ones this party accepts."""
        if ("receipt", epoch) in self._done:
            return False
        request = self.my_request(epoch)
        if request is None or self.mailbox.sent(epoch, self._kind_receipt):
            self._done.add(("receipt", epoch))
            return False
        served = self.served(epoch)
        opened, rejected = self.exchange.open_all(
            epoch, request, served, set(self.ledger.credible_parties())
        )
        receipt = self.exchange.receipt(epoch, request, served, rejected)
        for raw, reason in receipt.excluded.items():
            sender = to_address(raw, request.uploaders)
            digest = served.get((self._me, sender), b"")
            # Evidence for a claim: which envelope, committed where, and what was wrong.
            self.state.record("excluded_envelope", round=epoch, sender=sender,
                              digest=digest.hex(), error=reason.name)
        self._save()
        recipients, digests = self.mailbox.publish(epoch, [(self._me, receipt.to_bytes())])
        self.ledger.commit_messages(epoch, self._kind_receipt, recipients, digests)
        self._receipts[epoch], self._opened[epoch] = receipt, opened
        self._done.add(("receipt", epoch))
        # Exclusions that are the uploader's fault become claims before this round closes.
        self.disputes.file(epoch, {to_address(raw, request.uploaders): reason
                                   for raw, reason in receipt.excluded.items()})
        return True

    def published_receipt(self, epoch: int, request: DownloadRequest) -> Receipt | None:
        """Return the first receipt ``request``'s receiver committed (None if none yet)."""
        for commitment in self.ledger.message_commitments(epoch, self._kind_receipt,
                                                           request.requester):
            digest = commitment.digests[0] if commitment.digests else None
            if digest is None:
                continue
            blob = self.store.get(ContentId.from_commitment(digest), max_size=MAX_RECEIPT_BYTES)
            return self.exchange.read_receipt(epoch, request, blob)
        return None

    def send_unmasks(self, epoch: int) -> bool:
        """As a neighbour: follow every published receipt of a request naming this party."""
        if ("unmask", epoch) in self._done:
            return False
        served = self.served(epoch)
        notes: list[tuple[str, bytes]] = []
        waiting = False
        for request in self.ledger.download_requests(epoch):
            key = ("unmask", epoch, request.requester)
            if self._me not in request.uploaders or key in self._done:
                continue
            try:
                receipt = self.published_receipt(epoch, request)
                if receipt is None and not self._deadline_passed(epoch):
                    waiting = True
                    continue
                outcome = self.exchange.reveal(epoch, request, served, receipt, self.guard,
                                               self._persist)
            except (StorageError, CryptoError) as err:
                # A receipt that is missing from the store, malformed or against the rule is
                # the receiver's fault: this party reveals nothing for it.
                self.state.record("bad_receipt", round=epoch, receiver=request.requester,
                                  error=f"{type(err).__name__}: {err}")
                self._done.add(key)
                continue
            self._done.add(key)
            if outcome.unreadable:
                self.state.record("unreadable_shares", round=epoch,
                                  receiver=request.requester,
                                  senders=["0x" + s.hex() for s in outcome.unreadable])
            if outcome.message.items:
                notes.append((request.requester, outcome.message.to_bytes()))
        if notes:
            self.mailbox.send(epoch, self._kind_unmask, notes)
        if not waiting:
            self._done.add(("unmask", epoch))
        return bool(notes)

    def collect(self, epoch: int) -> Unmasked | None:
        """As receiver: the sum of the accepted envelopes, or None while reveals are due."""
        request = self.my_request(epoch)
        if request is None:
            return Unmasked(None, note="no request")
        receipt = self._receipts.get(epoch) or self.published_receipt(epoch, request)
        if receipt is None:
            return None  # this party publishes its receipt first (a step earlier)
        accepted = [to_address(raw, request.uploaders) for raw in receipt.accepted]
        dropped = [u for u in request.uploaders if u not in accepted]
        if not accepted:
            return Unmasked(None, dropped=dropped, note="no envelope accepted")
        expected = self.exchange.expected_holders(epoch, request, receipt)
        inbox = self.mailbox.inbox(epoch, self._kind_unmask)
        deadline = self._deadline_passed(epoch)
        # The accepted senders hold every pair seed the sum needs and, with t of k shares per
        # sender, usually enough shares; a sender that did not upload may never answer.
        if not (expected & set(accepted)) <= set(inbox) and not deadline:
            return None  # wait for the accepted senders' reveals (or the deadline)
        unmasks: dict[str, bytes] = {}
        for holder in expected & set(inbox):
            try:
                unmasks[holder] = self.mailbox.read(epoch, self._kind_unmask, holder,
                                                    inbox[holder])
            except (StorageError, CryptoError) as err:
                self.state.record("bad_unmask", round=epoch, sender=holder,
                                  error=type(err).__name__)
        opened = self._opened.get(epoch)
        if opened is None:  # restarted since the receipt: the envelopes are still retained
            opened, _ = self.exchange.open_all(epoch, request, self.served(epoch),
                                               set(self.ledger.credible_parties()))
        result = self.exchange.sum(epoch, request, receipt, opened, unmasks)
        if result.total is None and not deadline and not expected <= set(inbox):
            return None  # too few shares yet: the other holders may still reveal
        for fault in result.faults:
            self.state.record("bad_reveal", round=epoch, fault=fault)
        if result.total is None:
            self.state.record("aggregation_failed", round=epoch, error=result.error)
            return Unmasked(None, dropped=dropped, note=result.error.split(":")[0])
        return Unmasked(result.total, senders=tuple(accepted), dropped=dropped)

    def prune(self, before: int) -> None:
        """Forget the guard's rounds below ``before`` (their claim windows are over)."""
        self.guard.prune(before)
        self._persist(self.guard.to_bytes())
