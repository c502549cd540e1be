"""Unpinning what a party no longer has to keep once the ledger's claim windows are over.

A round's envelopes, notes and dispute openings stay retained (pinned in the store, kept
0600 on disk, remembered by the reveal guard) until the ledger's ``retainedUntil`` block of
that round has passed, and never for fewer than the configured number of rounds.
"""

from __future__ import annotations

from pathlib import Path

from client.chain.ledger import Ledger
from client.protocol.masking import DoubleMasking
from client.protocol.state import PartyState
from storage import ContentStore, Retention, StorageError


class Housekeeping:
    """Releases one party's retained content round by round.

    Parameters
    ----------
    ledger, store, retention, state, masking
        The party's components (shared, not owned).
    state_dir : Path
        The party's state folder (its kept envelopes and openings).
    keep_rounds : int
        Fewest rounds kept whatever the ledger allows.
    """

    def __init__(
        self, *, ledger: Ledger, store: ContentStore, retention: Retention, state: PartyState,
        masking: DoubleMasking, state_dir: Path, keep_rounds: int,
    ) -> None:
        self.ledger = ledger
        self.store = store
        self.retention = retention
        self.state = state
        self.masking = masking
        self.state_dir = state_dir
        self.keep_rounds = keep_rounds
        #: Rounds below this one have been released.
        self.released_before = 1

    def release(self, epoch: int) -> None:
        """Unpin what the ledger no longer needs retained at ``epoch``; prune kept files."""
        block = self.ledger.block_number()
        horizon = self.released_before
        while horizon < epoch - self.keep_rounds:
            until = self.ledger.retained_until(horizon)
            if until == 0 or block < until:
                break
            horizon += 1
        if horizon == self.released_before:
            return
        self.released_before = horizon
        try:
            self.retention.release_before(horizon)
            self.store.gc()
        except StorageError as err:
            # Housekeeping of this party's own pins: a store that fails it stops nothing.
            self.state.record("gc_failed", round=epoch, error=f"{type(err).__name__}: {err}")
        PartyState.prune_kept(self.state_dir, horizon)
        self.masking.prune(horizon)
