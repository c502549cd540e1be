"""Layer 3: wrap the fresh message key to the receiver with HPKE (RFC 9180, base mode).

Suites: DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM by default, and the
post-quantum hybrid ML-KEM-768+X25519 / HKDF-SHA256 / AES-256-GCM as an option. Both run
through :mod:`cryptography.hazmat.primitives.hpke`.

That module draws the ephemeral key itself and never exposes it. A dispute, however, needs
third parties to check layer 3 without the receiver's private key, which is possible only
if the sender can reveal the ephemeral secret of that one wrap. So envelopes of the X25519
suite are sealed by :func:`wrap_key_revealable`: the RFC 9180 base-mode encapsulation
written out below (X25519 and AES-GCM from ``cryptography``, the key schedule with HMAC),
with an ephemeral key drawn from OS randomness and returned to the caller. The bytes on the
wire are plain RFC 9180: the tests check the RFC known-answer vector and that
``cryptography`` opens every wrap, and opening always uses ``cryptography``. Revealing the
ephemeral secret discloses this wrap's content (the message key, revealed anyway) and
nothing about the receiver's key. The hybrid ML-KEM suite cannot be derandomised with
``cryptography``; its layer 3 stays unverifiable in a dispute.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from client.crypto.errors import ContextError, DecryptionError
from client.crypto.keys import PartyKeys, PublicKeys
from client.crypto.rng import RandomSource, os_random


class WrapSuite(enum.IntEnum):
    """HPKE suite of layer 3 (its value is the suite byte of the envelope header)."""

    X25519 = 1
    MLKEM768_X25519 = 2


_KEM = {WrapSuite.X25519: hpke.KEM.X25519, WrapSuite.MLKEM768_X25519: hpke.KEM.MLKEM768_X25519}

#: Length of the wrapped key (encapsulated key + AEAD ciphertext of a 32-byte key + tag).
WRAPPED_LEN = {suite: kem.enc_length() + 32 + 16 for suite, kem in _KEM.items()}


def _suite(suite: WrapSuite) -> hpke.Suite:
    return hpke.Suite(_KEM[suite], hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


def wrap_key(
    message_key: bytes,
    receiver: PublicKeys,
    info: bytes,
    suite: WrapSuite = WrapSuite.X25519,
    rng: RandomSource | None = None,
) -> bytes:
    """Encrypt ``message_key`` to ``receiver``; returns ``enc || ct``.

    Parameters
    ----------
    message_key : bytes
        The fresh layer-2 key.
    receiver : PublicKeys
        Receiver's registered public keys.
    info : bytes
        HPKE ``info``: binds the wrapped key to one envelope header.
    suite : WrapSuite
        X25519 (default) or the post-quantum hybrid.
    rng : callable, optional
        Inject only for deterministic test vectors (X25519 suite only).
    """
    if suite is WrapSuite.X25519:
        if rng is not None:
            return _derandomised_seal(message_key, receiver.x25519, info, rng(32))
        return _suite(suite).encrypt(message_key, receiver.x25519_key(), info=info)
    if not receiver.post_quantum:
        raise ContextError("receiver registered no ML-KEM-768 key: cannot use the hybrid suite")
    public = hpke.MLKEM768X25519PublicKey(receiver.mlkem768_key(), receiver.x25519_key())
    return _suite(suite).encrypt(message_key, public, info=info)


def wrap_key_revealable(
    message_key: bytes,
    receiver: PublicKeys,
    info: bytes,
    suite: WrapSuite = WrapSuite.X25519,
    rng: RandomSource | None = None,
) -> tuple[bytes, bytes | None]:
    """Wrap ``message_key`` and also return the ephemeral secret a dispute may reveal.

    Returns
    -------
    tuple
        ``enc || ct`` and, for the X25519 suite, the 32-byte ephemeral X25519 secret (None
        for the hybrid suite, whose ephemeral ``cryptography`` keeps to itself).
    """
    if suite is not WrapSuite.X25519:
        return wrap_key(message_key, receiver, info, suite), None
    ephemeral = (rng or os_random)(32)
    return _derandomised_seal(message_key, receiver.x25519, info, ephemeral), ephemeral


def check_wrap(
    wrapped: bytes, receiver_x25519: bytes, info: bytes, ephemeral: bytes, message_key: bytes
) -> bool:
    """Return whether ``wrapped`` is the X25519-suite wrap of ``message_key`` under ``ephemeral``.

    Needs only public data plus the revealed ephemeral secret: the encapsulation is
    deterministic given the ephemeral key, so it is recomputed and compared byte for byte.
    """
    if len(ephemeral) != 32 or len(message_key) != 32 or len(receiver_x25519) != 32:
        return False
    try:
        expected = _derandomised_seal(message_key, receiver_x25519, info, ephemeral)
    except ValueError:  # a low-order receiver key
        return False
    return hmac.compare_digest(expected, bytes(wrapped))


def unwrap_key(wrapped: bytes, keys: PartyKeys, info: bytes, suite: WrapSuite) -> bytes:
    """Decrypt a wrapped key; any failure raises the opaque :class:`DecryptionError`."""
    try:
        if suite is WrapSuite.X25519:
            return _suite(suite).decrypt(wrapped, keys.x25519_key(), info=info)
        if not keys.post_quantum:
            raise DecryptionError()
        private = hpke.MLKEM768X25519PrivateKey(keys.mlkem768_key(), keys.x25519_key())
        return _suite(suite).decrypt(wrapped, private, info=info)
    except DecryptionError:
        raise
    except Exception:  # noqa: BLE001 - every failure must look the same to the caller
        raise DecryptionError() from None


# --- derandomised RFC 9180 base-mode seal, DHKEM(X25519, HKDF-SHA256), AES-256-GCM -------

_KEM_ID, _KDF_ID = 0x0020, 0x0001
#: RFC 9180 AEAD ids and key lengths (AES-128-GCM only for checking the RFC test vector).
AEAD_AES_128_GCM, AEAD_AES_256_GCM = 0x0001, 0x0002
_AEAD_KEY_LEN = {AEAD_AES_128_GCM: 16, AEAD_AES_256_GCM: 32}
_KEM_SUITE_ID = b"KEM" + struct.pack(">H", _KEM_ID)


def _extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def _expand(prk: bytes, info: bytes, length: int) -> bytes:
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def _labeled_extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return _extract(salt, b"HPKE-v1" + suite_id + label + ikm)


def _labeled_expand(suite_id: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    return _expand(prk, struct.pack(">H", length) + b"HPKE-v1" + suite_id + label + info, length)


def _derandomised_seal(
    plaintext: bytes,
    pk_r: bytes,
    info: bytes,
    ephemeral: bytes,
    *,
    aead_id: int = AEAD_AES_256_GCM,
    aad: bytes = b"",
) -> bytes:
    sk_e = x25519.X25519PrivateKey.from_private_bytes(ephemeral)
    enc = sk_e.public_key().public_bytes_raw()
    dh = sk_e.exchange(x25519.X25519PublicKey.from_public_bytes(pk_r))
    eae_prk = _labeled_extract(_KEM_SUITE_ID, b"", b"eae_prk", dh)
    shared = _labeled_expand(_KEM_SUITE_ID, eae_prk, b"shared_secret", enc + pk_r, 32)
    s = b"HPKE" + struct.pack(">HHH", _KEM_ID, _KDF_ID, aead_id)
    context = (
        b"\x00"
        + _labeled_extract(s, b"", b"psk_id_hash", b"")
        + _labeled_extract(s, b"", b"info_hash", info)
    )
    secret = _labeled_extract(s, shared, b"secret", b"")
    key = _labeled_expand(s, secret, b"key", context, _AEAD_KEY_LEN[aead_id])
    base_nonce = _labeled_expand(s, secret, b"base_nonce", context, 12)
    return enc + AESGCM(key).encrypt(base_nonce, plaintext, aad)
