"""The three-layer onion: seal for a receiver and open.

Layer 1 adds two masks to the quantized vector: the dealer-free pairwise zero-sum masks
(:mod:`.masking`) and a fresh self-mask whose seed is Shamir-shared to the sender's mask
neighbours inside the header (:mod:`.selfmask`). Layer 2 encrypts the masked vector with
AES-256-GCM under a fresh key and a fresh 96-bit nonce, the header being the associated
data; layer 3 wraps the fresh key to the receiver with HPKE (:mod:`.hpke_wrap`).

The receiver peels layers 3 and 2 of each envelope (:func:`open_envelope`) and gets vectors
still under both masks. Only after it has published which envelopes it accepts
(:mod:`.receipt`) do the neighbours reveal, for each sender, either its self-mask shares or
their pair seeds with it, never both (:mod:`.reveal`); :func:`client.crypto.aggregate.aggregate`
then removes exactly the masks that do not cancel in the sum of the accepted envelopes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from client.crypto.constants import (
    COMMIT_LEN,
    LABEL_KEY_COMMIT,
    LABEL_WRAP_INFO,
    MESSAGE_KEY_LEN,
    NONCE_LEN,
)
from client.crypto.context import RoundContext
from client.crypto.envelope import Envelope, EnvelopeHeader, parse_envelope
from client.crypto.errors import ContextError, DecryptionError, QuantizationError
from client.crypto.hpke_wrap import WrapSuite, unwrap_key, wrap_key_revealable
from client.crypto.keys import PartyKeys, PublicKeys
from client.crypto.masking import (
    PairSeeds,
    apply_streams,
    derive_pair_seeds,
    keystream,
    pair_commitment,
)
from client.crypto.quantize import QuantParams, RingArray, quantize
from client.crypto.rng import RandomSource, os_random
from client.crypto.selfmask import (
    seal_share,
    self_commitment,
    self_mask_key,
    share_commitment,
)
from client.crypto.shamir import random_element, split


@dataclass(frozen=True, repr=False)
class Sealed:
    """Result of :func:`seal`: the public envelope and the secrets needed for a dispute.

    ``blob`` is what gets uploaded. ``message_key`` and ``wrap_secret`` (the HPKE ephemeral
    secret; None for the hybrid suite) open layers 3 and 2 of THIS envelope only; keep them
    (0600) until the round's dispute window closes, publish them only as a
    :class:`~client.crypto.dispute.DisputeOpening`, and never otherwise. The self-mask seed
    is not kept: nobody, the sender included, needs it again.
    """

    blob: bytes
    message_key: bytes
    wrap_secret: bytes | None
    context_digest: bytes
    sender: bytes

    def __bytes__(self) -> bytes:
        return self.blob

    def __repr__(self) -> str:
        return f"Sealed({len(self.blob)} bytes)"


@dataclass(frozen=True, eq=False)
class MaskedShare:
    """One opened envelope: layers 3 and 2 removed, both layer-1 masks still on.

    ``ring`` is a read-only view of the decrypted bytes; :func:`aggregate` never writes to it.
    """

    sender: bytes
    header: EnvelopeHeader
    ring: RingArray


def key_commitment(message_key: bytes) -> bytes:
    """Return commitment to the layer-2 key; makes AES-GCM key-committing for disputes."""
    return hashlib.sha256(LABEL_KEY_COMMIT + message_key).digest()


def wrap_info(header_bytes: bytes) -> bytes:
    """Return the HPKE ``info`` of an envelope: a label and the hash of its header."""
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
        It also draws the self-mask seed, the Shamir coefficients and the share nonces.

    Returns
    -------
    Sealed
        ``blob`` to upload and the secrets to keep for a possible dispute.

    Notes
    -----
    The pair masks are a deterministic function of ``(ctx, sender)`` but the self-mask seed
    is fresh for every call, so re-sealing after a crash (even another vector) is safe: the
    shares of an envelope that never becomes the accepted upload are never revealed, and the
    difference of two envelopes stays hidden behind their two self-masks.

    A one-sender request (possible only where the deployment sets ``minUploaders = 1``) has no
    neighbours and therefore no masks at all: its receiver reads the vector.

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
    threshold = ctx.share_threshold
    self_commit = bytes(COMMIT_LEN)
    share_commits: list[bytes] = []
    sealed_shares: list[bytes] = []
    if pairs.neighbours:
        seed = random_element(draw)
        np.add(ring, keystream(self_mask_key(ctx, sender, seed), quant), out=ring)
        self_commit = self_commitment(ctx, sender, seed)
        shares = split(seed, threshold, len(pairs.neighbours), draw)
        for holder, share in zip(pairs.neighbours, shares, strict=True):
            share_commits.append(share_commitment(ctx, sender, holder, share))
            sealed_shares.append(
                seal_share(
                    ctx,
                    sender=sender,
                    sender_keys=sender_keys,
                    holder=holder,
                    holder_x25519=peer_publics[holder],
                    share=share,
                    self_commit=self_commit,
                    rng=draw,
                )
            )
        del seed, shares
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
        threshold=threshold,
        self_commit=self_commit,
        share_commits=tuple(share_commits),
        sealed_shares=tuple(sealed_shares),
    )
    header_bytes = header.to_bytes()
    wrapped, wrap_secret = wrap_key_revealable(
        message_key, receiver_public, wrap_info(header_bytes), suite, draw
    )
    wire = np.ascontiguousarray(ring, dtype=quant.wire_dtype)
    payload = AESGCM(message_key).encrypt(nonce, wire.data.cast("B"), header_bytes)
    envelope = Envelope(header, header_bytes, wrapped, nonce, payload)
    return Sealed(envelope.to_bytes(), message_key, wrap_secret, ctx.digest, sender)


def _commitments(ctx: RoundContext, pairs: PairSeeds) -> tuple[bytes, ...]:
    return tuple(
        pair_commitment(ctx, pairs.sender, peer, seed)
        for peer, seed in zip(pairs.neighbours, pairs.seeds, strict=True)
    )


def header_matches(header: EnvelopeHeader, ctx: RoundContext, sender: bytes) -> bool:
    """Return whether a public header belongs to ``sender``'s envelope for request ``ctx``."""
    return (
        header.chain_id == ctx.chain_id
        and header.contract == ctx.contract
        and header.round == ctx.round
        and header.receiver == ctx.receiver
        and header.sender == sender
        and hmac.compare_digest(header.context_digest, ctx.digest)
        and len(header.pair_commits) == len(ctx.neighbours_of(sender))
        and header.threshold == ctx.share_threshold
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

    The result is under the pair masks AND the self-mask; it is usable only in
    :func:`client.crypto.aggregate.aggregate` once the neighbours have revealed.

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
    if not header_matches(header, ctx, sender) or (quant is not None and header.quant != quant):
        raise DecryptionError()
    message_key = unwrap_key(
        env.wrapped_key, receiver_keys, wrap_info(env.header_bytes), header.suite
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


def inconsistent_pairs(
    ctx: RoundContext, headers: Mapping[bytes, EnvelopeHeader]
) -> list[tuple[bytes, bytes]]:
    """Return the neighbour pairs whose two envelopes commit to different pair seeds.

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
