"""Round context: who sends to whom in which round, and the public neighbour graph.

The context is what every sender of one receiver's request agrees on from the chain:
chain id, contract address, round, receiver and the ordered sender set. Its canonical
encoding is hashed into every key derivation so that nothing derived for one
(receiver, round) can be replayed in another.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from functools import cached_property

from client.crypto.constants import (
    ADDRESS_LEN,
    LABEL_CONTEXT,
    LABEL_GRAPH,
    MAX_U16,
    MAX_U64,
)
from client.crypto.errors import ContextError


def check_address(value: object, what: str) -> bytes:
    """Return ``value`` as 20 raw address bytes or raise :class:`ContextError`.

    Parameters
    ----------
    value : object
        Candidate address; must be ``bytes`` of length 20 (convert checksum strings first).
    what : str
        Name used in the error message.
    """
    if not isinstance(value, bytes | bytearray) or len(value) != ADDRESS_LEN:
        raise ContextError(f"{what} must be {ADDRESS_LEN} raw address bytes, got {value!r}")
    return bytes(value)


@dataclass(frozen=True)
class RoundContext:
    """What binds one receiver's request in one round.

    Parameters
    ----------
    chain_id : int
        EIP-155 chain id (0 <= chain_id < 2**64).
    contract : bytes
        20-byte address of the consortium contract.
    round : int
        Training round (0 <= round < 2**64).
    receiver : bytes
        20-byte address of the requester that will decrypt the sum.
    senders : tuple of bytes
        Ordered sender set of the receiver's request, exactly as on-chain.
    neighbours : int or None
        k_n, the number of mask neighbours of each sender. ``None`` (default) means all
        other senders; a smaller value uses a k-regular circulant graph (SecAgg+ style).
    threshold : int or None
        t, the number of a sender's neighbours whose self-mask shares reconstruct its
        self-mask seed (``1 <= t <= k_n``). ``None`` (default) means
        :func:`default_threshold` of k_n. The receiver together with ``t - 1`` colluding
        neighbours of a sender learns nothing of that sender's self-mask; up to ``k_n - t``
        of its neighbours may be unreachable when the receiver unmasks.
    """

    chain_id: int
    contract: bytes
    round: int
    receiver: bytes
    senders: tuple[bytes, ...]
    neighbours: int | None = None
    threshold: int | None = None

    def __post_init__(self) -> None:
        for name, value in (("chain_id", self.chain_id), ("round", self.round)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_U64:
                raise ContextError(f"{name} must be an integer in [0, 2**64), got {value!r}")
        object.__setattr__(self, "contract", check_address(self.contract, "contract"))
        object.__setattr__(self, "receiver", check_address(self.receiver, "receiver"))
        senders = tuple(check_address(s, "sender") for s in self.senders)
        object.__setattr__(self, "senders", senders)
        if not 1 <= len(senders) <= MAX_U16:
            raise ContextError(f"sender set must hold 1..{MAX_U16} addresses, got {len(senders)}")
        if len(set(senders)) != len(senders):
            raise ContextError("sender set contains a duplicate address")
        if self.receiver in senders:
            raise ContextError("receiver must not be one of its own senders")
        k = self.neighbours
        if k is not None:
            if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise ContextError(f"neighbours (k_n) must be a positive integer, got {k!r}")
            n = len(senders)
            if k < n - 1 and k % 2 == 1 and n % 2 == 1:
                raise ContextError(
                    f"no {k}-regular graph exists on {n} senders (k_n*n must be even)"
                )
        t = self.threshold
        if t is not None:
            m = self.effective_neighbours
            if isinstance(t, bool) or not isinstance(t, int) or not 1 <= t <= max(m, 1):
                raise ContextError(
                    f"threshold must be an integer in [1, {max(m, 1)}] "
                    f"(the number of neighbours), got {t!r}"
                )

    @property
    def effective_neighbours(self) -> int:
        """k_n actually used: ``min(neighbours, n - 1)``, or ``n - 1`` for all."""
        n_others = len(self.senders) - 1
        return n_others if self.neighbours is None else min(self.neighbours, n_others)

    @property
    def share_threshold(self) -> int:
        """Return the Shamir threshold t in use (0 for a one-sender request: no neighbours)."""
        m = self.effective_neighbours
        if m == 0:
            return 0
        return default_threshold(m) if self.threshold is None else self.threshold

    def encode(self) -> bytes:
        """Return the canonical byte encoding (fixed-width big-endian integers, raw addresses)."""
        return b"".join(
            (
                LABEL_CONTEXT,
                struct.pack(">Q", self.chain_id),
                self.contract,
                struct.pack(">Q", self.round),
                self.receiver,
                struct.pack(
                    ">HHH", len(self.senders), self.effective_neighbours, self.share_threshold
                ),
                *self.senders,
            )
        )

    @cached_property
    def digest(self) -> bytes:
        """SHA-256 of :meth:`encode`; bound into every derivation and every header."""
        return hashlib.sha256(self.encode()).digest()

    def require_sender(self, sender: bytes) -> bytes:
        """Return ``sender`` if it belongs to the sender set, else raise :class:`ContextError`."""
        sender = check_address(sender, "sender")
        if sender not in self.senders:
            raise ContextError(f"0x{sender.hex()} is not in the sender set of this request")
        return sender

    def neighbours_of(self, sender: bytes) -> tuple[bytes, ...]:
        """Mask neighbours of ``sender``, sorted by address bytes.

        The graph is public and derived from :attr:`digest` only, so every sender and the
        receiver compute the same one. With k_n = n - 1 it is complete; otherwise senders
        are placed on a cycle in a hash-determined order and each is linked to its
        floor(k_n/2) nearest nodes on both sides (plus the opposite node when k_n is odd).
        """
        sender = self.require_sender(sender)
        return _neighbour_table(self)[sender]


def default_threshold(neighbours: int) -> int:
    """Return the default Shamir threshold for ``neighbours`` share holders: ceil(m / 2).

    m = 1 (a two-sender request) gives t = 1, m = 2 gives 1, m = 4 gives 2, m = 49 gives 25.
    The choice favours availability: up to floor(m / 2) holders may be unreachable when the
    receiver unmasks, which keeps a round alive when one party of four goes silent. The
    collusion bound is therefore ceil(m / 2) - 1 neighbours (see the module's threat model).
    """
    if neighbours < 1:
        raise ContextError("a threshold needs at least one share holder")
    return (neighbours + 1) // 2


def _neighbour_table(ctx: RoundContext) -> dict[bytes, tuple[bytes, ...]]:
    cached = _GRAPH_CACHE.get(ctx.digest)
    if cached is not None:
        return cached
    n = len(ctx.senders)
    k = ctx.effective_neighbours
    table: dict[bytes, tuple[bytes, ...]]
    if k >= n - 1:
        table = {s: tuple(sorted(t for t in ctx.senders if t != s)) for s in ctx.senders}
    else:
        cycle = sorted(
            ctx.senders,
            key=lambda s: hashlib.sha256(LABEL_GRAPH + ctx.digest + s).digest(),
        )
        half = k // 2
        offsets = list(range(1, half + 1)) + [-i for i in range(1, half + 1)]
        if k % 2 == 1:
            offsets.append(n // 2)
        table = {s: tuple(sorted(cycle[(p + o) % n] for o in offsets)) for p, s in enumerate(cycle)}
    if len(_GRAPH_CACHE) > 256:
        _GRAPH_CACHE.clear()
    _GRAPH_CACHE[ctx.digest] = table
    return table


_GRAPH_CACHE: dict[bytes, dict[bytes, tuple[bytes, ...]]] = {}
