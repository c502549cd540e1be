"""Versioned canonical envelope byte format and its strict parser.

Layout (all integers big-endian)::

    header:
      magic "FPDL" | version u8 | suite u8 | chain_id u64 | contract[20] | round u64
      | sender[20] | receiver[20] | context_digest[32] | ring_bits u8 | max_senders u32
      | n_segments u16 | n_segments x (length u32 | frac_bits u8)
      | key_commit[32] | n_commits u16 | n_commits x pair_commit[32]
    body:
      wrapped_len u16 | wrapped (HPKE enc || ct) | nonce[12]
      | payload_len u32 | payload (AES-256-GCM ciphertext || tag)

The header is public: it is the layer-2 associated data and, hashed, the layer-3 HPKE info.
``context_digest`` binds the ordered sender set and k_n; ``key_commit`` makes layer 2
key-committing (needed for disputes); ``pair_commit`` i commits to the seed shared with the
i-th neighbour (sorted by address) so recovery seeds and dispute disclosures can be checked.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from client.crypto.constants import (
    ADDRESS_LEN,
    COMMIT_LEN,
    DIGEST_LEN,
    ENVELOPE_MAGIC,
    ENVELOPE_VERSION,
    MAX_U16,
    NONCE_LEN,
    TAG_LEN,
)
from client.crypto.errors import DecryptionError
from client.crypto.hpke_wrap import WRAPPED_LEN, WrapSuite
from client.crypto.quantize import QuantizationError, QuantParams, Segment

_FIXED = struct.Struct(f">4sBBQ{ADDRESS_LEN}sQ{ADDRESS_LEN}s{ADDRESS_LEN}s{DIGEST_LEN}sBIH")
_SEGMENT = struct.Struct(">IB")


@dataclass(frozen=True)
class EnvelopeHeader:
    """Public, authenticated header of one sealed message."""

    suite: WrapSuite
    chain_id: int
    contract: bytes
    round: int
    sender: bytes
    receiver: bytes
    context_digest: bytes
    quant: QuantParams
    key_commit: bytes
    pair_commits: tuple[bytes, ...]

    def to_bytes(self) -> bytes:
        """Canonical encoding (the layer-2 associated data)."""
        if len(self.pair_commits) > MAX_U16:
            raise ValueError("too many pair commitments")
        parts = [
            _FIXED.pack(
                ENVELOPE_MAGIC,
                ENVELOPE_VERSION,
                int(self.suite),
                self.chain_id,
                self.contract,
                self.round,
                self.sender,
                self.receiver,
                self.context_digest,
                self.quant.bits,
                self.quant.max_senders,
                len(self.quant.segments),
            )
        ]
        parts += [_SEGMENT.pack(s.length, s.frac_bits) for s in self.quant.segments]
        parts += [self.key_commit, struct.pack(">H", len(self.pair_commits)), *self.pair_commits]
        return b"".join(parts)


@dataclass(frozen=True)
class Envelope:
    """A parsed envelope: header plus the three encrypted parts."""

    header: EnvelopeHeader
    header_bytes: bytes
    wrapped_key: bytes
    nonce: bytes
    payload: bytes | memoryview  # a view into the parsed blob: no copy of 0.5 MB

    def to_bytes(self) -> bytes:
        """Serialise (inverse of :func:`parse_envelope`)."""
        return b"".join(
            (
                self.header_bytes,
                struct.pack(">H", len(self.wrapped_key)),
                self.wrapped_key,
                self.nonce,
                struct.pack(">I", len(self.payload)),
                self.payload,
            )
        )


class _Reader:
    """Bounds-checked reader: every short read is a :class:`DecryptionError`."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DecryptionError()
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def view(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise DecryptionError()
        out = memoryview(self.data)[self.pos : self.pos + n]
        self.pos += n
        return out

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")


def parse_envelope(blob: bytes) -> Envelope:
    """Parse envelope bytes, rejecting anything malformed, truncated or with trailing data.

    Raises
    ------
    DecryptionError
        For every malformed input (deliberately opaque).
    """
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise DecryptionError()
    r = _Reader(bytes(blob))
    if r.take(len(ENVELOPE_MAGIC)) != ENVELOPE_MAGIC or r.uint(1) != ENVELOPE_VERSION:
        raise DecryptionError()
    try:
        suite = WrapSuite(r.uint(1))
    except ValueError:
        raise DecryptionError() from None
    chain_id = r.uint(8)
    contract = r.take(ADDRESS_LEN)
    rnd = r.uint(8)
    sender = r.take(ADDRESS_LEN)
    receiver = r.take(ADDRESS_LEN)
    digest = r.take(DIGEST_LEN)
    bits, max_senders, n_segments = r.uint(1), r.uint(4), r.uint(2)
    segments = tuple(Segment(r.uint(4), r.uint(1)) for _ in range(n_segments))
    try:
        quant = QuantParams(bits, max_senders, segments)
    except QuantizationError:
        raise DecryptionError() from None
    key_commit = r.take(COMMIT_LEN)
    commits = tuple(r.take(COMMIT_LEN) for _ in range(r.uint(2)))
    header_bytes = r.data[: r.pos]
    if r.uint(2) != WRAPPED_LEN[suite]:
        raise DecryptionError()
    wrapped = r.take(WRAPPED_LEN[suite])
    nonce = r.take(NONCE_LEN)
    payload_len = r.uint(4)
    if payload_len != quant.length * quant.element_bytes + TAG_LEN:
        raise DecryptionError()
    payload = r.view(payload_len)
    if r.pos != len(r.data):
        raise DecryptionError()
    header = EnvelopeHeader(
        suite, chain_id, contract, rnd, sender, receiver, digest, quant, key_commit, commits
    )
    return Envelope(header, header_bytes, wrapped, nonce, payload)
