"""Mutual evaluation (Algorithm 1 steps 3-5, Algorithm 2 steps 4-6) of one party.

Each epoch a party labels a chain-seeded subset of every other party's released samples with
its current model and sends the labels privately to the owner; each owner compares the labels
it received with its own, folds the result into its local credibility of the others, reports
the parties below the ledger's threshold and votes to close the epoch.
"""

from __future__ import annotations

import logging
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from client.chain.errors import LedgerError
from client.chain.ledger import Ledger
from client.crypto import CryptoError
from client.errors import FppdlError
from client.protocol.config import ProtocolConfig
from client.protocol.learner import Learner
from client.protocol.mailbox import Mailbox
from client.protocol.messages import LabelMessage, MessageFormatError, evaluation_indices
from client.protocol.peers import PeerDirectory, address_bytes
from client.protocol.state import PartyState
from storage import StorageError
from trainer.credibility import (
    better_than_chance,
    credibility_from_labels,
    intended_matches,
    normalise,
    suspects,
    update_credibility,
)
from trainer.data import NUM_CLASSES

log = logging.getLogger(__name__)


class ProtocolStateError(FppdlError, RuntimeError):
    """The party's own published data is unusable (a bug or a lost store, never a peer's)."""


def credibility_over(state: PartyState, members: list[str]) -> dict[str, Fraction]:
    """Return the local credibility of ``members``, a newcomer getting an equal share."""
    if not members:
        return {}
    known = {p: c for p, c in state.credibility.items() if p in members}
    for p in members:
        known.setdefault(p, Fraction(1, len(members)))
    return normalise(known, members)


class MutualEvaluation:
    """The labelling, assessment, reporting and closing vote of one party."""

    def __init__(
        self,
        *,
        me: str,
        ledger: Ledger,
        learner: Learner,
        peers: PeerDirectory,
        mailbox: Mailbox,
        state: PartyState,
        config: ProtocolConfig,
        kind: int,
        sample_classes: npt.NDArray[np.int64] | None = None,
    ) -> None:
        self._me = me
        self._ledger = ledger
        self._learner = learner
        self._peers = peers
        self._mailbox = mailbox
        self._state = state
        self._config = config
        self._kind = kind
        self._classes = sample_classes
        self._chain_id = int(ledger.w3.eth.chain_id)
        self._contract = address_bytes(ledger.address)

    def subset(self, owner: str, epoch: int) -> npt.NDArray[np.int64]:
        """Return the indices of ``owner``'s released samples evaluated in ``epoch``."""
        return evaluation_indices(
            chain_id=self._chain_id, contract=self._contract, owner=address_bytes(owner),
            epoch=epoch, released=self._peers.get(owner).samples_released,
            count=self._config.eval_samples,
        )

    def send_labels(self, epoch: int, others: list[str]) -> bool:
        """Label every other party's subset and send the labels to it; return whether sent."""
        if self._mailbox.sent(epoch, self._kind):
            return False
        notes = []
        for owner in others:
            released = self._peers.samples(owner)
            if released is None:
                continue  # its samples are unusable: a fault reported at the assessment
            labels = self._learner.label(released.subset(self.subset(owner, epoch)))
            notes.append((owner, LabelMessage(epoch, labels.astype(np.uint8)).to_bytes()))
        self._mailbox.send(epoch, self._kind, notes)
        return True

    def assess(self, epoch: int, others: list[str], deadline_passed: bool) -> bool:
        """Fold the received labels into credibility and report; False while still waiting."""
        inbox = self._mailbox.inbox(epoch, self._kind)
        awaited = {p for p in others if self._peers.usable(p)}
        if not awaited <= set(inbox) and not deadline_passed:
            return False  # wait for the others' labels (or the deadline)
        own = self._peers.samples(self._me)
        if own is None:
            raise ProtocolStateError(f"{self._me} cannot read its own released samples")
        subset = self.subset(self._me, epoch)
        rows = [self._learner.label(own.subset(subset))]
        ids = [self._me]
        for sender in others:
            if sender not in inbox:
                continue
            try:
                message = LabelMessage.from_bytes(
                    self._mailbox.read(epoch, self._kind, sender, inbox[sender])
                )
                if message.epoch != epoch or len(message.labels) != len(subset):
                    raise MessageFormatError("labels for another epoch or subset")
                if message.labels.max(initial=0) >= NUM_CLASSES:
                    raise MessageFormatError("labels outside the classes")
            except (StorageError, CryptoError, MessageFormatError) as err:
                self._state.record("bad_labels", round=epoch, sender=sender, error=str(err))
                continue
            rows.append(message.labels.astype(np.int64))
            ids.append(sender)
        matrix = np.stack(rows)
        if len(ids) >= 2:
            self._state.credibility = self._updated(
                epoch, others, credibility_from_labels(matrix, ids, owner=self._me)
            )
        threshold = self._ledger.credibility_threshold()
        # Below the ledger's threshold AND labels no better than random against the classes
        # this party drew its samples for (a weak but honest model beats chance, a free-rider
        # does not); a party whose registration or samples are unusable is reported whatever
        # its labels.
        low: set[str] = set()
        if self._classes is not None:
            matches = intended_matches(matrix, ids, self._classes[subset])
            low = suspects(self._state.credibility, matches, len(subset),
                           (threshold.numerator, threshold.denominator), owner=self._me,
                           classes=NUM_CLASSES)
            if not better_than_chance(matches[self._me], len(subset), classes=NUM_CLASSES):
                self._state.record("samples_uninformative", round=epoch,
                                   own_matches=matches[self._me], samples=len(subset))
        faulty = {p for p in others if not self._peers.usable(p)}
        reported = sorted({p for p in low if p in others} | faulty)
        if reported:
            try:
                self._ledger.report_low_quality(epoch, reported)
            except LedgerError as err:
                log.debug("report by %s not accepted: %s", self._me, err)
            self._state.record("reported", round=epoch, suspects=reported)
        self._state.assessed_epoch = epoch
        self._state.assessed_any = True
        return True

    def _updated(
        self, epoch: int, others: list[str], fresh: dict[str, Fraction]
    ) -> dict[str, Fraction]:
        """Fold this epoch's evaluation (over the parties that answered) into the history.

        In benchmarking a party that sent no labels matched nothing. In a round, silence is no
        evidence either way (the party may have crashed and will rejoin): it keeps its share.
        """
        silent = [p for p in others if p not in fresh]
        if epoch == 0 or not self._state.credibility:
            return normalise({**fresh, **{p: Fraction(0) for p in silent}}, others)
        old = credibility_over(self._state, others)
        kept = sum((old[p] for p in silent), Fraction(0))
        current = {p: c * (1 - kept) for p, c in fresh.items()}
        current.update({p: old[p] for p in silent})
        return update_credibility(old, current)

    def vote(self) -> None:
        """Vote to close the epoch (a vote that lost a race, or came late, is harmless)."""
        try:
            self._ledger.close_round()
        except LedgerError as err:
            log.debug("close vote by %s: %s", self._me, err)
