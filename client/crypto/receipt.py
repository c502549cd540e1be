"""The receiver's receipt: which envelopes of its request it accepts, published before unmasking.

After the upload deadline the receiver opens the envelopes the chain shows (layers 3-2 only:
they stay double-masked), then publishes ONE receipt for the request: for every sender,
either "accepted" with the on-chain digest of its envelope, or an exclusion reason. The
receipt is public (its digest is committed on-chain, kind ``receipt``), so every neighbour
decides what to reveal from the same bytes; the contract must accept one receipt per
(round, requester) and never a second.

The accepted set A must be non-empty only if it is connected in the request's public
neighbour graph and holds at least ``min_accepted`` senders (the deployment's
``minUploaders``). Connectivity matters when k_n < n - 1: the receiver learns the sum of
each connected component of A separately, and a lone accepted sender would be a sum of
one. :func:`make_receipt` therefore keeps the largest connected component of the senders the
receiver could use and demotes the others (``DISCONNECTED``), or accepts nobody if that
component is too small (``BELOW_MINIMUM``).

Encoding (big-endian): ``magic "FPRC" | version u8 | context_digest[32] | n u16 |
n x (status u8 | digest[32])`` with one entry per sender in the request's order; status 0 is
accepted, otherwise an :class:`Exclusion`; the digest is all-zero for a sender with no upload.
"""

from __future__ import annotations

import enum
import hmac
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from client.crypto.constants import (
    DEFAULT_MIN_ACCEPTED,
    DIGEST_LEN,
    RECEIPT_MAGIC,
    RECEIPT_VERSION,
)
from client.crypto.context import RoundContext, check_address
from client.crypto.errors import ContextError, InvalidReceiptError

ACCEPTED = 0
_HEAD = struct.Struct(f">4sB{DIGEST_LEN}sH")
_ENTRY = struct.Struct(f">B{DIGEST_LEN}s")
_NO_DIGEST = bytes(DIGEST_LEN)


class Exclusion(enum.IntEnum):
    """Why a receipt does not accept a sender (the status byte of its entry)."""

    #: The chain shows no upload by the deadline (reverted, late, crashed, silent).
    NOT_UPLOADED = 1
    #: The committed content is not in the store.
    MISSING = 2
    #: Layers 3-2 do not open (wrong key, tampered, wrong header).
    UNDECRYPTABLE = 3
    #: Opens, but the receiver refuses it (e.g. parameters it cannot use).
    MALFORMED = 4
    #: Usable, but outside the largest connected group of usable senders.
    DISCONNECTED = 5
    #: Usable, but the usable group is smaller than ``min_accepted``.
    BELOW_MINIMUM = 6
    #: Removed from the consortium during the round.
    REMOVED = 7


_STATUSES = frozenset({ACCEPTED, *(int(e) for e in Exclusion)})


@dataclass(frozen=True)
class Receipt:
    """One receiver's public verdict on every envelope of its request.

    Parameters
    ----------
    context_digest : bytes
        Digest of the request's :class:`RoundContext`.
    senders : tuple of bytes
        The request's senders, in its order.
    statuses : tuple of int
        ``ACCEPTED`` (0) or an :class:`Exclusion` value per sender.
    digests : tuple of bytes
        On-chain digest of each sender's envelope (all-zero when it uploaded nothing).
    """

    context_digest: bytes
    senders: tuple[bytes, ...]
    statuses: tuple[int, ...]
    digests: tuple[bytes, ...]

    def __post_init__(self) -> None:
        n = len(self.senders)
        if len(self.statuses) != n or len(self.digests) != n:
            raise ContextError("a receipt needs one status and one digest per sender")
        for status, digest in zip(self.statuses, self.digests, strict=True):
            if status not in _STATUSES:
                raise ContextError(f"unknown receipt status {status}")
            if len(digest) != DIGEST_LEN:
                raise ContextError("receipt digests are 32 bytes")
            if status == ACCEPTED and digest == _NO_DIGEST:
                raise ContextError("an accepted entry needs the envelope's digest")

    @property
    def accepted(self) -> dict[bytes, bytes]:
        """Return accepted sender -> envelope digest, in the request's order."""
        return {
            s: d
            for s, st, d in zip(self.senders, self.statuses, self.digests, strict=True)
            if st == ACCEPTED
        }

    @property
    def excluded(self) -> dict[bytes, Exclusion]:
        """Return excluded sender -> reason, in the request's order."""
        return {
            s: Exclusion(st)
            for s, st in zip(self.senders, self.statuses, strict=True)
            if st != ACCEPTED
        }

    def to_bytes(self) -> bytes:
        """Return the canonical encoding (what the receiver stores and commits on-chain)."""
        head = _HEAD.pack(RECEIPT_MAGIC, RECEIPT_VERSION, self.context_digest, len(self.senders))
        return head + b"".join(
            _ENTRY.pack(st, d) for st, d in zip(self.statuses, self.digests, strict=True)
        )

    @classmethod
    def from_bytes(cls, data: bytes, *, ctx: RoundContext) -> Receipt:
        """Parse a receipt of request ``ctx``.

        Raises
        ------
        InvalidReceiptError
            If the bytes are malformed or belong to another request (culprit: the receiver).
        """
        data = bytes(data)
        n = len(ctx.senders)

        def bad(why: str) -> InvalidReceiptError:
            return InvalidReceiptError(
                f"receipt of 0x{ctx.receiver.hex()}: {why}", culprit=ctx.receiver
            )

        if len(data) != _HEAD.size + n * _ENTRY.size:
            raise bad("wrong length")
        magic, version, digest, count = _HEAD.unpack_from(data)
        if magic != RECEIPT_MAGIC or version != RECEIPT_VERSION:
            raise bad("bad magic or version")
        if not hmac.compare_digest(digest, ctx.digest) or count != n:
            raise bad("belongs to another request")
        statuses, digests = [], []
        for i in range(n):
            status, entry_digest = _ENTRY.unpack_from(data, _HEAD.size + i * _ENTRY.size)
            statuses.append(status)
            digests.append(entry_digest)
        try:
            return cls(ctx.digest, ctx.senders, tuple(statuses), tuple(digests))
        except ContextError as exc:
            raise bad(str(exc)) from None


