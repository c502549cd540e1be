"""Layer 1: dealer-free zero-sum masks from pairwise X25519 agreement.

For a receiver r and round t with sender set S, every pair of neighbours (x, y) derives a
one-time seed ``s_xy = HKDF-SHA256(X25519(sk_x, pk_y), salt=ctx.digest, info=label|lo|hi)``.
Its PRG stream (AES-256-CTR keystream, zero IV: each seed is used for exactly one stream) is
added by the lower address and subtracted by the higher one, so the masks of all senders of
S sum to zero modulo 2^k and the receiver recovers exactly the sum of the plaintexts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from client.crypto.constants import LABEL_PAIR_COMMIT, LABEL_PAIR_SEED, SEED_LEN
from client.crypto.context import RoundContext, check_address
from client.crypto.errors import ContextError, KeyFormatError
from client.crypto.keys import PartyKeys
from client.crypto.quantize import QuantParams, RingArray

_ZERO_IV = bytes(16)


def pair_seed(
    ctx: RoundContext, me: bytes, my_keys: PartyKeys, peer: bytes, peer_x25519: bytes
) -> bytes:
    """Derive the one-time seed that ``me`` shares with ``peer`` for this context.

    Parameters
    ----------
    ctx : RoundContext
        The receiver's request (binds chain, contract, round, receiver, sender set, k_n).
    me, peer : bytes
        20-byte addresses of the two senders.
    my_keys : PartyKeys
        Private keys of ``me``.
    peer_x25519 : bytes
        Raw X25519 public key registered by ``peer``.
    """
    try:
        shared = my_keys.shared_secret(peer_x25519)
    except KeyFormatError as exc:
        raise KeyFormatError(f"unusable X25519 public key for peer 0x{peer.hex()}") from exc
    lo, hi = sorted((me, peer))
    return HKDF(
        algorithm=hashes.SHA256(), length=SEED_LEN, salt=ctx.digest, info=LABEL_PAIR_SEED + lo + hi
    ).derive(shared)


def pair_commitment(ctx: RoundContext, a: bytes, b: bytes, seed: bytes) -> bytes:
    """Public commitment to a pair seed (identical for both ends of the pair)."""
    lo, hi = sorted((a, b))
    return hashlib.sha256(LABEL_PAIR_COMMIT + ctx.digest + lo + hi + seed).digest()


def keystream(seed: bytes, quant: QuantParams, out: bytearray | None = None) -> RingArray:
    """Expand ``seed`` into ``quant.length`` uniform ring elements (AES-256-CTR keystream).

    Parameters
    ----------
    seed : bytes
        32-byte one-time seed.
    quant : QuantParams
        Gives the length and element width.
    out : bytearray, optional
        Scratch buffer of at least ``length * element_bytes + 15`` bytes to avoid allocation.
    """
    nbytes = quant.length * quant.element_bytes
    encryptor = Cipher(algorithms.AES(seed), modes.CTR(_ZERO_IV)).encryptor()
    if out is None:
        out = bytearray(nbytes + 15)
    encryptor.update_into(_zeros(nbytes), out)
    # The wire and stream byte order is little-endian regardless of the host.
    return np.frombuffer(out, dtype=quant.wire_dtype, count=quant.length)


_ZERO_CACHE: dict[int, bytes] = {}


def _zeros(n: int) -> bytes:
    z = _ZERO_CACHE.get(n)
    if z is None:
        if len(_ZERO_CACHE) > 8:
            _ZERO_CACHE.clear()
        z = _ZERO_CACHE[n] = bytes(n)
    return z


def stream_sign(owner: bytes, peer: bytes) -> int:
    """+1 if ``owner`` adds the pair stream to its mask, -1 if it subtracts it."""
    return 1 if owner < peer else -1


@dataclass(frozen=True, repr=False)
class PairSeeds:
    """The one-time pair seeds of one sender for one context, in neighbour order."""

    sender: bytes
    neighbours: tuple[bytes, ...]
    seeds: tuple[bytes, ...]

    def __repr__(self) -> str:
        return f"PairSeeds(sender=0x{self.sender.hex()}, neighbours={len(self.neighbours)})"


def derive_pair_seeds(
    ctx: RoundContext,
    sender: bytes,
    sender_keys: PartyKeys,
    peer_publics: Mapping[bytes, bytes],
    only: Iterable[bytes] | None = None,
) -> PairSeeds:
    """Derive the seeds ``sender`` shares with its neighbours (or the subset ``only``).

    Parameters
    ----------
    peer_publics : mapping
        20-byte address -> raw 32-byte X25519 public key, covering the neighbours.
    only : iterable of bytes, optional
        Restrict to these neighbours (used for dropout recovery).
    """
    neighbours = ctx.neighbours_of(sender)
    if only is not None:
        wanted = {check_address(a, "neighbour") for a in only}
        missing = wanted - set(neighbours)
        if missing:
            raise ContextError(
                "not a mask neighbour of the sender: "
                + ", ".join("0x" + m.hex() for m in sorted(missing))
            )
        neighbours = tuple(n for n in neighbours if n in wanted)
    seeds = []
    for peer in neighbours:
        if peer not in peer_publics:
            raise ContextError(f"no registered X25519 public key for neighbour 0x{peer.hex()}")
        seeds.append(pair_seed(ctx, sender, sender_keys, peer, peer_publics[peer]))
    return PairSeeds(sender, neighbours, tuple(seeds))


def mask_from_seeds(pairs: PairSeeds, quant: QuantParams) -> RingArray:
    """Sum of the signed pair streams of one sender: its layer-1 mask."""
    mask = np.zeros(quant.length, dtype=quant.dtype)
    apply_streams(mask, pairs.sender, pairs.neighbours, pairs.seeds, quant, sign=1)
    return mask


def apply_streams(
    acc: RingArray,
    owner: bytes,
    peers: Iterable[bytes],
    seeds: Iterable[bytes],
    quant: QuantParams,
    *,
    sign: int,
) -> None:
    """Add (``sign=1``) or remove (``sign=-1``) ``owner``'s signed pair streams into ``acc``."""
    scratch = bytearray(quant.length * quant.element_bytes + 15)
    for peer, seed in zip(peers, seeds, strict=True):
        stream = keystream(seed, quant, scratch)
        if stream_sign(owner, peer) * sign > 0:
            np.add(acc, stream, out=acc)
        else:
            np.subtract(acc, stream, out=acc)
