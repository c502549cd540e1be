"""Claims against delivered envelopes (paper section 3.2), with point deposits.

A receiver whose receipt excluded an envelope for the uploader's fault (missing from the
store or not matching its digest, not opening, malformed) files a claim on-chain before its
round closes, with the ledger's deposit. Then, whatever round is running:

* the uploader answers: a *missing* envelope is put in the store again (the uploader keeps
  its own copy for that); for an envelope that does not open it publishes the envelope's
  dispute opening (the keys of layers 3-2, never the self-mask, so layer 1 stays masked) and
  commits the opening's digest on-chain in place of the layer-2 key;
* every other credible party checks the answer from public data alone (the content is
  retrievable and matches its digest; the opening verifies with
  :func:`client.crypto.verify_dispute` without the receiver's key) and votes;
* anyone resolves a claim once its deadline passed: the ledger upholds an unanswered claim,
  decides an answered one by the votes, refunds, fines and counts an upheld claim as a report.

Every value read here comes from a peer or the chain: a failure to fetch or parse is a vote
against the side that should have provided it, never an error of this party.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from client.chain.errors import LedgerError
from client.chain.ledger import Ledger
from client.chain.records import ClaimInfo, ClaimKind, ClaimState, DownloadRequest
from client.crypto import CryptoError, DisputeOpening, Exclusion, verify_dispute
from client.protocol.exchange import Exchange
from client.protocol.peers import PeerDirectory, address_bytes
from client.protocol.state import PartyState
from storage import ContentId, ContentStore, StorageError

log = logging.getLogger(__name__)

#: The receipt exclusions that are the uploader's fault, and the claim each one files.
CLAIMABLE = {
    Exclusion.MISSING: ClaimKind.MISSING,
    Exclusion.UNDECRYPTABLE: ClaimKind.UNDECRYPTABLE,
    Exclusion.MALFORMED: ClaimKind.MALFORMED,
}
#: The most bytes of a dispute opening (fixed header and an HPKE ephemeral secret).
MAX_OPENING_BYTES = 1024


class Disputes:
    """One party's claims: as receiver, as uploader and as a voter of the credible set."""

    def __init__(
        self,
        *,
        me: str,
        ledger: Ledger,
        store: ContentStore,
        peers: PeerDirectory,
        exchange: Exchange,
        state: PartyState,
        state_dir: Path,
        save: Callable[[], None],
    ) -> None:
        self._me = me
        self._ledger = ledger
        self._store = store
        self._peers = peers
        self._exchange = exchange
        self._state = state
        self._state_dir = state_dir
        self._save = save
        #: Claims this party has nothing more to do about.
        self._settled: set[int] = set()
        self._seen = 0

    # ------------------------------------------------------------------ as receiver

    def file(self, epoch: int, excluded: dict[str, Exclusion]) -> int:
        """Claim against every excluded delivery that is its uploader's fault; return how many."""
        filed = 0
        for uploader, reason in excluded.items():
            kind = CLAIMABLE.get(reason)
            if kind is None or self._ledger.claim_of(epoch, self._me, uploader):
                continue
            try:
                claim_id = self._ledger.file_claim(epoch, uploader, kind)
            except LedgerError as err:
                # Too few points for the deposit, or the window closed: the evidence stays.
                self._state.record("claim_not_filed", round=epoch, uploader=uploader,
                                   claim_kind=kind.name, error=str(err))
                continue
            self._state.record("claim_filed", round=epoch, uploader=uploader, claim_kind=kind.name,
                               claim=claim_id)
            filed += 1
        if filed:
            self._save()
        return filed

    # ------------------------------------------------------------------ every step

    def step(self) -> bool:
        """Answer, vote on and resolve whatever claims are due; return whether anything was."""
        count = self._ledger.claim_count()
        if count == self._seen and not self._open():
            return False
        self._seen = count
        acted = False
        block = self._ledger.block_number()
        credible = set(self._ledger.credible_parties())
        for claim_id in range(1, count + 1):
            if claim_id in self._settled:
                continue
            claim = self._ledger.claim(claim_id)
            if claim.state in (ClaimState.UPHELD, ClaimState.REJECTED):
                self._settled.add(claim_id)
                continue
            if claim.uploader == self._me and claim.state is ClaimState.FILED:
                acted |= self._answer(claim)
            elif (claim.state is ClaimState.ANSWERED and self._me in credible
                  and self._me not in (claim.uploader, claim.requester)
                  and self._ledger.claim_vote(claim_id, self._me) is None):
                acted |= self._vote(claim)
            due = (claim.state is ClaimState.FILED and block >= claim.response_deadline) or (
                claim.state is ClaimState.ANSWERED and block >= claim.vote_deadline)
            if due:
                acted |= self._resolve(claim)
        return acted

    def _open(self) -> bool:
        return any(i not in self._settled for i in range(1, self._seen + 1))

    def pending(self) -> bool:
        """Return whether any claim on the ledger is still open (read from the chain)."""
        return any(self._ledger.claim(i).open for i in range(1, self._ledger.claim_count() + 1)
                   if i not in self._settled)

    # ------------------------------------------------------------------ as uploader

    def _answer(self, claim: ClaimInfo) -> bool:
        try:
            if claim.kind is ClaimKind.MISSING:
                blob = PartyState.load_kept(self._state_dir, claim.round, claim.requester,
                                            "envelope")
                if blob is None:
                    return self._record_unanswerable(claim, "no copy of the envelope kept")
                self._store.put(blob)
                self._ledger.declare_republished(claim.claim_id)
            else:
                opening = PartyState.load_kept(self._state_dir, claim.round, claim.requester,
                                               "opening")
                if opening is None:
                    return self._record_unanswerable(claim, "no dispute opening kept")
                # The ledger takes 32 bytes: the storage digest of the whole opening, which
                # holds the layer-2 key and what checks layer 3.
                self._ledger.reveal_key(claim.claim_id, self._store.put(opening).commitment)
        except (LedgerError, StorageError) as err:
            log.debug("answer to claim %d by %s failed: %s", claim.claim_id, self._me, err)
            return False
        self._state.record("claim_answered", claim=claim.claim_id, claim_kind=claim.kind.name,
                           round=claim.round, requester=claim.requester)
        self._save()
        return True

    def _record_unanswerable(self, claim: ClaimInfo, why: str) -> bool:
        if claim.claim_id not in self._settled:
            self._state.record("claim_unanswerable", claim=claim.claim_id, reason=why)
            self._settled.add(claim.claim_id)
            self._save()
        return False

    # ------------------------------------------------------------------ as voter

    def _request(self, claim: ClaimInfo) -> DownloadRequest | None:
        requests = self._ledger.download_requests(claim.round, claim.requester)
        return requests[0] if requests else None

    def _vote(self, claim: ClaimInfo) -> bool:
        upheld = self._check(claim)
        try:
            self._ledger.vote_on_claim(claim.claim_id, upheld)
        except LedgerError as err:
            log.debug("vote on claim %d by %s: %s", claim.claim_id, self._me, err)
            return False
        self._state.record("claim_voted", claim=claim.claim_id, upheld=upheld)
        self._save()
        return True

    def _check(self, claim: ClaimInfo) -> bool:
        """Return whether the claim holds, judged from public data only."""
        request = self._request(claim)
        if request is None or claim.uploader not in request.uploaders:
            return True  # nothing checkable was delivered
        bound = self._exchange.envelope_bound(request)
        try:
            blob = self._store.get(ContentId.from_commitment(claim.digest), max_size=bound)
        except StorageError:
            return True  # still not retrievable: the delivery is missing
        if claim.kind is ClaimKind.MISSING:
            return False  # retrievable and matching its digest again
        try:
            raw = self._store.get(ContentId.from_commitment(claim.revealed_key),
                                  max_size=MAX_OPENING_BYTES)
            opening = DisputeOpening.from_bytes(raw, sender=address_bytes(claim.uploader))
            verdict = verify_dispute(
                blob, opening, ctx=self._exchange.context(claim.round, request),
                sender=address_bytes(claim.uploader),
                receiver_public=self._peers.public(claim.requester),
            )
        except (StorageError, CryptoError, KeyError):
            return True  # the uploader's answer cannot be read: it does not answer
        return not verdict.valid

    # ------------------------------------------------------------------ anyone

    def _resolve(self, claim: ClaimInfo) -> bool:
        try:
            self._ledger.resolve_claim(claim.claim_id)
        except LedgerError as err:
            log.debug("resolve claim %d by %s: %s", claim.claim_id, self._me, err)
            return False
        self._settled.add(claim.claim_id)
        return True
