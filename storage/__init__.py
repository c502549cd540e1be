"""Content-addressed storage of ciphertexts (IPFS Kubo RPC, embedded on-disk, in-memory).

Every backend assigns the same :class:`ContentId` to the same bytes (CIDv1, dag-pb, sha2-256,
the fixed add options of :mod:`storage.unixfs`); :attr:`ContentId.commitment` is the
``bytes32`` to put on-chain and :meth:`ContentId.from_commitment` turns it back into the CID.
"""

from storage.base import ContentStore, GcResult
from storage.cid import ContentId
from storage.embedded import EmbeddedStore
from storage.errors import (
    IntegrityError,
    InvalidContentId,
    InvalidStoreSpec,
    NotFound,
    StorageError,
    StoreFull,
    StoreUnavailable,
    TooLarge,
)
from storage.ipfs import IpfsStore
from storage.memory import MemoryStore
from storage.retention import Retention
from storage.spec import open_store
from storage.unixfs import compute_cid

__all__ = [
    "ContentId",
    "ContentStore",
    "EmbeddedStore",
    "GcResult",
    "IntegrityError",
    "InvalidContentId",
    "InvalidStoreSpec",
    "IpfsStore",
    "MemoryStore",
    "NotFound",
    "Retention",
    "StorageError",
    "StoreFull",
    "StoreUnavailable",
    "TooLarge",
    "compute_cid",
    "open_store",
]