def components(ctx: RoundContext, members: Iterable[bytes]) -> list[frozenset[bytes]]:
    """Return the connected components of ``members`` in the request's neighbour graph.

    Sorted largest first; among equal sizes, the one holding the smallest address first.
    """
    pending = set(members)
    found = []
    while pending:
        start = min(pending)
        group, frontier = {start}, [start]
        while frontier:
            node = frontier.pop()
            for peer in ctx.neighbours_of(node):
                if peer in pending and peer not in group:
                    group.add(peer)
                    frontier.append(peer)
        pending -= group
        found.append(frozenset(group))
    return sorted(found, key=lambda g: (-len(g), min(g)))


def _check_min(min_accepted: int) -> None:
    if isinstance(min_accepted, bool) or not isinstance(min_accepted, int) or min_accepted < 1:
        raise ContextError(f"min_accepted must be a positive integer, got {min_accepted!r}")


def _check_uploads(ctx: RoundContext, uploads: Mapping[bytes, bytes]) -> dict[bytes, bytes]:
    out = {}
    for sender, digest in uploads.items():
        sender = ctx.require_sender(check_address(sender, "uploader"))
        if not isinstance(digest, bytes) or len(digest) != DIGEST_LEN or digest == _NO_DIGEST:
            raise ContextError(f"upload digest of 0x{sender.hex()} must be 32 non-zero bytes")
        out[sender] = digest
    return out


def make_receipt(
    ctx: RoundContext,
    *,
    uploads: Mapping[bytes, bytes],
    rejected: Mapping[bytes, Exclusion] | None = None,
    min_accepted: int = DEFAULT_MIN_ACCEPTED,
) -> Receipt:
    """Build the receipt of request ``ctx`` (called by its receiver once).

    Parameters
    ----------
    ctx : RoundContext
        The receiver's request.
    uploads : mapping
        Sender -> 32-byte digest of its upload to this receiver, as the chain shows it after
        the deadline.
    rejected : mapping, optional
        Senders the receiver will not use, with the reason (content missing, does not open,
        ...). Any sender may be listed; one absent from ``uploads`` is ``NOT_UPLOADED``
        unless a reason is given here.
    min_accepted : int
        Smallest accepted set (the contract's ``minUploaders``; at least 1).

    Returns
    -------
    Receipt
        Accepts the largest connected group of the usable senders, if large enough.
    """
    _check_min(min_accepted)
    ups = _check_uploads(ctx, uploads)
    reasons = {ctx.require_sender(s): Exclusion(r) for s, r in (rejected or {}).items()}
    usable = [s for s in ctx.senders if s in ups and s not in reasons]
    groups = components(ctx, usable)
    keep = groups[0] if groups and len(groups[0]) >= min_accepted else frozenset()
    statuses = []
    for s in ctx.senders:
        if s in keep:
            statuses.append(ACCEPTED)
        elif s in reasons:
            statuses.append(int(reasons[s]))
        elif s not in ups:
            statuses.append(int(Exclusion.NOT_UPLOADED))
        elif groups and len(groups[0]) >= min_accepted:
            statuses.append(int(Exclusion.DISCONNECTED))
        else:
            statuses.append(int(Exclusion.BELOW_MINIMUM))
    digests = tuple(ups.get(s, _NO_DIGEST) for s in ctx.senders)
    return Receipt(ctx.digest, ctx.senders, tuple(statuses), digests)


def check_receipt(
    ctx: RoundContext,
    receipt: Receipt,
    *,
    uploads: Mapping[bytes, bytes],
    min_accepted: int = DEFAULT_MIN_ACCEPTED,
) -> dict[bytes, bytes]:
    """Check a receipt against the chain and the reveal rule; return its accepted set.

    Exclusion reasons are informational (excluding a sender never exposes it), but every
    accepted sender must have uploaded exactly the accepted digest, and a non-empty accepted
    set must be connected and hold at least ``min_accepted`` senders.

    Raises
    ------
    InvalidReceiptError
        If the receipt breaks any of these (culprit: the receiver).
    """
    _check_min(min_accepted)
    ups = _check_uploads(ctx, uploads)
    if receipt.context_digest != ctx.digest or receipt.senders != ctx.senders:
        raise InvalidReceiptError("receipt belongs to another request", culprit=ctx.receiver)
    accepted = receipt.accepted
    for sender, digest in accepted.items():
        if sender not in ups or not hmac.compare_digest(ups[sender], digest):
            raise InvalidReceiptError(
                f"receipt accepts 0x{sender.hex()} whose on-chain upload differs or is absent",
                culprit=ctx.receiver,
                sender=sender,
            )
    if accepted:
        if len(accepted) < min_accepted:
            raise InvalidReceiptError(
                f"receipt accepts {len(accepted)} sender(s), fewer than {min_accepted}",
                culprit=ctx.receiver,
            )
        if len(components(ctx, accepted)) != 1:
            raise InvalidReceiptError(
                "receipt's accepted senders are not connected in the neighbour graph",
                culprit=ctx.receiver,
            )
    return accepted
