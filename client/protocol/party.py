"""One party of the consortium as a state machine driven by the chain.

:meth:`Party.step` reads the ledger's phase and epoch and performs the next action that is due
and not yet done; it returns whether it did anything. Whether an action is done is read from the
chain (requests, uploads, commitments, reports) wherever the chain records it, so a restarted
party neither repeats a paid action nor skips one. Nothing here knows whether the other parties
run in this process or elsewhere.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from eth_account.signers.local import LocalAccount

from client.chain.errors import LedgerError
from client.chain.ledger import Ledger
from client.chain.records import DownloadRequest, PartyStatus, Phase
from client.crypto import (
    CryptoError,
    MaskedShare,
    PartyKeys,
    PublicKeys,
    QuantParams,
    Recovery,
    RoundContext,
    aggregate,
    open_envelope,
    recovery_stream,
    seal,
)
from client.crypto.notes import NoteContext, open_note, seal_note
from client.errors import FppdlError
from client.protocol.aggregation import AggregationRule, make_rule
from client.protocol.config import ProtocolConfig
from client.protocol.learner import Learner
from client.protocol.market import download_plan, round_budget
from client.protocol.messages import (
    LabelMessage,
    MessageFormatError,
    RecoveryMessage,
    evaluation_indices,
)
from client.protocol.metrics import PhaseTimer
from client.protocol.state import PartyState
from storage import ContentId, ContentStore, Retention, StorageError
from trainer.credibility import credibility_from_labels, low_quality, normalise, update_credibility
from trainer.dpgan import SampleRelease

log = logging.getLogger(__name__)


class ProtocolError(FppdlError, RuntimeError):
    """The party cannot continue (e.g. it was never registered and registration is over)."""


def address_bytes(address: str) -> bytes:
    """20 raw bytes of a hex address."""
    return bytes.fromhex(address[2:] if address.startswith("0x") else address)


@dataclass(frozen=True)
class PartyIdentity:
    """A party's secrets: the signing account and the encryption keys."""

    account: LocalAccount
    keys: PartyKeys

    @property
    def address(self) -> str:
        """Checksummed Ethereum address."""
        return str(self.account.address)


@dataclass(frozen=True)
class Peer:
    """What the chain says about another party, fixed at registration."""

    address: str
    public: PublicKeys
    data_size: int
    samples_released: int
    samples_digest: bytes

    @property
    def sharing_level(self) -> Fraction:
        """epsilon_j = u_j / |D_j|."""
        return Fraction(self.samples_released, self.data_size)


