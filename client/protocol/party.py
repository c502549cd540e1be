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
from client.chain.records import PartyStatus, Phase
from client.crypto import (
    QuantParams,
    RevealGuard,
    dispute_opening,
)
from client.errors import FppdlError
from client.identity import PartyIdentity
from client.protocol.aggregation import (
    AggregationRule,
    make_rule,
)
from client.protocol.config import ProtocolConfig
from client.protocol.disputes import Disputes
from client.protocol.encoding import BoundRule
from client.protocol.evaluation import MutualEvaluation, credibility_over
from client.protocol.exchange import Exchange
from client.protocol.housekeeping import Housekeeping
from client.protocol.learner import Learner
from client.protocol.mailbox import Mailbox
from client.protocol.market import download_plan, round_budget
from client.protocol.masking import DoubleMasking
from client.protocol.peers import DEFAULT_SAMPLE_SHAPE, PeerDirectory, address_bytes
from client.protocol.state import PartyState
from client.timing import PhaseTimer
from storage import ContentStore, Retention
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
        self.rules = BoundRule(
            rule=self.rule, me=self._me, peers=self.peers, state=self.state, quant=self._quant,
            domain=self._chain_id.to_bytes(32, "big") + self._contract,
        )
        guard = (
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
        self.masking = DoubleMasking(
            me=self._me, ledger=ledger, store=store, exchange=self.exchange,
            mailbox=self.mailbox, state=self.state, disputes=self.disputes, kinds=kinds,
            guard=guard, persist_guard=self._persist_guard, save=self._save,
            deadline_passed=self._deadline_passed,
        )
        self.housekeeping = Housekeeping(
            ledger=ledger, store=store, retention=self.retention, state=self.state,
            masking=self.masking, state_dir=state_dir, keep_rounds=config.retention_rounds,
        )

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
            self.masking.send_receipt(epoch)
            or self.masking.send_unmasks(epoch)
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

    def _persist_guard(self, data: bytes) -> None:
        # Written (atomically, fsynced) before the reveal leaves this party.
        self.state.guard = data
        self._save()

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
            vector = self.rules.encode(epoch, request.requester, entries,
                                       delta=self.state.delta, params=params)
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

    # ------------------------------------------------------------------ Algorithm 2 step 3

    def _aggregate(self, epoch: int) -> bool:
        if self.state.applied_round >= epoch:
            return False
        sum_ = self.masking.collect(epoch)
        if sum_ is None:
            return False  # reveals still due
        return self._finish_aggregation(epoch, sum_.total, sum_.note, sum_.senders,
                                        sum_.dropped)

    def _finish_aggregation(
        self,
        epoch: int,
        total: FloatVec | None,
        note: str,
        senders: tuple[str, ...] = (),
        dropped: list[str] | None = None,
    ) -> bool:
        assert self.state.delta is not None
        record: dict[str, Any] = {"round": epoch, "senders": len(senders),
                                  "dropped": dropped or []}
        if total is not None:
            outcome = self.rules.apply(epoch, params=self.learner.params(),
                                       own_delta=self.state.delta, total=total, senders=senders)
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
        # In a round, vote only once this party has aggregated and revealed what others
        # wait for: the vote may close the epoch.
        ready = epoch == 0 or (self.state.applied_round >= epoch
                               and self.masking.unmasked(epoch))
        acted, voted = self.evaluation.step(
            epoch, credible=self._credible_others, trusted=self._trusted_others,
            deadline_passed=self._deadline_passed, may_vote=ready,
        )
        if voted:
            self.housekeeping.release(epoch)
        elif acted and self.state.assessed_epoch >= epoch:
            self._save()
        return acted

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
