"""The narrow interface every store implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from storage.cid import ContentId


@dataclass(frozen=True, slots=True)
class GcResult:
    """What one garbage collection reclaimed.

    Attributes
    ----------
    objects
        Number of objects (embedded, memory) or blocks (IPFS) removed.
    bytes
        Bytes reclaimed (for IPFS: the drop of the repository size, never negative).
    """

    objects: int
    bytes: int


@runtime_checkable
class ContentStore(Protocol):
    """Content-addressed storage of opaque byte strings (fppdl stores ciphertext envelopes).

    All backends give the same :class:`ContentId` for the same bytes, and ``get`` never returns
    bytes that do not hash to the requested id.
    """

    def put(self, data: bytes, *, pin: bool = True) -> ContentId:
        """Store ``data`` (pinned unless ``pin=False``) and return its content id."""
        ...

    def get(self, cid: ContentId, *, max_size: int | None = None) -> bytes:
        """Return the verified bytes of ``cid``; raise NotFound or IntegrityError.

        With ``max_size``, an object larger than that many bytes raises ``TooLarge`` before
        more than ``max_size + 1`` bytes are read (content committed by a peer is bounded).
        """
        ...

    def has(self, cid: ContentId) -> bool:
        """Whether the store holds ``cid`` locally (no network fetch, no verification)."""
        ...

    def pin(self, cid: ContentId) -> None:
        """Protect a held object from :meth:`gc`; raise NotFound if it is not held."""
        ...

    def unpin(self, cid: ContentId) -> None:
        """Make ``cid`` collectable by :meth:`gc`; a no-op if it is not pinned."""
        ...

    def is_pinned(self, cid: ContentId) -> bool:
        """Whether ``cid`` is pinned (directly)."""
        ...

    def gc(self) -> GcResult:
        """Delete every unpinned object and report what was reclaimed."""
        ...

    def close(self) -> None:
        """Release connections and handles; the store is unusable afterwards."""
        ...
