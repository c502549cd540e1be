"""The three-layer onion: seal for a receiver, open, aggregate, recover, reveal.

Layer 1 adds a dealer-free zero-sum mask to the quantized vector (:mod:`.masking`);
layer 2 encrypts the masked vector with AES-256-GCM under a fresh key and a fresh 96-bit
nonce, the header being the associated data; layer 3 wraps the fresh key to the receiver
with HPKE (:mod:`.hpke_wrap`). The receiver peels layers 3 and 2 of each envelope and sums
the still-masked vectors; the masks cancel, so it learns the sum and nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from client.crypto.constants import (
    ADDRESS_LEN,
    DIGEST_LEN,
    LABEL_KEY_COMMIT,
    LABEL_WRAP_INFO,
    MESSAGE_KEY_LEN,
    NONCE_LEN,
    SEED_LEN,
)
from client.crypto.context import RoundContext
from client.crypto.envelope import Envelope, EnvelopeHeader, parse_envelope
from client.crypto.errors import (
    ContextError,
    DecryptionError,
    DisclosureError,
    MissingRecoveryError,
    QuantizationError,
)
from client.crypto.hpke_wrap import WrapSuite, unwrap_key, wrap_key
from client.crypto.keys import PartyKeys, PublicKeys
from client.crypto.masking import (
    PairSeeds,
    apply_streams,
    derive_pair_seeds,
    pair_commitment,
)
from client.crypto.quantize import QuantParams, RingArray, dequantize, quantize
from client.crypto.rng import RandomSource, os_random


@dataclass(frozen=True, repr=False)
class Sealed:
    """Result of :func:`seal`: the public envelope and the secret needed for a dispute.

    ``blob`` is what gets uploaded; keep ``message_key`` locally only if you may have to
    :func:`reveal` this message later, and never publish it otherwise.
    """

    blob: bytes
    message_key: bytes

    def __bytes__(self) -> bytes:
        return self.blob

    def __repr__(self) -> str:
        return f"Sealed({len(self.blob)} bytes)"


@dataclass(frozen=True, eq=False)
class MaskedShare:
    """One opened envelope: layers 3 and 2 removed, layer-1 mask still on.

    ``ring`` is a read-only view of the decrypted bytes; :func:`aggregate` never writes to it.
    """

    sender: bytes
    header: EnvelopeHeader
    ring: RingArray


@dataclass(frozen=True, repr=False)
class Recovery:
    """Seed a surviving neighbour discloses so the receiver can cancel a dropped sender."""

    context_digest: bytes
    survivor: bytes
    dropped: bytes
    seed: bytes

    _FORMAT = struct.Struct(f">{DIGEST_LEN}s{ADDRESS_LEN}s{ADDRESS_LEN}s{SEED_LEN}s")

    def to_bytes(self) -> bytes:
        """Encode in 104 bytes: digest | survivor | dropped | seed."""
        return self._FORMAT.pack(self.context_digest, self.survivor, self.dropped, self.seed)

    @classmethod
    def from_bytes(cls, data: bytes) -> Recovery:
        """Parse :meth:`to_bytes`; raise :class:`DisclosureError` on a wrong length."""
        if len(data) != cls._FORMAT.size:
            raise DisclosureError(f"a recovery is {cls._FORMAT.size} bytes, got {len(data)}")
        return cls(*cls._FORMAT.unpack(bytes(data)))

    def __repr__(self) -> str:
        return f"Recovery(survivor=0x{self.survivor.hex()}, dropped=0x{self.dropped.hex()})"


@dataclass(frozen=True)
class Disclosure:
    """What a sender publishes in a dispute to open ONE of its messages to everyone."""

    context_digest: bytes
    sender: bytes
    message_key: bytes
    seeds: tuple[bytes, ...]

    def to_bytes(self) -> bytes:
        """Encode as digest | sender | message_key | n u16 | seeds."""
        return b"".join(
            (
                self.context_digest,
                self.sender,
                self.message_key,
                struct.pack(">H", len(self.seeds)),
                *self.seeds,
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Disclosure:
        """Parse :meth:`to_bytes`; raise :class:`DisclosureError` if malformed."""
        data = bytes(data)
        fixed = DIGEST_LEN + ADDRESS_LEN + MESSAGE_KEY_LEN
        if len(data) < fixed + 2:
            raise DisclosureError("disclosure is truncated")
        (n,) = struct.unpack_from(">H", data, fixed)
        if len(data) != fixed + 2 + n * SEED_LEN:
            raise DisclosureError("disclosure length does not match its seed count")
        seeds = tuple(
            data[fixed + 2 + i * SEED_LEN : fixed + 2 + (i + 1) * SEED_LEN] for i in range(n)
        )
        return cls(
            data[:DIGEST_LEN],
            data[DIGEST_LEN : DIGEST_LEN + ADDRESS_LEN],
            data[DIGEST_LEN + ADDRESS_LEN : fixed],
            seeds,
        )


def key_commitment(message_key: bytes) -> bytes:
    """Return commitment to the layer-2 key; makes AES-GCM key-committing for disputes."""
    return hashlib.sha256(LABEL_KEY_COMMIT + message_key).digest()


def _wrap_info(header_bytes: bytes) -> bytes:
    return LABEL_WRAP_INFO + hashlib.sha256(header_bytes).digest()


def seal(
    vector: npt.ArrayLike,
    *,
    ctx: RoundContext,
    sender: bytes,
    sender_keys: PartyKeys,
    receiver_public: PublicKeys,
    peer_publics: Mapping[bytes, bytes],
    quant: QuantParams,
    suite: WrapSuite = WrapSuite.X25519,
    rng: RandomSource | None = None,
) -> Sealed:
    """Quantize, mask (layer 1), encrypt (layer 2) and wrap (layer 3) one message.

    Parameters
    ----------
    vector : array_like
        Dense float32 vector of length ``quant.length``.
    ctx : RoundContext
        The receiver's request this message answers.
    sender : bytes
        20-byte address of the caller (must be in ``ctx.senders``).
    sender_keys : PartyKeys
        The caller's private keys.
    receiver_public : PublicKeys
        The receiver's registered public keys.
    peer_publics : mapping
        20-byte address -> raw X25519 public key for (at least) the sender's neighbours.
    quant : QuantParams
        Ring and fixed-point parameters shared by all senders of the request.
    suite : WrapSuite
        Layer-3 HPKE suite (X25519 by default, or the ML-KEM-768+X25519 hybrid).
    rng : callable, optional
        Byte source for the message key, nonce and HPKE ephemeral key. OS randomness by
        default; inject a seeded source only for known-answer vectors. (The hybrid suite's
        ML-KEM encapsulation always uses OS randomness: ``cryptography`` cannot be seeded.)

    Returns
    -------
    Sealed
        ``blob`` to upload and ``message_key`` to keep for a possible dispute.

    Notes
    -----
    The layer-1 mask is a deterministic function of ``(ctx, sender)``: seal at most ONE
    distinct vector per request (re-sealing the same vector is harmless), otherwise the
    receiver learns the difference of the two vectors.

    Raises
    ------
    QuantizationError
        If an entry exceeds the clip bound or the sender set exceeds ``quant.max_senders``.
    ContextError
        If the sender is not in the request or a neighbour's public key is missing.
    """
    sender = ctx.require_sender(sender)
    if len(ctx.senders) > quant.max_senders:
        raise QuantizationError(
            f"{len(ctx.senders)} senders exceed max_senders={quant.max_senders}: sums could wrap"
        )
    draw = rng or os_random
    ring = quantize(vector, quant)
    pairs = derive_pair_seeds(ctx, sender, sender_keys, peer_publics)
    apply_streams(ring, sender, pairs.neighbours, pairs.seeds, quant, sign=1)
    message_key, nonce = draw(MESSAGE_KEY_LEN), draw(NONCE_LEN)
    header = EnvelopeHeader(
        suite=suite,
        chain_id=ctx.chain_id,
        contract=ctx.contract,
        round=ctx.round,
        sender=sender,
        receiver=ctx.receiver,
        context_digest=ctx.digest,
        quant=quant,
        key_commit=key_commitment(message_key),
        pair_commits=_commitments(ctx, pairs),
    )
    header_bytes = header.to_bytes()
    wrapped = wrap_key(message_key, receiver_public, _wrap_info(header_bytes), suite, rng)
    wire = np.ascontiguousarray(ring, dtype=quant.wire_dtype)
    payload = AESGCM(message_key).encrypt(nonce, wire.data.cast("B"), header_bytes)
    envelope = Envelope(header, header_bytes, wrapped, nonce, payload)
    return Sealed(envelope.to_bytes(), message_key)


def _commitments(ctx: RoundContext, pairs: PairSeeds) -> tuple[bytes, ...]:
    return tuple(
        pair_commitment(ctx, pairs.sender, peer, seed)
        for peer, seed in zip(pairs.neighbours, pairs.seeds, strict=True)
    )


def _header_matches(header: EnvelopeHeader, ctx: RoundContext, sender: bytes) -> bool:
    return (
        header.chain_id == ctx.chain_id
        and header.contract == ctx.contract
        and header.round == ctx.round
        and header.receiver == ctx.receiver
        and header.sender == sender
        and hmac.compare_digest(header.context_digest, ctx.digest)
        and len(header.pair_commits) == len(ctx.neighbours_of(sender))
        and len(ctx.senders) <= header.quant.max_senders
    )


def open_envelope(
    blob: bytes,
    *,
    ctx: RoundContext,
    sender: bytes,
    receiver_keys: PartyKeys,
    quant: QuantParams | None = None,
) -> MaskedShare:
    """Remove layers 3 and 2 of an envelope addressed to the caller (result still masked).

    Parameters
    ----------
    blob : bytes
        Envelope bytes as fetched from storage.
    ctx : RoundContext
        The caller's own request (the caller is ``ctx.receiver``).
    sender : bytes
        Address that uploaded this envelope (from the on-chain UPLOAD).
    receiver_keys : PartyKeys
        The caller's private keys.
    quant : QuantParams, optional
        If given, the header's parameters must equal it.

    Raises
    ------
    DecryptionError
        For ANY failure: malformed bytes, wrong key, tampering, wrong chain, contract,
        round, receiver, sender, sender set or parameters.
    """
    sender = ctx.require_sender(sender)
    env = parse_envelope(blob)
    header = env.header
    if not _header_matches(header, ctx, sender) or (quant is not None and header.quant != quant):
        raise DecryptionError()
    message_key = unwrap_key(
        env.wrapped_key, receiver_keys, _wrap_info(env.header_bytes), header.suite
    )
    if not hmac.compare_digest(key_commitment(message_key), header.key_commit):
        raise DecryptionError()
    ring = np.empty(header.quant.length, dtype=header.quant.wire_dtype)
    try:
        # Decrypt straight into the ring array (no intermediate bytes object).
        AESGCM(message_key).decrypt_into(
            env.nonce, env.payload, env.header_bytes, ring.data.cast("B")
        )
    except InvalidTag:
        raise DecryptionError() from None
    return MaskedShare(sender, header, ring.astype(header.quant.dtype, copy=False))


def recovery_stream(
    ctx: RoundContext,
    *,
    survivor: bytes,
    survivor_keys: PartyKeys,
    dropped: bytes,
    peer_publics: Mapping[bytes, bytes],
) -> Recovery:
    """Disclose the one-time seed ``survivor`` shares with a ``dropped`` neighbour.

    Call this ONLY after the upload deadline has passed and the chain shows no upload from
    ``dropped`` to this receiver in this round: if ``dropped``'s envelope were opened as
    well, the receiver could strip that part of its mask.

    Raises
    ------
    ContextError
        If ``dropped`` is not a neighbour of ``survivor`` in this request.
    """
    survivor = ctx.require_sender(survivor)
    dropped = ctx.require_sender(dropped)
    pairs = derive_pair_seeds(ctx, survivor, survivor_keys, peer_publics, only=(dropped,))
    return Recovery(ctx.digest, survivor, dropped, pairs.seeds[0])


def aggregate_ring(
    shares: Sequence[MaskedShare],
    *,
    ctx: RoundContext,
    recoveries: Iterable[Recovery] = (),
) -> tuple[RingArray, QuantParams]:
    """Sum opened shares in the ring, cancelling the streams of dropped senders.

    Returns
    -------
    tuple
        The exact ring sum of the present senders' quantized vectors, and its parameters.

    Raises
    ------
    ContextError
        Empty, duplicate, foreign or inconsistent shares; a recovery that is not needed.
    MissingRecoveryError
        A surviving neighbour of a dropped sender has not disclosed its seed.
    DisclosureError
        A recovery seed does not match the survivor's committed pair commitment.
    """
    if not shares:
        raise ContextError("nothing to aggregate: no shares")
    quant = shares[0].header.quant
    present: dict[bytes, MaskedShare] = {}
    for share in shares:
        if share.header.context_digest != ctx.digest or share.header.quant != quant:
            raise ContextError(f"share from 0x{share.sender.hex()} belongs to another request")
        if share.sender in present:
            raise ContextError(f"two shares from 0x{share.sender.hex()}")
        present[share.sender] = share
    acc = np.zeros(quant.length, dtype=quant.dtype)
    for share in present.values():
        np.add(acc, share.ring, out=acc)
    needed = {(x, y) for x in present for y in ctx.neighbours_of(x) if y not in present}
    given: dict[tuple[bytes, bytes], Recovery] = {}
    for rec in recoveries:
        key = (rec.survivor, rec.dropped)
        if rec.context_digest != ctx.digest or key not in needed:
            raise ContextError(
                f"unexpected recovery 0x{rec.survivor.hex()} -> 0x{rec.dropped.hex()}"
            )
        given[key] = rec
    missing = sorted(needed - given.keys())
    if missing:
        raise MissingRecoveryError(
            "missing recovery seeds from survivors: "
            + ", ".join(f"0x{x.hex()} (for dropped 0x{y.hex()})" for x, y in missing)
        )
    for (x, y), rec in sorted(given.items()):
        commits = present[x].header.pair_commits
        index = ctx.neighbours_of(x).index(y)
        if not hmac.compare_digest(pair_commitment(ctx, x, y, rec.seed), commits[index]):
            raise DisclosureError(
                f"recovery seed of 0x{x.hex()} for 0x{y.hex()} does not match its commitment"
            )
        apply_streams(acc, x, (y,), (rec.seed,), quant, sign=-1)
    return acc, quant


def aggregate(
    shares: Sequence[MaskedShare],
    *,
    ctx: RoundContext,
    recoveries: Iterable[Recovery] = (),
) -> npt.NDArray[np.float64]:
    """Exact sum of the present senders' vectors, decoded to float64.

    See :func:`aggregate_ring` for the checks and errors. Indicator segments
    (``frac_bits = 0``) come out as exact integer counts.
    """
    ring, quant = aggregate_ring(shares, ctx=ctx, recoveries=recoveries)
    return dequantize(ring, quant)


def inconsistent_pairs(
    ctx: RoundContext, headers: Mapping[bytes, EnvelopeHeader]
) -> list[tuple[bytes, bytes]]:
    """Neighbour pairs whose two envelopes commit to different pair seeds.

    When a sum decodes to garbage, this names the pairs where at least one side used a
    seed other than the agreed one (the cheating sender is in every such pair).
    """
    for x, h in headers.items():
        if h.context_digest != ctx.digest or len(h.pair_commits) != len(ctx.neighbours_of(x)):
            raise ContextError(f"header of 0x{x.hex()} does not belong to this request")
    bad = []
    for x, hx in headers.items():
        nx = ctx.neighbours_of(x)
        for y in nx:
            if y <= x or y not in headers:
                continue
            cx = hx.pair_commits[nx.index(y)]
            cy = headers[y].pair_commits[ctx.neighbours_of(y).index(x)]
            if not hmac.compare_digest(cx, cy):
                bad.append((x, y))
    return bad


def reveal(
    ctx: RoundContext,
    *,
    sender: bytes,
    sender_keys: PartyKeys,
    peer_publics: Mapping[bytes, bytes],
    message_key: bytes,
) -> Disclosure:
    """Build the disclosure that opens ONE sealed message to everyone (disputes).

    It holds the message key (fresh per message) and the pair seeds of this (receiver,
    round) only, so no other message of the sender is affected. Each revealed seed is also
    one of the terms of a neighbour's mask for this same request; the neighbour's message
    stays hidden behind its other pair streams as long as it has another neighbour.
    """
    sender = ctx.require_sender(sender)
    if len(message_key) != MESSAGE_KEY_LEN:
        raise ContextError(f"message key must be {MESSAGE_KEY_LEN} bytes")
    pairs = derive_pair_seeds(ctx, sender, sender_keys, peer_publics)
    return Disclosure(ctx.digest, sender, bytes(message_key), pairs.seeds)


def verify_reveal(
    blob: bytes, disclosure: Disclosure, *, ctx: RoundContext
) -> npt.NDArray[np.float64]:
    """Check a disclosure against the committed envelope and return the message plaintext.

    Anyone can run this with public data only (envelope, context, disclosure).

    Raises
    ------
    DisclosureError
        If the envelope does not parse, or the key, a seed or the ciphertext does not match.
    """
    try:
        env = parse_envelope(blob)
    except DecryptionError:
        raise DisclosureError("envelope is malformed") from None
    header = env.header
    sender = disclosure.sender
    if sender not in ctx.senders or not _header_matches(header, ctx, sender):
        raise DisclosureError("envelope does not belong to this request and sender")
    if disclosure.context_digest != ctx.digest:
        raise DisclosureError("disclosure is for another request")
    if not hmac.compare_digest(key_commitment(disclosure.message_key), header.key_commit):
        raise DisclosureError("message key does not match the envelope's key commitment")
    neighbours = ctx.neighbours_of(sender)
    if len(disclosure.seeds) != len(neighbours):
        raise DisclosureError("disclosure has the wrong number of pair seeds")
    pairs = PairSeeds(sender, neighbours, disclosure.seeds)
    if _commitments(ctx, pairs) != header.pair_commits:
        raise DisclosureError("a pair seed does not match the envelope's pair commitment")
    try:
        plain = AESGCM(disclosure.message_key).decrypt(env.nonce, env.payload, env.header_bytes)
    except InvalidTag:
        raise DisclosureError("ciphertext does not authenticate under the disclosed key") from None
    quant = header.quant
    ring = np.frombuffer(plain, dtype=quant.wire_dtype).astype(quant.dtype)
    apply_streams(ring, sender, neighbours, disclosure.seeds, quant, sign=-1)
    return dequantize(ring, quant)
