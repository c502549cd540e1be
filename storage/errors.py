"""The storage error hierarchy: one root, each subclass also a standard Python exception type."""

from __future__ import annotations


class StorageError(Exception):
    """Root of every error raised by :mod:`storage`."""


class InvalidContentId(StorageError, ValueError):
    """A string or byte string is not a CID fppdl can commit to (CIDv1/v0, dag-pb, sha2-256)."""


class InvalidStoreSpec(StorageError, ValueError):
    """A store specification given to :func:`storage.open_store` cannot be understood."""


class NotFound(StorageError, LookupError):
    """The requested object is not held by (or not retrievable through) the store."""


class TooLarge(StorageError, ValueError):
    """An object is larger than the caller's bound (a peer committed something oversized)."""


class IntegrityError(StorageError, ValueError):
    """Bytes returned for a content id do not hash to that content id."""


class StoreUnavailable(StorageError, ConnectionError):
    """The backing service (an IPFS RPC API) did not answer after bounded retries."""


class StoreFull(StorageError, OSError):
    """The store has no room for the object; nothing of the object is visible afterwards."""
