"""An in-memory store for the experiment runner: same CIDs as IPFS, bounded memory."""

from __future__ import annotations

import threading

from storage.base import GcResult
from storage.cid import ContentId
from storage.errors import NotFound, StorageError, StoreFull, TooLarge
from storage.unixfs import compute_cid, verify


class MemoryStore:
    """Objects held in a dict, with an optional bound on the bytes held.

    Parameters
    ----------
    max_bytes
        Upper bound on the total size of held objects (pinned or not); ``None`` for no bound.
        A ``put`` that would exceed it raises :class:`StoreFull` and stores nothing.
    """

    def __init__(self, max_bytes: int | None = None) -> None:
        if max_bytes is not None and max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self._max_bytes = max_bytes
        self._objects: dict[ContentId, bytes] = {}
        self._pins: set[ContentId] = set()
        self._held = 0
        self._lock = threading.Lock()
        self._closed = False

    @property
    def held_bytes(self) -> int:
        """Total size of the objects currently held."""
        return self._held

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("memory store is closed")

    def put(self, data: bytes, *, pin: bool = True) -> ContentId:
        """Store ``data`` and return its content id (see :class:`storage.ContentStore`)."""
        cid = compute_cid(data)
        data = bytes(data)
        with self._lock:
            self._check_open()
            if cid not in self._objects:
                if self._max_bytes is not None and self._held + len(data) > self._max_bytes:
                    raise StoreFull(
                        f"memory store holds {self._held} of {self._max_bytes} bytes; "
                        f"no room for {len(data)} more (unpin and gc old rounds)"
                    )
                self._objects[cid] = data
                self._held += len(data)
            if pin:
                self._pins.add(cid)
        return cid

    def get(self, cid: ContentId, *, max_size: int | None = None) -> bytes:
        """Return the verified bytes of ``cid`` (at most ``max_size`` bytes)."""
        with self._lock:
            self._check_open()
            data = self._objects.get(cid)
        if data is None:
            raise NotFound(f"{cid} is not in the memory store")
        if max_size is not None and len(data) > max_size:
            raise TooLarge(f"{cid} is over {max_size} bytes in the memory store")
        return verify(cid, data, "memory store")

    def has(self, cid: ContentId) -> bool:
        """Whether ``cid`` is held."""
        with self._lock:
            self._check_open()
            return cid in self._objects

    def pin(self, cid: ContentId) -> None:
        """Pin a held object."""
        with self._lock:
            self._check_open()
            if cid not in self._objects:
                raise NotFound(f"cannot pin {cid}: it is not in the memory store")
            self._pins.add(cid)

    def unpin(self, cid: ContentId) -> None:
        """Unpin ``cid`` (no-op when not pinned)."""
        with self._lock:
            self._check_open()
            self._pins.discard(cid)

    def is_pinned(self, cid: ContentId) -> bool:
        """Whether ``cid`` is pinned."""
        with self._lock:
            return cid in self._pins

    def gc(self) -> GcResult:
        """Drop every unpinned object."""
        with self._lock:
            self._check_open()
            doomed = [cid for cid in self._objects if cid not in self._pins]
            freed = 0
            for cid in doomed:
                freed += len(self._objects.pop(cid))
            self._held -= freed
        return GcResult(objects=len(doomed), bytes=freed)

    def close(self) -> None:
        """Drop everything held."""
        with self._lock:
            self._objects.clear()
            self._pins.clear()
            self._held = 0
            self._closed = True

    def __repr__(self) -> str:
        return f"MemoryStore(max_bytes={self._max_bytes})"
