"""Pin lifecycle: keep a round's uploads pinned until its dispute window has passed."""

from __future__ import annotations

from storage.base import ContentStore, GcResult
from storage.cid import ContentId


class Retention:
    """Round-based retention of pinned objects.

    A party tracks every object it must keep (its uploads, downloaded envelopes it may need
    as evidence) under the round it belongs to.  When round ``r`` is current, objects of rounds
    ``< r - rounds`` are unpinned, so the last ``rounds`` finished rounds stay available for
    disputes; :meth:`gc` then reclaims their space.

    Parameters
    ----------
    store
        The store holding the objects.
    rounds
        How many past rounds to keep pinned besides the current one (>= 0).
    """

    def __init__(self, store: ContentStore, *, rounds: int) -> None:
        if rounds < 0:
            raise ValueError(f"retention must be >= 0 rounds, got {rounds}")
        self._store = store
        self._rounds = rounds
        self._round_of: dict[ContentId, int] = {}

    @property
    def rounds(self) -> int:
        """Number of past rounds kept pinned."""
        return self._rounds

    def track(self, cid: ContentId, round_number: int) -> None:
        """Keep ``cid`` pinned at least until ``round_number`` leaves the retention window.

        Pins it in the store too (a no-op when ``put`` already pinned it).
        """
        if round_number < 0:
            raise ValueError(f"round numbers are >= 0, got {round_number}")
        self._store.pin(cid)
        self._round_of[cid] = max(round_number, self._round_of.get(cid, round_number))

    def tracked(self) -> dict[ContentId, int]:
        """Return a copy of the tracked objects and the latest round each is needed for."""
        return dict(self._round_of)

    def release_before(self, round_number: int) -> list[ContentId]:
        """Unpin every tracked object whose round is ``< round_number``; return them."""
        released = [cid for cid, r in self._round_of.items() if r < round_number]
        for cid in released:
            self._store.unpin(cid)
            del self._round_of[cid]
        return released

    def advance(self, current_round: int) -> list[ContentId]:
        """Unpin what falls out of the window when ``current_round`` is the current round."""
        return self.release_before(current_round - self._rounds)

    def collect(self, current_round: int) -> GcResult:
        """:meth:`advance` then garbage-collect the store."""
        self.advance(current_round)
        return self._store.gc()