class Party:
    """A consortium member: composition of identity, ledger, store, crypto and learner."""

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
        if self.state.params is None:
            self.state.params = learner.params()
        else:
            learner.set_params(self.state.params)
        self.rule: AggregationRule = make_rule(config.aggregation, config.rule_options)
        self.retention = Retention(store, rounds=config.retention_rounds)
        self._chain_id = int(ledger.w3.eth.chain_id)
        self._contract = address_bytes(ledger.address)
        self._me = identity.address
        self._me_bytes = address_bytes(self._me)
        self._kind_labels = ledger.message_kind("labels")
        self._kind_recovery = ledger.message_kind("recovery")
        self._params = ledger.parameters()
        self._quant = self._ring_params()
        self._peers: dict[str, Peer] = {}
        self._samples_of: dict[str, SampleRelease] = {}
        # Per-process memory of actions whose completion the chain does not expose cheaply;
        # each is idempotent on-chain (a repeat reverts with a named error we treat as done).
        self._done: set[tuple[str, int]] = set()
        self._served_by_epoch: dict[int, dict[tuple[str, str], bytes]] = {}

    # ------------------------------------------------------------------ driving

    @property
    def address(self) -> str:
        """This party's address."""
        return self._me

    def finished(self) -> bool:
        """Whether the party has nothing left to do (removed, or past its last round)."""
        info = self.ledger.party_info(self._me)
        if info.status is PartyStatus.REMOVED:
            return True
        closed = self.ledger.registration_closed()
        return closed and self.ledger.current_round() > self.config.rounds

    def step(self) -> bool:
        """Do the next due action; return whether anything was done."""
        with self.timer.measure(self._epoch_hint(), "chain"):
            view = self.ledger.snapshot(self._me)
        if view.status is PartyStatus.REMOVED:
            return False
        if view.phase is Phase.REGISTRATION:
            return self._registration_step(view.status)
        if view.status is not PartyStatus.CREDIBLE:
            raise ProtocolError(f"{self._me} is not registered and registration is closed")
        epoch = view.round
        if epoch > self.config.rounds:
            return False
        if view.phase is Phase.BENCHMARKING:
            return self._evaluation_step(0)
        if view.phase is Phase.REQUEST:
            return self._train(epoch) or self._request(epoch)
        if view.phase is Phase.UPLOAD:
            return self._train(epoch) or self._upload(epoch)
        return (
            self._send_recoveries(epoch)
            or self._aggregate(epoch)
            or self._evaluation_step(epoch)
        )

    def _epoch_hint(self) -> int:
        return self.state.trained_round

    def _save(self) -> None:
        self.state.save(self.state_dir)

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
                with self.timer.measure(0, "chain"):
                    self.ledger.close_registration()
            except LedgerError as err:
                log.debug("close_registration by %s lost a race: %s", self._me, err)
            return True
        return False

    def register(self) -> None:
        """Release the DPGAN samples to the store and send the init transaction."""
        if self.samples is None:
            raise ProtocolError("a party needs released samples to register")
        with self.timer.measure(0, "storage"):
            cid = self.store.put(self.samples.to_bytes())
        with self.timer.measure(0, "chain"):
            self.ledger.register(
                self.identity.keys.public().to_bytes(),
                self.learner.data_size,
                self.samples.count,
                cid.commitment,
            )
        with self.timer.measure(0, "evaluation"):
            self.state.standalone_accuracy = self.learner.accuracy()
        self._save()

    # ------------------------------------------------------------------ peers

    def _peer(self, address: str) -> Peer:
        if address not in self._peers:
            for reg in self.ledger.registrations():
                self._peers[reg.party] = Peer(
                    reg.party, PublicKeys.from_bytes(reg.enc_pub_key), reg.data_size,
                    reg.samples_released, reg.samples_digest,
                )
        return self._peers[address]

    def _credible_others(self) -> list[str]:
        with self.timer.measure(self._epoch_hint(), "chain"):
            return [p for p in self.ledger.credible_parties() if p != self._me]

    def _peer_x25519(self) -> dict[bytes, bytes]:
        self._peer(self._me)
        return {address_bytes(a): p.public.x25519 for a, p in self._peers.items()}

    def _released_samples(self, owner: str) -> SampleRelease:
        if owner not in self._samples_of:
            peer = self._peer(owner)
            with self.timer.measure(self._epoch_hint(), "storage"):
                blob = self.store.get(ContentId.from_commitment(peer.samples_digest))
            self._samples_of[owner] = SampleRelease.from_bytes(blob)
        return self._samples_of[owner]

    def _served(self, epoch: int) -> dict[tuple[str, str], bytes]:
        """Return (requester, uploader) -> envelope digest of every UPLOAD of ``epoch``.

        Read only in the SETTLE phase, when no upload of the round can be added any more, so
        one log query per epoch replaces a request lookup per (request, uploader) pair.
        """
        if epoch not in self._served_by_epoch:
            with self.timer.measure(epoch, "chain"):
                self._served_by_epoch[epoch] = {
                    (requester, upload.uploader): digest
                    for upload in self.ledger.uploads(epoch)
                    for requester, digest in zip(upload.requesters, upload.digests, strict=True)
                }
        return self._served_by_epoch[epoch]

    def _deadline_passed(self, epoch: int) -> bool:
        with self.timer.measure(epoch, "chain"):
            deadline = self.ledger.round_deadlines(epoch).settle_deadline
            return self.ledger.block_number() >= deadline

    # ------------------------------------------------------------------ Algorithm 2 step 1

    def _train(self, epoch: int) -> bool:
        if self.state.trained_round >= epoch:
            return False
        with self.timer.measure(epoch, "training"):
            delta = self.learner.local_update(epoch)
        self.state.params = self.learner.params()
        self.state.delta = delta
        self.state.trained_round = epoch
        self._save()
        return True

    def _request(self, epoch: int) -> bool:
        with self.timer.measure(epoch, "chain"):
            if self.ledger.download_requests(epoch, self._me):
                return False
            points = self.ledger.points_of(self._me)
        # Escrow of a closed round is released by this DOWNLOAD itself, so it is spendable.
        balance = points.balance + points.releasable
        others = self._credible_others()
        budget = round_budget(
            self.config.budget_policy, balance, epoch=epoch, rounds=self.config.rounds,
            fraction=self.config.budget_fraction,
        )
        chosen = download_plan(
            self._credibility_over(others), budget,
            {p: self._peer(p).sharing_level for p in others}, self._params.model_size,
        )
        with self.timer.measure(epoch, "chain"):
            self.ledger.request_downloads([p for p, _ in chosen], [a for _, a in chosen])
        return True

    def _credibility_over(self, members: list[str]) -> dict[str, Fraction]:
        if not members:
            return {}
        known = {p: c for p, c in self.state.credibility.items() if p in members}
        for p in members:
            known.setdefault(p, Fraction(1, len(members)))
        return normalise(known, members)

    # ------------------------------------------------------------------ Algorithm 2 step 2

    def _context(self, epoch: int, request: DownloadRequest) -> RoundContext:
        return RoundContext(
            self._chain_id,
            self._contract,
            epoch,
            receiver=address_bytes(request.requester),
            senders=tuple(address_bytes(u) for u in request.uploaders),
            neighbours=self.config.neighbours,
        )

    def _ring_params(self) -> QuantParams:
        """Quantization of every message: fixed by the rule and the ledger's parameters."""
        return self.rule.quant_params(
            self._params.model_size, bits=self.config.ring_bits,
            max_senders=max(1, self._params.max_parties - 1),
        )

    def _upload(self, epoch: int) -> bool:
        with self.timer.measure(epoch, "chain"):
            if self.ledger.uploads(epoch, self._me):
                return False
            mine = [r for r in self.ledger.download_requests(epoch) if self._me in r.uploaders]
        if not mine:
            return False
        assert self.state.delta is not None and self.state.params is not None
        quant = self._quant
        peers = self._peer_x25519()
        requesters: list[str] = []
        digests: list[bytes] = []
        for request in mine:
            entries = request.amounts[request.uploaders.index(self._me)]
            vector = self.rule.encode(
                delta=self.state.delta, params=self.state.params, entries=entries
            )
            vector = self._clip_for_ring(vector, quant, epoch)
            with self.timer.measure(epoch, "crypto"):
                sealed = seal(
                    vector,
                    ctx=self._context(epoch, request),
                    sender=self._me_bytes,
                    sender_keys=self.identity.keys,
                    receiver_public=self._peer(request.requester).public,
                    peer_publics=peers,
                    quant=quant,
                )
            with self.timer.measure(epoch, "storage"):
                cid = self.store.put(sealed.blob)
            self.retention.track(cid, epoch)
            requesters.append(request.requester)
            digests.append(cid.commitment)
        with self.timer.measure(epoch, "chain"):
            self.ledger.upload_ciphertexts(requesters, digests)
        return True

    def _clip_for_ring(
        self, vector: npt.NDArray[np.float32], quant: QuantParams, epoch: int
    ) -> npt.NDArray[np.float32]:
        bound = quant.clip_bound(0)
        size = quant.segments[0].length
        values = vector[:size]
        if np.abs(values).max(initial=0.0) > bound:
            self.state.record("clipped_for_ring", round=epoch, bound=bound)
            vector = vector.copy()
            np.clip(vector[:size], -bound, bound, out=vector[:size])
        return vector

    # ------------------------------------------------------------------ dropout recovery

    def _send_recoveries(self, epoch: int) -> bool:
        if ("recovery", epoch) in self._done:
            return False
        self._done.add(("recovery", epoch))
        with self.timer.measure(epoch, "chain"):
            if self.ledger.message_commitments(epoch, self._kind_recovery, self._me):
                return False
            requests = [r for r in self.ledger.download_requests(epoch) if self._me in r.uploaders]
        peers = self._peer_x25519()
        recipients: list[str] = []
        digests: list[bytes] = []
        served = self._served(epoch)
        for request in requests:
            if (request.requester, self._me) not in served:
                continue
            ctx = self._context(epoch, request)
            neighbours = set(ctx.neighbours_of(self._me_bytes))
            dropped = [
                u for u in request.uploaders
                if u != self._me
                and address_bytes(u) in neighbours
                and (request.requester, u) not in served
            ]
            if not dropped:
                continue
            with self.timer.measure(epoch, "crypto"):
                recoveries = tuple(
                    recovery_stream(
                        ctx, survivor=self._me_bytes, survivor_keys=self.identity.keys,
                        dropped=address_bytes(u), peer_publics=peers,
                    )
                    for u in dropped
                )
                note = seal_note(
                    RecoveryMessage(epoch, recoveries).to_bytes(),
                    ctx=self._note_context(epoch, self._kind_recovery, request.requester),
                    recipient=self._peer(request.requester).public,
                )
            with self.timer.measure(epoch, "storage"):
                cid = self.store.put(note)
            self.retention.track(cid, epoch)
            recipients.append(request.requester)
            digests.append(cid.commitment)
        if not recipients:
            return False
        with self.timer.measure(epoch, "chain"):
            self.ledger.commit_messages(epoch, self._kind_recovery, recipients, digests)
        return True

    def _note_context(
        self, epoch: int, kind: int, recipient: str, sender: str | None = None
    ) -> NoteContext:
        return NoteContext(
            self._chain_id, self._contract, epoch, kind,
            address_bytes(sender or self._me), address_bytes(recipient),
        )

    # ------------------------------------------------------------------ Algorithm 2 step 3

    def _aggregate(self, epoch: int) -> bool:
        if self.state.applied_round >= epoch:
            return False
        with self.timer.measure(epoch, "chain"):
            requests = self.ledger.download_requests(epoch, self._me)
        if not requests or not requests[0].uploaders:
            return self._finish_aggregation(epoch, None, "no request")
        request = requests[0]
        ctx = self._context(epoch, request)
        served = self._served(epoch)
        present = [u for u in request.uploaders if (self._me, u) in served]
        dropped = [u for u in request.uploaders if u not in present]
        if not present:
            return self._finish_aggregation(epoch, None, "nobody uploaded")
        recoveries: list[Recovery] = []
        if dropped:
            expected = {
                u for u in present
                if any(address_bytes(d) in ctx.neighbours_of(address_bytes(u)) for d in dropped)
            }
            notes = self._notes_to_me(epoch, self._kind_recovery)
            if not expected <= set(notes) and not self._deadline_passed(epoch):
                return False  # wait for the survivors' recovery seeds
            for sender, digest in notes.items():
                if sender not in expected:
                    continue
                try:
                    plain = self._fetch_note(epoch, self._kind_recovery, sender, digest)
                    recoveries.extend(RecoveryMessage.from_bytes(plain).recoveries)
                except (StorageError, CryptoError, MessageFormatError) as err:
                    self.state.record("bad_recovery", round=epoch, sender=sender, error=str(err))
        shares: list[MaskedShare] = []
        excluded: list[dict[str, Any]] = []
        for sender in present:
            upload_digest = served.get((self._me, sender))
            try:
                if upload_digest is None:
                    raise StorageError("no upload event")
                with self.timer.measure(epoch, "storage"):
                    blob = self.store.get(ContentId.from_commitment(upload_digest))
                with self.timer.measure(epoch, "crypto"):
                    shares.append(
                        open_envelope(
                            blob, ctx=ctx, sender=address_bytes(sender),
                            receiver_keys=self.identity.keys, quant=self._quant,
                        )
                    )
            except (StorageError, CryptoError) as err:
                excluded.append(
                    {
                        "sender": sender,
                        "digest": (upload_digest or b"").hex(),
                        "error": type(err).__name__,
                    }
                )
        if excluded:
            # One sender's mask cannot be cancelled without its share, so the whole received
            # sum of this round is unusable; the evidence is kept for a dispute.
            for item in excluded:
                self.state.record("excluded_envelope", round=epoch, **item)
            return self._finish_aggregation(epoch, None, "envelope excluded")
        try:
            with self.timer.measure(epoch, "crypto"):
                total = aggregate(shares, ctx=ctx, recoveries=recoveries)
        except CryptoError as err:
            self.state.record("aggregation_failed", round=epoch, error=type(err).__name__)
            return self._finish_aggregation(epoch, None, "aggregation failed")
        return self._finish_aggregation(epoch, total.astype(np.float32), "", len(present), dropped)

    def _finish_aggregation(
        self,
        epoch: int,
        total: npt.NDArray[np.float32] | None,
        note: str,
        senders: int = 0,
        dropped: list[str] | None = None,
    ) -> bool:
        assert self.state.params is not None and self.state.delta is not None
        record: dict[str, Any] = {"round": epoch, "senders": senders, "dropped": dropped or []}
        if total is not None:
            outcome = self.rule.apply(
                params=self.state.params, own_delta=self.state.delta,
                received_sum=total, senders=senders,
            )
            if outcome.clipped or outcome.rejected:
                self.state.record(
                    "aggregate_bounded" if outcome.clipped else "aggregate_rejected",
                    round=epoch, note=outcome.note,
                )
            self.state.params = outcome.params
            self.learner.set_params(outcome.params)
            record.update(
                positions_updated=outcome.positions_updated,
                clipped=outcome.clipped, rejected=outcome.rejected,
            )
        else:
            record.update(positions_updated=0, clipped=False, rejected=False, skipped=note)
        with self.timer.measure(epoch, "evaluation"):
            record["accuracy"] = self.learner.accuracy()
        self.state.applied_round = epoch
        self.state.records.append(record)
        self._save()
        return True

    # ------------------------------------------------------------------ mutual evaluation

    def _notes_to_me(self, epoch: int, kind: int) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        with self.timer.measure(epoch, "chain"):
            for commitment in self.ledger.message_commitments(epoch, kind):
                for recipient, digest in zip(
                    commitment.recipients, commitment.digests, strict=True
                ):
                    if recipient == self._me:
                        found[commitment.sender] = digest
        return found

    def _fetch_note(self, epoch: int, kind: int, sender: str, digest: bytes) -> bytes:
        with self.timer.measure(epoch, "storage"):
            blob = self.store.get(ContentId.from_commitment(digest))
        with self.timer.measure(epoch, "crypto"):
            return open_note(
                blob, ctx=self._note_context(epoch, kind, self._me, sender=sender),
                keys=self.identity.keys,
            )

    def _subset(self, owner: str, epoch: int) -> npt.NDArray[np.int64]:
        peer = self._peer(owner)
        return evaluation_indices(
            chain_id=self._chain_id, contract=self._contract, owner=address_bytes(owner),
            epoch=epoch, released=peer.samples_released, count=self.config.eval_samples,
        )

    def _evaluation_step(self, epoch: int) -> bool:
        return self._send_labels(epoch) or self._assess(epoch) or self._vote(epoch)

    def _send_labels(self, epoch: int) -> bool:
        if ("labels", epoch) in self._done:
            return False
        with self.timer.measure(epoch, "chain"):
            if self.ledger.message_commitments(epoch, self._kind_labels, self._me):
                self._done.add(("labels", epoch))
                return False
        recipients: list[str] = []
        digests: list[bytes] = []
        for owner in self._credible_others():
            samples = self._released_samples(owner)
            images = samples.subset(self._subset(owner, epoch))
            with self.timer.measure(epoch, "evaluation"):
                labels = self.learner.label(images)
            message = LabelMessage(epoch, labels.astype(np.uint8))
            with self.timer.measure(epoch, "crypto"):
                note = seal_note(
                    message.to_bytes(),
                    ctx=self._note_context(epoch, self._kind_labels, owner),
                    recipient=self._peer(owner).public,
                )
            with self.timer.measure(epoch, "storage"):
                cid = self.store.put(note)
            self.retention.track(cid, epoch)
            recipients.append(owner)
            digests.append(cid.commitment)
        with self.timer.measure(epoch, "chain"):
            self.ledger.commit_messages(epoch, self._kind_labels, recipients, digests)
        self._done.add(("labels", epoch))
        return True

    def _assess(self, epoch: int) -> bool:
        if self.state.assessed_epoch >= epoch and self.state.assessed_any:
            return False
        others = self._credible_others()
        notes = self._notes_to_me(epoch, self._kind_labels)
        if not set(others) <= set(notes) and not self._deadline_passed(epoch):
            return False  # wait for the others' labels (or the deadline)
        own = self._released_samples(self._me)
        subset = self._subset(self._me, epoch)
        with self.timer.measure(epoch, "evaluation"):
            rows = [self.learner.label(own.subset(subset))]
        ids = [self._me]
        for sender in others:
            if sender not in notes:
                continue
            try:
                plain = self._fetch_note(epoch, self._kind_labels, sender, notes[sender])
                message = LabelMessage.from_bytes(plain)
                if message.epoch != epoch or len(message.labels) != len(subset):
                    raise MessageFormatError("labels for another epoch or subset")
            except (StorageError, CryptoError, MessageFormatError) as err:
                self.state.record("bad_labels", round=epoch, sender=sender, error=str(err))
                continue
            rows.append(message.labels.astype(np.int64))
            ids.append(sender)
        if len(ids) >= 2:
            self.state.credibility = self._updated_credibility(
                epoch, others, credibility_from_labels(np.stack(rows), ids, owner=self._me)
            )
        with self.timer.measure(epoch, "chain"):
            threshold = self.ledger.credibility_threshold()
        suspects = sorted(
            low_quality(self.state.credibility, (threshold.numerator, threshold.denominator))
        )
        suspects = [s for s in suspects if s in others]
        self._save()
        if suspects:
            try:
                with self.timer.measure(epoch, "chain"):
                    self.ledger.report_low_quality(epoch, suspects)
            except LedgerError as err:
                log.debug("report by %s not accepted: %s", self._me, err)
            self.state.record("reported", round=epoch, suspects=suspects)
        self.state.assessed_epoch = epoch
        self.state.assessed_any = True
        self._save()
        return True

    def _updated_credibility(
        self, epoch: int, others: list[str], fresh: dict[str, Fraction]
    ) -> dict[str, Fraction]:
        """Fold this epoch's evaluation (over the parties that answered) into the history.

        In benchmarking a party that sent no labels matched nothing. In a round, silence is no
        evidence either way (the party may have crashed and will rejoin): it keeps its share.
        """
        silent = [p for p in others if p not in fresh]
        if epoch == 0 or not self.state.credibility:
            return normalise({**fresh, **{p: Fraction(0) for p in silent}}, others)
        old = self._credibility_over(others)
        kept = sum((old[p] for p in silent), Fraction(0))
        current = {p: c * (1 - kept) for p, c in fresh.items()}
        current.update({p: old[p] for p in silent})
        return update_credibility(old, current)

    def _vote(self, epoch: int) -> bool:
        # Vote only once this epoch's reports are in: the vote may close the epoch.
        if ("vote", epoch) in self._done or not (
            self.state.assessed_any and self.state.assessed_epoch >= epoch
        ):
            return False
        self._done.add(("vote", epoch))
        try:
            with self.timer.measure(epoch, "chain"):
                self.ledger.close_round()
        except LedgerError as err:
            log.debug("close vote by %s: %s", self._me, err)
        with self.timer.measure(epoch, "storage"):
            self.retention.collect(epoch)
        return True

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

