"""Randomness sources: OS randomness for secrets, a seeded source for test vectors only."""

from __future__ import annotations

import os
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

#: A source of random bytes: ``rng(n)`` returns ``n`` bytes.
RandomSource = Callable[[int], bytes]


def os_random(n: int) -> bytes:
    """Return ``n`` bytes from the operating system CSPRNG (the default everywhere)."""
    return os.urandom(n)


def seeded_random(seed: bytes) -> RandomSource:
    """Deterministic byte source (AES-256-CTR keyed by SHA-256 of ``seed``).

    For known-answer vectors and reproducible benchmarks only: never use it for real keys,
    message keys or nonces, since anyone who knows the seed knows every output.

    Parameters
    ----------
    seed : bytes
        Any byte string.
    """
    from hashlib import sha256

    encryptor = Cipher(algorithms.AES(sha256(seed).digest()), modes.CTR(bytes(16))).encryptor()

    def draw(n: int) -> bytes:
        return encryptor.update(bytes(n))

    return draw
