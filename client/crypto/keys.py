"""Party key material: one X25519 key pair (masks + HPKE) and an optional ML-KEM-768 key.

The raw 32-byte X25519 public key is what a party registers on-chain. It is used both for
the pairwise mask agreement of layer 1 and as the HPKE recipient key of layer 3. The
optional ML-KEM-768 key enables the post-quantum hybrid HPKE suite (ML-KEM-768+X25519,
reusing the same X25519 key) for layer 3 only; its public half (1184 bytes) is registered
as extra bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from functools import cached_property

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey, MLKEM768PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from client.crypto.constants import (
    KEYFILE_MAGIC,
    KEYFILE_VERSION,
    LABEL_KEYFILE,
    MLKEM768_PUBLIC_LEN,
    MLKEM768_SEED_LEN,
    NONCE_LEN,
    X25519_KEY_LEN,
)
from client.crypto.errors import KeyFormatError, KeyImportError
from client.crypto.rng import RandomSource, os_random

#: scrypt cost used by :meth:`PartyKeys.export_encrypted` unless told otherwise (2**17, r=8:
#: about 128 MiB and a fraction of a second, the current OWASP recommendation).
DEFAULT_SCRYPT_LOG2_N = 17
_SCRYPT_R = 8
_SCRYPT_P = 1
_SALT_LEN = 16
_KEYFILE_HEADER = struct.Struct(">4sBBBB16s12s")


@dataclass(frozen=True)
class PublicKeys:
    """Public key material of one party, as registered on-chain (raw bytes).

    Parameters
    ----------
    x25519 : bytes
        Raw 32-byte X25519 public key.
    mlkem768 : bytes or None
        Raw 1184-byte ML-KEM-768 public key, present only if the party offers the
        post-quantum hybrid suite.
    """

    x25519: bytes
    mlkem768: bytes | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.x25519, bytes) or len(self.x25519) != X25519_KEY_LEN:
            raise KeyFormatError(f"X25519 public key must be {X25519_KEY_LEN} bytes")
        if self.mlkem768 is not None and (
            not isinstance(self.mlkem768, bytes) or len(self.mlkem768) != MLKEM768_PUBLIC_LEN
        ):
            raise KeyFormatError(f"ML-KEM-768 public key must be {MLKEM768_PUBLIC_LEN} bytes")

    @property
    def post_quantum(self) -> bool:
        """Whether the hybrid ML-KEM-768+X25519 suite can be used towards this party."""
        return self.mlkem768 is not None

    def to_bytes(self) -> bytes:
        """Serialise as ``x25519 || mlkem768`` (32 or 1216 bytes)."""
        return self.x25519 + (self.mlkem768 or b"")

    @classmethod
    def from_bytes(cls, data: bytes) -> PublicKeys:
        """Parse the output of :meth:`to_bytes`; raise :class:`KeyFormatError` otherwise."""
        data = bytes(data)
        if len(data) == X25519_KEY_LEN:
            return cls(data)
        if len(data) == X25519_KEY_LEN + MLKEM768_PUBLIC_LEN:
            return cls(data[:X25519_KEY_LEN], data[X25519_KEY_LEN:])
        raise KeyFormatError(
            f"public key bytes must be {X25519_KEY_LEN} or "
            f"{X25519_KEY_LEN + MLKEM768_PUBLIC_LEN} long, got {len(data)}"
        )

    def x25519_key(self) -> X25519PublicKey:
        """Return the X25519 public key object."""
        return X25519PublicKey.from_public_bytes(self.x25519)

    def mlkem768_key(self) -> MLKEM768PublicKey:
        """Return the ML-KEM-768 public key object; raise if the party has none."""
        if self.mlkem768 is None:
            raise KeyFormatError("this party registered no ML-KEM-768 public key")
        try:
            return MLKEM768PublicKey.from_public_bytes(self.mlkem768)
        except ValueError as exc:
            raise KeyFormatError("invalid ML-KEM-768 public key bytes") from exc


@dataclass(frozen=True, repr=False)
class PartyKeys:
    """Private key material of one party (never leaves the party unencrypted).

    Parameters
    ----------
    x25519_private : bytes
        Raw 32-byte X25519 private key.
    mlkem768_seed : bytes or None
        64-byte ML-KEM-768 seed, if the party offers the post-quantum hybrid suite.
    """

    x25519_private: bytes
    mlkem768_seed: bytes | None = None
    # Raw X25519 secrets per peer public key: a party agrees with the same peers in every
    # round, so the expensive scalar multiplication is done once per peer, not per message.
    _shared: dict[bytes, bytes] = field(default_factory=dict, init=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.x25519_private, bytes) or len(self.x25519_private) != 32:
            raise KeyFormatError("X25519 private key must be 32 bytes")
        if self.mlkem768_seed is not None and (
            not isinstance(self.mlkem768_seed, bytes)
            or len(self.mlkem768_seed) != MLKEM768_SEED_LEN
        ):
            raise KeyFormatError(f"ML-KEM-768 seed must be {MLKEM768_SEED_LEN} bytes")

    def __repr__(self) -> str:
        # Never print secrets (logs, tracebacks).
        return f"PartyKeys(public={self.public().x25519.hex()}, post_quantum={self.post_quantum})"

    @classmethod
    def generate(cls, *, post_quantum: bool = False, rng: RandomSource | None = None) -> PartyKeys:
        """Create fresh keys from ``rng`` (OS randomness by default).

        Parameters
        ----------
        post_quantum : bool
            Also create an ML-KEM-768 key for the hybrid layer-3 suite.
        rng : callable, optional
            Byte source; inject only for reproducible test vectors.
        """
        draw = rng or os_random
        seed = draw(MLKEM768_SEED_LEN) if post_quantum else None
        return cls(draw(32), seed)

    @property
    def post_quantum(self) -> bool:
        """Whether this party holds an ML-KEM-768 key."""
        return self.mlkem768_seed is not None

    def x25519_key(self) -> X25519PrivateKey:
        """Return the X25519 private key object."""
        return self._x25519

    @cached_property
    def _x25519(self) -> X25519PrivateKey:
        return X25519PrivateKey.from_private_bytes(self.x25519_private)

    def shared_secret(self, peer_x25519: bytes) -> bytes:
        """Raw X25519 agreement with a peer's registered public key (cached per peer).

        Raises
        ------
        KeyFormatError
            If the peer key has the wrong length or is a low-order point.
        """
        if not isinstance(peer_x25519, bytes | bytearray | memoryview):
            raise KeyFormatError("peer X25519 public key must be 32 raw bytes")
        peer_x25519 = bytes(peer_x25519)
        secret = self._shared.get(peer_x25519)
        if secret is None:
            try:
                peer = X25519PublicKey.from_public_bytes(peer_x25519)
                secret = self._x25519.exchange(peer)
            except ValueError as exc:
                # Low-order points give an all-zero secret; cryptography refuses them.
                raise KeyFormatError(
                    "unusable X25519 public key (bad length or low order)"
                ) from exc
            if len(self._shared) >= 4096:
                self._shared.clear()
            self._shared[peer_x25519] = secret
        return secret

    def mlkem768_key(self) -> MLKEM768PrivateKey:
        """Return the ML-KEM-768 private key object; raise if there is none."""
        if self.mlkem768_seed is None:
            raise KeyFormatError("these keys hold no ML-KEM-768 key")
        return MLKEM768PrivateKey.from_seed_bytes(self.mlkem768_seed)

    def public(self) -> PublicKeys:
        """Return the matching :class:`PublicKeys`."""
        pub = self.x25519_key().public_key().public_bytes_raw()
        pq = self.mlkem768_key().public_key().public_bytes_raw() if self.post_quantum else None
        return PublicKeys(pub, pq)

    def to_bytes(self) -> bytes:
        """Raw secret serialisation ``x25519_private || mlkem768_seed`` (keep it secret)."""
        return self.x25519_private + (self.mlkem768_seed or b"")

    @classmethod
    def from_bytes(cls, data: bytes) -> PartyKeys:
        """Parse the output of :meth:`to_bytes`."""
        data = bytes(data)
        if len(data) == 32:
            return cls(data)
        if len(data) == 32 + MLKEM768_SEED_LEN:
            return cls(data[:32], data[32:])
        raise KeyFormatError(f"private key bytes must be 32 or 96 long, got {len(data)}")

    def export_encrypted(
        self,
        password: bytes,
        *,
        log2_n: int = DEFAULT_SCRYPT_LOG2_N,
        rng: RandomSource | None = None,
    ) -> bytes:
        """Encrypt the private keys under ``password`` (scrypt + AES-256-GCM).

        Parameters
        ----------
        password : bytes
            The keystore password (UTF-8 encode strings first).
        log2_n : int
            scrypt cost parameter log2(N); stored in the file. Lower it only in tests.
        rng : callable, optional
            Byte source for salt and nonce.

        Returns
        -------
        bytes
            ``magic | version | log2_n | r | p | salt | nonce | AES-GCM(secret)``.
        """
        if not 10 <= log2_n <= 22:
            raise KeyFormatError(f"scrypt log2_n must be in [10, 22], got {log2_n}")
        draw = rng or os_random
        salt, nonce = draw(_SALT_LEN), draw(NONCE_LEN)
        header = _KEYFILE_HEADER.pack(
            KEYFILE_MAGIC, KEYFILE_VERSION, log2_n, _SCRYPT_R, _SCRYPT_P, salt, nonce
        )
        key = _scrypt(password, salt, log2_n, _SCRYPT_R, _SCRYPT_P)
        return header + AESGCM(key).encrypt(nonce, self.to_bytes(), LABEL_KEYFILE + header)

    @classmethod
    def import_encrypted(cls, blob: bytes, password: bytes) -> PartyKeys:
        """Decrypt a key file written by :meth:`export_encrypted`.

        Raises
        ------
        KeyImportError
            If the file is malformed or the password is wrong.
        """
        blob = bytes(blob)
        if len(blob) < _KEYFILE_HEADER.size:
            raise KeyImportError("key file is truncated")
        magic, version, log2_n, r, p, salt, nonce = _KEYFILE_HEADER.unpack_from(blob)
        if magic != KEYFILE_MAGIC or version != KEYFILE_VERSION:
            raise KeyImportError("not an fppdl key file (bad magic or version)")
        if not (10 <= log2_n <= 22 and 1 <= r <= 32 and 1 <= p <= 16):
            raise KeyImportError("key file has out-of-range scrypt parameters")
        header = blob[: _KEYFILE_HEADER.size]
        key = _scrypt(password, salt, log2_n, r, p)
        try:
            body = blob[_KEYFILE_HEADER.size :]
            secret = AESGCM(key).decrypt(nonce, body, LABEL_KEYFILE + header)
        except InvalidTag:
            raise KeyImportError("wrong password or corrupted key file") from None
        try:
            return cls.from_bytes(secret)
        except KeyFormatError as exc:
            raise KeyImportError("key file holds malformed key material") from exc


def _scrypt(password: bytes, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    if not isinstance(password, bytes | bytearray):
        raise KeyFormatError("password must be bytes (encode strings as UTF-8)")
    kdf = Scrypt(salt=salt, length=32, n=2**log2_n, r=r, p=p)
    return kdf.derive(bytes(password))
