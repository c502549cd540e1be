"""Key serialisation, password-protected export, and the HPKE layer (RFC 9180 vector)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hpke

from client.crypto import (
    DecryptionError,
    KeyFormatError,
    KeyImportError,
    PartyKeys,
    PublicKeys,
    WrapSuite,
    seeded_random,
)
from client.crypto.hpke_wrap import (
    AEAD_AES_128_GCM,
    _derandomised_seal,
    check_wrap,
    unwrap_key,
    wrap_key,
    wrap_key_revealable,
)

# RFC 9180, Appendix A.1.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, seq 0.
RFC_SK_E = bytes.fromhex("52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736")
RFC_PK_E = bytes.fromhex("37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431")
RFC_PK_R = bytes.fromhex("3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d")
RFC_SK_R = bytes.fromhex("4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8")
RFC_CT = bytes.fromhex(
    "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a"
)


def test_derandomised_hpke_matches_rfc9180_vector() -> None:
    out = _derandomised_seal(
        b"Beauty is truth, truth beauty",
        RFC_PK_R,
        b"Ode on a Grecian Urn",
        RFC_SK_E,
        aead_id=AEAD_AES_128_GCM,
        aad=b"Count-0",
    )
    assert out == RFC_PK_E + RFC_CT


def test_derandomised_wrap_interoperates_with_cryptography() -> None:
    keys = PartyKeys(RFC_SK_R)
    wrapped = wrap_key(b"k" * 32, keys.public(), b"info", rng=seeded_random(b"x"))
    assert wrapped == wrap_key(b"k" * 32, keys.public(), b"info", rng=seeded_random(b"x"))
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
    assert suite.decrypt(wrapped, keys.x25519_key(), info=b"info") == b"k" * 32
    assert unwrap_key(wrapped, keys, b"info", WrapSuite.X25519) == b"k" * 32
    with pytest.raises(DecryptionError):
        unwrap_key(wrapped, keys, b"other info", WrapSuite.X25519)


def test_os_random_wrap_is_fresh_each_time() -> None:
    keys = PartyKeys.generate()
    a = wrap_key(b"k" * 32, keys.public(), b"i")
    assert a != wrap_key(b"k" * 32, keys.public(), b"i")
    assert unwrap_key(a, keys, b"i", WrapSuite.X25519) == b"k" * 32


def test_revealable_wrap_is_plain_hpke_and_checkable_from_its_ephemeral() -> None:
    keys = PartyKeys.generate()
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
    seen = set()
    for _ in range(20):
        wrapped, ephemeral = wrap_key_revealable(b"k" * 32, keys.public(), b"info")
        assert ephemeral is not None and wrapped[:32] not in seen
        seen.add(wrapped[:32])
        # cryptography opens it; the ephemeral secret proves what it wraps, to whom.
        assert suite.decrypt(wrapped, keys.x25519_key(), info=b"info") == b"k" * 32
        assert check_wrap(wrapped, keys.public().x25519, b"info", ephemeral, b"k" * 32)
        assert not check_wrap(wrapped, keys.public().x25519, b"info", ephemeral, b"j" * 32)
        assert not check_wrap(wrapped, keys.public().x25519, b"other", ephemeral, b"k" * 32)
        other = PartyKeys.generate().public().x25519
        assert not check_wrap(wrapped, other, b"info", ephemeral, b"k" * 32)
    assert not check_wrap(wrapped, bytes(32), b"info", ephemeral, b"k" * 32)  # low order
    pq = PartyKeys.generate(post_quantum=True)
    wrapped, ephemeral = wrap_key_revealable(
        b"k" * 32, pq.public(), b"i", WrapSuite.MLKEM768_X25519
    )
    assert ephemeral is None
    assert unwrap_key(wrapped, pq, b"i", WrapSuite.MLKEM768_X25519) == b"k" * 32


def test_hybrid_suite_needs_a_registered_mlkem_key() -> None:
    keys = PartyKeys.generate(post_quantum=True)
    wrapped = wrap_key(b"k" * 32, keys.public(), b"i", WrapSuite.MLKEM768_X25519)
    assert unwrap_key(wrapped, keys, b"i", WrapSuite.MLKEM768_X25519) == b"k" * 32
    with pytest.raises(ValueError, match="ML-KEM"):
        wrap_key(b"k" * 32, PartyKeys.generate().public(), b"i", WrapSuite.MLKEM768_X25519)


@pytest.mark.parametrize("post_quantum", [False, True])
def test_public_and_private_bytes_round_trip(post_quantum: bool) -> None:
    keys = PartyKeys.generate(post_quantum=post_quantum)
    pub = keys.public()
    assert len(pub.to_bytes()) == (32 + 1184 if post_quantum else 32)
    assert PublicKeys.from_bytes(pub.to_bytes()) == pub
    assert PartyKeys.from_bytes(keys.to_bytes()) == keys
    assert PartyKeys.from_bytes(keys.to_bytes()).public() == pub


def test_malformed_key_bytes_are_named() -> None:
    with pytest.raises(KeyFormatError, match="32 or 1216"):
        PublicKeys.from_bytes(b"\x00" * 33)
    with pytest.raises(KeyFormatError):
        PartyKeys.from_bytes(b"\x00" * 31)
    with pytest.raises(KeyFormatError):
        PublicKeys(b"\x00" * 32, b"\x00" * 10)


@pytest.mark.parametrize("post_quantum", [False, True])
def test_password_export_round_trip(post_quantum: bool) -> None:
    keys = PartyKeys.generate(post_quantum=post_quantum)
    blob = keys.export_encrypted(b"correct horse", log2_n=10)
    assert keys.x25519_private not in blob
    assert PartyKeys.import_encrypted(blob, b"correct horse") == keys
    assert blob != keys.export_encrypted(b"correct horse", log2_n=10)  # fresh salt and nonce


def test_wrong_password_and_corruption_are_reported() -> None:
    blob = PartyKeys.generate().export_encrypted(b"pw", log2_n=10)
    with pytest.raises(KeyImportError, match="wrong password"):
        PartyKeys.import_encrypted(blob, b"PW")
    for i in (0, 5, 8, 30, len(blob) - 1):
        tampered = bytearray(blob)
        tampered[i] ^= 1
        with pytest.raises(KeyImportError):
            PartyKeys.import_encrypted(bytes(tampered), b"pw")
    with pytest.raises(KeyImportError, match="truncated"):
        PartyKeys.import_encrypted(blob[:10], b"pw")
    with pytest.raises(KeyFormatError, match="log2_n"):
        PartyKeys.generate().export_encrypted(b"pw", log2_n=4)
