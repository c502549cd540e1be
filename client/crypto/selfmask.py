"""Layer 1, second mask: a fresh self-mask per envelope, its seed Shamir-shared to neighbours.

For every (round, receiver) envelope a sender draws a fresh seed b (a uniform element of
GF(2^255 - 19), OS randomness) and adds the keystream of
``HKDF(b, salt=ctx.digest, info=label|sender)`` to its pair-masked vector. It splits b into
shares, one per mask neighbour (t of them reconstruct b), and puts each share in its
envelope's header encrypted to its holder under a key derived from their X25519 agreement:

    key_xh = HKDF(X25519(x, h), salt=ctx.digest, info=LABEL_SHARE_KEY | x | h)

This is a different HKDF output of the same agreement as the pair seed s_xh: revealing s_xh
(when one of them is excluded) discloses nothing about key_xh. The header also carries public
hash commitments to b and to each share, so a revealed share is checked and attributed.

A share exists only inside the envelope, so a holder can read it only from the blob the chain
commits to: no upload, no share.
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from client.crypto.constants import (
    LABEL_SELF_COMMIT,
    LABEL_SELF_MASK,
    LABEL_SHARE_AAD,
    LABEL_SHARE_COMMIT,
    LABEL_SHARE_KEY,
    NONCE_LEN,
    SEALED_SHARE_LEN,
    SEED_LEN,
)
from client.crypto.context import RoundContext
from client.crypto.errors import KeyFormatError
from client.crypto.keys import PartyKeys
from client.crypto.rng import RandomSource, os_random
from client.crypto.shamir import decode_element, encode_element


def self_mask_key(ctx: RoundContext, sender: bytes, seed: int) -> bytes:
    """Return the AES-256-CTR key of ``sender``'s self-mask stream for seed ``seed``."""
    return HKDF(
        algorithm=hashes.SHA256(), length=SEED_LEN, salt=ctx.digest, info=LABEL_SELF_MASK + sender
    ).derive(encode_element(seed))


def self_commitment(ctx: RoundContext, sender: bytes, seed: int) -> bytes:
    """Return the public commitment to a self-mask seed (carried in the header)."""
    return hashlib.sha256(LABEL_SELF_COMMIT + ctx.digest + sender + encode_element(seed)).digest()


def share_commitment(ctx: RoundContext, sender: bytes, holder: bytes, share: int) -> bytes:
    """Return the public commitment to the share of ``sender``'s seed held by ``holder``."""
    return hashlib.sha256(
        LABEL_SHARE_COMMIT + ctx.digest + sender + holder + encode_element(share)
    ).digest()


def _channel_key(
    ctx: RoundContext,
    sender: bytes,
    holder: bytes,
    keys: PartyKeys,
    peer: bytes,
    peer_x25519: bytes,
) -> bytes:
    try:
        shared = keys.shared_secret(peer_x25519)
    except KeyFormatError as exc:
        raise KeyFormatError(f"unusable X25519 public key for 0x{peer.hex()}") from exc
    return HKDF(
        algorithm=hashes.SHA256(),
        length=SEED_LEN,
        salt=ctx.digest,
        info=LABEL_SHARE_KEY + sender + holder,
    ).derive(shared)


def _aad(ctx: RoundContext, sender: bytes, holder: bytes, self_commit: bytes) -> bytes:
    # Bound to the seed's commitment: a share cannot be moved to another envelope of the
    # same sender (a re-seal draws a fresh seed).
    return LABEL_SHARE_AAD + ctx.digest + sender + holder + self_commit


def seal_share(
    ctx: RoundContext,
    *,
    sender: bytes,
    sender_keys: PartyKeys,
    holder: bytes,
    holder_x25519: bytes,
    share: int,
    self_commit: bytes,
    rng: RandomSource | None = None,
) -> bytes:
    """Encrypt one share to its holder: ``nonce | AES-256-GCM(share)`` (60 bytes)."""
    key = _channel_key(ctx, sender, holder, sender_keys, holder, holder_x25519)
    nonce = (rng or os_random)(NONCE_LEN)
    sealed = nonce + AESGCM(key).encrypt(
        nonce, encode_element(share), _aad(ctx, sender, holder, self_commit)
    )
    assert len(sealed) == SEALED_SHARE_LEN
    return sealed


def open_share(
    ctx: RoundContext,
    *,
    sender: bytes,
    sender_x25519: bytes,
    holder: bytes,
    holder_keys: PartyKeys,
    sealed: bytes,
    self_commit: bytes,
) -> int | None:
    """Decrypt the share ``holder`` got from ``sender``; None if it does not authenticate."""
    if len(sealed) != SEALED_SHARE_LEN:
        return None
    key = _channel_key(ctx, sender, holder, holder_keys, sender, sender_x25519)
    try:
        plain = AESGCM(key).decrypt(
            sealed[:NONCE_LEN], sealed[NONCE_LEN:], _aad(ctx, sender, holder, self_commit)
        )
    except InvalidTag:
        return None
    return decode_element(plain)
