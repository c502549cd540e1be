"""Versioned canonical envelope byte format and its strict parser.

Layout (all integers big-endian)::

    header:
      magic "FPDL" | version u8 | suite u8 | chain_id u64 | contract[20] | round u64
      | sender[20] | receiver[20] | context_digest[32] | ring_bits u8 | max_senders u32
      | n_segments u16 | n_segments x (length u32 | frac_bits u8)
      | key_commit[32] | n_neighbours u16 | threshold u16 | self_commit[32]
      | n_neighbours x (pair_commit[32] | share_commit[32] | sealed_share[60])
    body:
      wrapped_len u16 | wrapped (HPKE enc || ct) | nonce[12]
      | payload_len u32 | payload (AES-256-GCM ciphertext || tag)

The header is public: it is the layer-2 associated data and, hashed, the layer-3 HPKE info.
``context_digest`` binds the ordered sender set, k_n and t; ``key_commit`` makes layer 2
key-committing (needed for disputes). Entry i belongs to the i-th neighbour (sorted by
address): ``pair_commit`` commits to the pair seed shared with it, ``share_commit`` to its
Shamir share of the self-mask seed (committed by ``self_commit``), and ``sealed_share`` is
that share encrypted to it (:mod:`.selfmask`). A one-sender request has no neighbours, no
self-mask, ``threshold = 0`` and an all-zero ``self_commit``.

Version 2 (double masking) replaced version 1 (pair masks only); version-1 bytes are refused.
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
    SEALED_SHARE_LEN,
    TAG_LEN,
)
from client.crypto.errors import DecryptionError
from client.crypto.hpke_wrap import WRAPPED_LEN, WrapSuite
from client.crypto.quantize import QuantizationError, QuantParams, Segment

_FIXED = struct.Struct(f">4sBBQ{ADDRESS_LEN}sQ{ADDRESS_LEN}s{ADDRESS_LEN}s{DIGEST_LEN}sBIH")
_SEGMENT = struct.Struct(">IB")
_ENTRY_LEN = 2 * COMMIT_LEN + SEALED_SHARE_LEN


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
    threshold: int
    self_commit: bytes
    share_commits: tuple[bytes, ...]
    sealed_shares: tuple[bytes, ...]

    @property
    def self_masked(self) -> bool:
        """Whether the envelope carries a self-mask (every request with two or more senders)."""
        return self.threshold > 0

    def to_bytes(self) -> bytes:
        """Return the canonical encoding (the layer-2 associated data)."""
        n = len(self.pair_commits)
        if n > MAX_U16 or not 0 <= self.threshold <= n:
            raise ValueError("too many neighbours or threshold out of range")
        if len(self.share_commits) != n or len(self.sealed_shares) != n:
            raise ValueError("one pair commitment, share commitment and share per neighbour")
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
        parts += [self.key_commit, struct.pack(">HH", n, self.threshold), self.self_commit]
        for entry in zip(self.pair_commits, self.share_commits, self.sealed_shares, strict=True):
            parts += entry
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
        """Return the serialised envelope (inverse of :func:`parse_envelope`)."""
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


def _read_header(r: _Reader) -> EnvelopeHeader:
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
    n, threshold = r.uint(2), r.uint(2)
    self_commit = r.take(COMMIT_LEN)
    if threshold > n or (n > 0) != (threshold > 0):
        raise DecryptionError()
    # One bounds check for the whole neighbour table (up to 65535 fixed-size entries).
    block = r.take(n * _ENTRY_LEN)
    starts = range(0, n * _ENTRY_LEN, _ENTRY_LEN)
    pairs = tuple(block[i : i + COMMIT_LEN] for i in starts)
    shares = tuple(block[i + COMMIT_LEN : i + 2 * COMMIT_LEN] for i in starts)
    sealed = tuple(block[i + 2 * COMMIT_LEN : i + _ENTRY_LEN] for i in starts)
    return EnvelopeHeader(
        suite, chain_id, contract, rnd, sender, receiver, digest, quant, key_commit,
        pairs, threshold, self_commit, shares, sealed,
    )


def parse_header(data: bytes | bytearray | memoryview) -> tuple[EnvelopeHeader, bytes]:
    """Parse only the public header at the front of ``data`` (an envelope or a prefix of one).

    A share holder needs nothing else. (A store serving verified byte ranges could hand it
    the first few kilobytes only; an unverified prefix must not be used, since a share read
    from anything but the committed envelope may belong to an envelope never uploaded.)

    Returns
    -------
    tuple
        The header and its exact bytes.

    Raises
    ------
    DecryptionError
        If the header is malformed or truncated.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecryptionError()
    r = _Reader(bytes(data))
    header = _read_header(r)
    return header, r.data[: r.pos]


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
    header = _read_header(r)
    header_bytes = r.data[: r.pos]
    suite = header.suite
    if r.uint(2) != WRAPPED_LEN[suite]:
        raise DecryptionError()
    wrapped = r.take(WRAPPED_LEN[suite])
    nonce = r.take(NONCE_LEN)
    payload_len = r.uint(4)
    if payload_len != header.quant.length * header.quant.element_bytes + TAG_LEN:
        raise DecryptionError()
    payload = r.view(payload_len)
    if r.pos != len(r.data):
        raise DecryptionError()
    return Envelope(header, header_bytes, wrapped, nonce, payload)
