"""One party of the consortium as a state machine driven by the chain.

:meth:`Party.step` reads the ledger's phase and epoch and performs the next action that is due
and not yet done; it returns whether it did anything. Whether an action is done is read from the
chain (requests, uploads, commitments, reports) wherever the chain records it, so a restarted
party neither repeats a paid action nor skips one. Nothing here knows whether the other parties
run in this process or elsewhere, nor how the party was assembled (see :mod:`client.compose`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from client.chain.errors import LedgerError
from client.chain.ledger import Ledger
from client.chain.records import DownloadRequest, PartyStatus, Phase
from client.crypto import (
    CryptoError,
    MaskedShare,
    QuantParams,
    Receipt,
    RevealGuard,
    dispute_opening,
)
from client.errors import FppdlError
from client.identity import PartyIdentity
from client.protocol.aggregation import AggregationRule, make_rule
from client.protocol.config import ProtocolConfig
from client.protocol.disputes import Disputes
from client.protocol.evaluation import MutualEvaluation, credibility_over
from client.protocol.exchange import MAX_RECEIPT_BYTES, Exchange, to_address
from client.protocol.learner import Learner
from client.protocol.mailbox import Mailbox
from client.protocol.market import download_plan, round_budget
from client.protocol.peers import DEFAULT_SAMPLE_SHAPE, PeerDirectory, address_bytes
from client.protocol.state import PartyState
from client.timing import PhaseTimer
from storage import ContentId, ContentStore, Retention, StorageError
from trainer.allocation import upload_cap
from trainer.dpgan import SampleRelease

log = logging.getLogger(__name__)


FloatVec = npt.NDArray[np.float32]


class ProtocolError(FppdlError, RuntimeError):
    """The party cannot continue (e.g. it was never registered and registration is over)."""


class Party:
    """A consortium member: identity, ledger, store, crypto and learner, driven by the chain.

    Parameters
    ----------
    identity : PartyIdentity
        Signing account and encryption keys.
    ledger : Ledger
        The ledger, signing with ``identity.account``.
    store : ContentStore
        The shared content store.
    learner : Learner
        The party's model: the one owner of its parameters.
    config : ProtocolConfig
        Rounds, rule, budget policy and the other settings the chain does not fix.
    state_dir : Path
        Folder of the party's local state (resumable).
    samples : SampleRelease, optional
        The DPGAN samples it registers (only needed before registration).
    sample_classes : ndarray of int64, optional
        The class each of its samples was drawn for (private): without them the party
        reports no peer on its labels (its samples would carry no evidence).
    timer : PhaseTimer, optional
        Where the party's wall time is accounted; told the epoch at every step.
    """

    def __init__(
        self,
        *,
        identity: PartyIdentity,
        ledger: Ledger,
        store: ContentStore,
        learner: Learner,
        config: ProtocolConfig,
        state_dir: Path,
        samples: SampleRelease | None = None,
        sample_classes: npt.NDArray[np.int64] | None = None,
        timer: PhaseTimer | None = None,
    ) -> None:
        self.identity = identity
        self.ledger = ledger
        self.store = store
        self.learner = learner
        self.config = config
        self.state_dir = state_dir
        self.samples = samples
        self.timer = timer or PhaseTimer()
        self.state = PartyState.load(state_dir)
        saved = PartyState.load_params(state_dir)
        if saved is not None:
            learner.set_params(saved)
        self.rule: AggregationRule = make_rule(config.aggregation, config.rule_options)
        self.retention = Retention(store, rounds=config.retention_rounds)
        self.peers = PeerDirectory(
            ledger, store, identity.keys,
            sample_shape=samples.pixels.shape[1:] if samples is not None else DEFAULT_SAMPLE_SHAPE,
        )
        self.mailbox = Mailbox(identity=identity, ledger=ledger, store=store, peers=self.peers,
                               retention=self.retention, timer=self.timer)
        self._chain_id = int(ledger.w3.eth.chain_id)
        self._contract = address_bytes(ledger.address)
        self._me = identity.address
        self._me_bytes = address_bytes(self._me)
        kinds = ledger.message_kinds()
        self._kind_receipt = kinds["receipt"]
        self._kind_unmask = kinds["unmask"]
        self.evaluation = MutualEvaluation(
            me=self._me, ledger=ledger, learner=learner, peers=self.peers, mailbox=self.mailbox,
            state=self.state, config=config, kind=kinds["labels"],
            sample_classes=sample_classes,
        )
        self._params = ledger.parameters()
        self._quant: QuantParams = self.rule.quant_params(
            self._params.model_size, bits=config.ring_bits,
            max_senders=max(1, self._params.max_parties - 1),
        )
        self.exchange = Exchange(
            identity=identity, peers=self.peers, store=store, timer=self.timer,
            quant=self._quant, chain_id=self._chain_id, contract=self._contract,
            neighbours=config.neighbours, min_accepted=self._params.min_uploaders,
        )
        self.guard = (
            RevealGuard.from_bytes(self.state.guard, holder=self._me_bytes,
                                   chain_id=self._chain_id, contract=self._contract)
            if self.state.guard
            else RevealGuard(holder=self._me_bytes, chain_id=self._chain_id,
                             contract=self._contract)
        )
        self.disputes = Disputes(
            me=self._me, ledger=ledger, store=store, peers=self.peers, exchange=self.exchange,
            state=self.state, state_dir=state_dir, save=self._save,
        )
        # Per epoch: the receipt this party published (receiver) and the envelopes it opened.
        self._receipts: dict[int, Receipt] = {}
        self._opened: dict[int, dict[bytes, MaskedShare]] = {}
        # Per-process memory of actions whose completion the chain does not expose cheaply;
        # each is idempotent on-chain (a repeat reverts with a named error we treat as done).
        self._done: set[tuple[str, int] | tuple[str, int, str]] = set()
        self._served_by_epoch: dict[int, dict[tuple[str, str], bytes]] = {}
        #: Rounds below this one have been unpinned (their claim windows are over).
        self._released_before = 1

    # ------------------------------------------------------------------ driving

    @property
    def address(self) -> str:
        """Return this party's address."""
        return self._me

    def finished(self) -> bool:
        """Return whether the party has nothing left to do (removed, or past the last round)."""
        view = self.ledger.snapshot(self._me)
        if view.status is PartyStatus.REMOVED:
            return True
        if view.phase is Phase.REGISTRATION:
            return False
        if self.disputes.pending():
            return False  # a claim still needs an answer, votes or its resolution
        return view.phase is Phase.FINISHED or view.round > self._params.rounds \
            or self._too_few_left()

    def _too_few_left(self) -> bool:
        """Return whether too few credible parties are left for any sum to hide its senders."""
        if len(self.ledger.credible_parties()) - 1 >= self._params.min_uploaders:
            return False
        if not any(e["kind"] == "consortium_too_small" for e in self.state.events):
            self.state.record(
                "consortium_too_small", credible=len(self.ledger.credible_parties()),
                min_uploaders=self._params.min_uploaders,
            )
            self._save()
        return True

    def step(self) -> bool:
        """Do the next due action; return whether anything was done."""
        view = self.ledger.snapshot(self._me)
        self.timer.epoch = view.round
        if view.status is PartyStatus.REMOVED:
            return False
        if view.phase is Phase.REGISTRATION:
            return self._registration_step(view.status)
        if view.status is not PartyStatus.CREDIBLE:
            raise ProtocolError(f"{self._me} is not registered and registration is closed")
        epoch = view.round
        # Claims resolve while later rounds run (and after the last one).
        if epoch >= 1 and self.disputes.step():
            return True
        if view.phase is Phase.FINISHED or epoch > self._params.rounds:
            return False
        if view.phase is Phase.BENCHMARKING:
            return self._evaluation_step(0)
        if view.phase is Phase.REQUEST:
            return self._train(epoch) or self._request(epoch)
        if view.phase is Phase.UPLOAD:
            return self._train(epoch) or self._upload(epoch)
        return (
            self._send_receipt(epoch)
            or self._send_unmasks(epoch)
            or self._aggregate(epoch)
            or self._evaluation_step(epoch)
        )

    def _save(self) -> None:
        self.state.save(self.state_dir, params=self.learner.params())

    # ------------------------------------------------------------------ registration

    def _registration_step(self, status: PartyStatus) -> bool:
        if status is PartyStatus.NONE:
            self.register()
            return True
        registered = len(self.ledger.parties())
        past_deadline = self.ledger.block_number() >= self._params.registration_deadline
        if registered >= self._params.max_parties or (
            past_deadline and registered >= self._params.min_parties
        ):
            try:
                self.ledger.close_registration()
            except LedgerError as err:
                log.debug("close_registration by %s lost a race: %s", self._me, err)
            return True
        return False

    def register(self) -> None:
        """Release the DPGAN samples to the store and send the init transaction."""
        if self.samples is None:
            raise ProtocolError("a party needs released samples to register")
        cid = self.store.put(self.samples.to_bytes())
        self.ledger.register(
            self.identity.keys.public().to_bytes(),
            self.learner.data_size,
            self.samples.count,
            cid.commitment,
        )
        self.state.standalone_accuracy = self.learner.accuracy()
        self._save()

    # ------------------------------------------------------------------ chain views

    def _credible_others(self) -> list[str]:
        return [p for p in self.ledger.credible_parties() if p != self._me]

    def _trusted_others(self) -> list[str]:
        """Return the credible others whose registration and samples showed no fault."""
        return [p for p in self._credible_others() if self.peers.usable(p)]

    def _served(self, epoch: int) -> dict[tuple[str, str], bytes]:
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

    def _deadline_passed(self, epoch: int) -> bool:
        deadline = self.ledger.round_deadlines(epoch).settle_deadline
        return self.ledger.block_number() >= deadline

    # ------------------------------------------------------------------ Algorithm 2 step 1

    def _train(self, epoch: int) -> bool:
        if self.state.trained_round >= epoch:
            return False
        self.state.delta = self.learner.local_update(epoch)
        self.state.trained_round = epoch
        self._save()
        return True

    def _request(self, epoch: int) -> bool:
        if self.ledger.download_requests(epoch, self._me):
            return False
        # Escrow and payments of closed rounds are released by this DOWNLOAD itself. A deposit
        # per uploader stays in reserve: a bad delivery can then always be claimed.
        others = self._trusted_others()
        reserve = self._params.claim_deposit * len(others)
        balance = max(0, self.ledger.points_of(self._me).spendable - reserve)
        budget = round_budget(
            self.config.budget_policy, balance, epoch=epoch, rounds=self._params.rounds,
            fraction=self.config.budget_fraction,
        )
        chosen = download_plan(
            credibility_over(self.state, others), budget,
            {p: self.peers.get(p).sharing_level for p in others}, self._params.model_size,
        )
        if len(chosen) < self._params.min_uploaders:
            # A sum of fewer senders would expose them; buy nothing this round (the empty
            # request still says this party acted).
            self.state.record("request_too_small", round=epoch, uploaders=len(chosen),
                              min_uploaders=self._params.min_uploaders)
            chosen = []
        self.ledger.request_downloads([p for p, _ in chosen], [a for _, a in chosen])
        return True

    # ------------------------------------------------------------------ Algorithm 2 step 2

    def _upload(self, epoch: int) -> bool:
        if self.ledger.uploads(epoch, self._me):
            return False
        credible = set(self.ledger.credible_parties())
        # The ledger skips (and refunds) requests of parties removed since; never seal for them.
        mine = [r for r in self.ledger.download_requests(epoch)
                if self._me in r.uploaders and r.requester in credible]
        if not mine:
            return False
        assert self.state.delta is not None
        params = self.learner.params()
        cap = upload_cap(self.peers.get(self._me).sharing_level, self._params.model_size)
        sealed: list[tuple[str, bytes]] = []
        for request in mine:
            unusable = [p for p in (request.requester, *request.uploaders)
                        if not self.peers.usable(p)]
            if unusable:
                # No envelope can be sealed to (or masked with) a party without a usable key;
                # the requester's escrow returns to it when the phase ends.
                self.state.record("request_skipped", round=epoch, requester=request.requester,
                                  unusable=unusable)
                continue
            # A requester may offer more than this party sells; it gets the cap.
            entries = min(request.amounts[request.uploaders.index(self._me)], cap)
            vector = self._clip_for_ring(
                self.rule.encode(delta=self.state.delta, params=params, entries=entries), epoch
            )
            envelope = self.exchange.seal(epoch, request, vector)
            # The envelope and the keys of its outer layers, kept (0600) in case a claim
            # against it must be answered; the keys are never published otherwise.
            for what, data in (("envelope", envelope.blob),
                               ("opening", dispute_opening(envelope).to_bytes())):
                PartyState.save_kept(self.state_dir, epoch, request.requester, what, data)
            sealed.append((request.requester, envelope.blob))
        if not sealed:
            return False
        self.ledger.upload_ciphertexts(*self.mailbox.publish(epoch, sealed))
        return True

    def _clip_for_ring(self, vector: FloatVec, epoch: int) -> FloatVec:
        bound = self._quant.clip_bound(0)
        size = self._quant.segments[0].length
        if np.abs(vector[:size]).max(initial=0.0) > bound:
            self.state.record("clipped_for_ring", round=epoch, bound=bound)
            vector = vector.copy()
            np.clip(vector[:size], -bound, bound, out=vector[:size])
        return vector

    # ------------------------------------------------------------------ receipt and unmasking

    def _my_request(self, epoch: int) -> DownloadRequest | None:
        requests = self.ledger.download_requests(epoch, self._me)
        return requests[0] if requests and requests[0].uploaders else None

    def _send_receipt(self, epoch: int) -> bool:
        """As receiver: open the envelopes and publish which ones this party accepts."""
        if ("receipt", epoch) in self._done:
            return False
        request = self._my_request(epoch)
        if request is None or self.mailbox.sent(epoch, self._kind_receipt):
            self._done.add(("receipt", epoch))
            return False
        served = self._served(epoch)
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

    def _published_receipt(self, epoch: int, request: DownloadRequest) -> Receipt | None:
        """Return the first receipt ``request``'s receiver committed (None if none yet)."""
        for commitment in self.ledger.message_commitments(epoch, self._kind_receipt,
                                                           request.requester):
            digest = commitment.digests[0] if commitment.digests else None
            if digest is None:
                continue
            blob = self.store.get(ContentId.from_commitment(digest), max_size=MAX_RECEIPT_BYTES)
            return self.exchange.read_receipt(epoch, request, blob)
        return None

    def _send_unmasks(self, epoch: int) -> bool:
        """As a neighbour: follow every published receipt of a request naming this party."""
        if ("unmask", epoch) in self._done:
            return False
        served = self._served(epoch)
        notes: list[tuple[str, bytes]] = []
        waiting = False
        for request in self.ledger.download_requests(epoch):
            key = ("unmask", epoch, request.requester)
            if self._me not in request.uploaders or key in self._done:
                continue
            try:
                receipt = self._published_receipt(epoch, request)
                if receipt is None and not self._deadline_passed(epoch):
                    waiting = True
                    continue
                outcome = self.exchange.reveal(epoch, request, served, receipt, self.guard,
                                               self._persist_guard)
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

    def _persist_guard(self, data: bytes) -> None:
        # Written (atomically, fsynced) before the reveal leaves this party.
        self.state.guard = data
        self._save()

    # ------------------------------------------------------------------ Algorithm 2 step 3

    def _aggregate(self, epoch: int) -> bool:
        if self.state.applied_round >= epoch:
            return False
        request = self._my_request(epoch)
        if request is None:
            return self._finish_aggregation(epoch, None, "no request")
        receipt = self._receipts.get(epoch) or self._published_receipt(epoch, request)
        if receipt is None:
            return False  # this party publishes its receipt first (a step earlier)
        accepted = [to_address(raw, request.uploaders) for raw in receipt.accepted]
        dropped = [u for u in request.uploaders if u not in accepted]
        if not accepted:
            return self._finish_aggregation(epoch, None, "no envelope accepted",
                                            dropped=dropped)
        expected = self.exchange.expected_holders(epoch, request, receipt)
        inbox = self.mailbox.inbox(epoch, self._kind_unmask)
        deadline = self._deadline_passed(epoch)
        # The accepted senders hold every pair seed the sum needs and, with t of k shares per
        # sender, usually enough shares; a sender that did not upload may never answer.
        if not (expected & set(accepted)) <= set(inbox) and not deadline:
            return False  # wait for the accepted senders' reveals (or the deadline)
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
            opened, _ = self.exchange.open_all(epoch, request, self._served(epoch),
                                               set(self.ledger.credible_parties()))
        result = self.exchange.sum(epoch, request, receipt, opened, unmasks)
        if result.total is None and not deadline and not expected <= set(inbox):
            return False  # too few shares yet: the other holders may still reveal
        for fault in result.faults:
            self.state.record("bad_reveal", round=epoch, fault=fault)
        if result.total is None:
            self.state.record("aggregation_failed", round=epoch, error=result.error)
            return self._finish_aggregation(epoch, None, result.error.split(":")[0],
                                            dropped=dropped)
        return self._finish_aggregation(epoch, result.total, "", len(accepted), dropped)

    def _finish_aggregation(
        self,
        epoch: int,
        total: FloatVec | None,
        note: str,
        senders: int = 0,
        dropped: list[str] | None = None,
    ) -> bool:
        assert self.state.delta is not None
        record: dict[str, Any] = {"round": epoch, "senders": senders, "dropped": dropped or []}
        if total is not None:
            outcome = self.rule.apply(
                params=self.learner.params(), own_delta=self.state.delta,
                received_sum=total, senders=senders,
            )
            if outcome.clipped or outcome.rejected:
                self.state.record(
                    "aggregate_bounded" if outcome.clipped else "aggregate_rejected",
                    round=epoch, note=outcome.note,
                )
            self.learner.set_params(outcome.params)
            record.update(
                positions_updated=outcome.positions_updated,
                clipped=outcome.clipped, rejected=outcome.rejected,
            )
        else:
            record.update(positions_updated=0, clipped=False, rejected=False, skipped=note)
        record["accuracy"] = self.learner.accuracy()
        self.state.applied_round = epoch
        self.state.records.append(record)
        self._save()
        return True

    # ------------------------------------------------------------------ mutual evaluation

    def _evaluation_step(self, epoch: int) -> bool:
        return self._send_labels(epoch) or self._assess(epoch) or self._vote(epoch)

    def _send_labels(self, epoch: int) -> bool:
        if ("labels", epoch) in self._done:
            return False
        sent = self.evaluation.send_labels(epoch, self._trusted_others())
        self._done.add(("labels", epoch))
        return sent

    def _assess(self, epoch: int) -> bool:
        if self.state.assessed_epoch >= epoch and self.state.assessed_any:
            return False
        assessed = self.evaluation.assess(
            epoch, self._credible_others(), deadline_passed=self._deadline_passed(epoch)
        )
        for peer, reason in self.peers.faults().items():
            if not any(e["kind"] == "peer_fault" and e["peer"] == peer for e in self.state.events):
                self.state.record("peer_fault", round=epoch, peer=peer, reason=reason)
        if assessed:
            self._save()
        return assessed

    def _vote(self, epoch: int) -> bool:
        # Vote only once this epoch's reports are in, and (in a round) once this party has
        # aggregated and revealed what others wait for: the vote may close the epoch.
        if ("vote", epoch) in self._done or not (
            self.state.assessed_any and self.state.assessed_epoch >= epoch
        ):
            return False
        if epoch > 0 and (self.state.applied_round < epoch or ("unmask", epoch) not in self._done):
            return False
        self._done.add(("vote", epoch))
        self.evaluation.vote()
        self._release_retained(epoch)
        return True

    def _release_retained(self, epoch: int) -> None:
        """Unpin what the ledger no longer needs retained; prune what answered its claims."""
        block = self.ledger.block_number()
        horizon = self._released_before
        # The ledger says until which block a round's content must stay (its claim window);
        # never less than the configured number of rounds.
        while horizon < epoch - self.config.retention_rounds:
            until = self.ledger.retained_until(horizon)
            if until == 0 or block < until:
                break
            horizon += 1
        if horizon == self._released_before:
            return
        self._released_before = horizon
        try:
            self.retention.release_before(horizon)
            self.store.gc()
        except StorageError as err:
            # Housekeeping of this party's own pins: a store that fails it stops nothing.
            self.state.record("gc_failed", round=epoch, error=f"{type(err).__name__}: {err}")
        PartyState.prune_kept(self.state_dir, horizon)
        self.guard.prune(horizon)
        self._persist_guard(self.guard.to_bytes())

    def close_overdue_epoch(self) -> bool:
        """Close the current epoch if its deadline has passed (any member may)."""
        epoch = self.ledger.current_round()
        phase = self.ledger.phase()
        if phase not in (Phase.SETTLE, Phase.BENCHMARKING) or not self._deadline_passed(epoch):
            return False
        try:
            self.ledger.close_round()
        except LedgerError:
            return False
        return True
