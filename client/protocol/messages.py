"""Canonical byte encodings of the off-chain messages parties exchange through the store.

Every message is committed on-chain by the storage commitment of its (encrypted) bytes, so the
encodings are fixed-layout integers only: what is hashed is what is sent.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from client.errors import FppdlError

_LABELS_MAGIC = b"FPDLLBL1"
_LABELS_HEADER = struct.Struct(">8sQI")


class MessageFormatError(FppdlError, ValueError):
    """Bytes that do not decode to a well-formed protocol message."""


@dataclass(frozen=True, eq=False)
class LabelMessage:
    """Labels one party predicted for a subset of another party's released samples."""

    epoch: int
    labels: npt.NDArray[np.uint8]

    def to_bytes(self) -> bytes:
        """``magic | epoch u64 | count u32 | labels u8[count]``."""
        labels = np.ascontiguousarray(self.labels, dtype=np.uint8)
        return _LABELS_HEADER.pack(_LABELS_MAGIC, self.epoch, len(labels)) + labels.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> LabelMessage:
        """Decode :meth:`to_bytes`; raise :class:`MessageFormatError` if malformed."""
        if len(data) < _LABELS_HEADER.size:
            raise MessageFormatError("label message is truncated")
        magic, epoch, count = _LABELS_HEADER.unpack_from(data)
        if magic != _LABELS_MAGIC or len(data) != _LABELS_HEADER.size + count:
            raise MessageFormatError("label message has a bad header or length")
        labels = np.frombuffer(data, dtype=np.uint8, offset=_LABELS_HEADER.size).copy()
        return cls(int(epoch), labels)


def evaluation_indices(
    *, chain_id: int, contract: bytes, owner: bytes, epoch: int, released: int, count: int
) -> npt.NDArray[np.int64]:
    """Which of ``owner``'s released samples everyone labels in ``epoch``.

    Epoch 0 (initial benchmarking) labels every released sample, as in Algorithm 1. Later epochs
    label a fresh subset of ``count`` samples drawn from a generator keyed by the consortium,
    the owner and the epoch: every party derives the same subset and nobody chooses it.
    """
    if epoch == 0 or count >= released:
        return np.arange(released, dtype=np.int64)
    key = hashlib.sha256(
        b"fppdl/eval-subset/v1" + struct.pack(">QQ", chain_id, epoch) + contract + owner
    ).digest()
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(key, "big")))
    return np.sort(rng.choice(released, size=count, replace=False)).astype(np.int64)
