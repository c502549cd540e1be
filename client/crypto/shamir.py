"""Shamir secret sharing over GF(p), p = 2^255 - 19, for the self-mask seeds.

A secret s is the constant term of a random polynomial f of degree t - 1; holder i (1-based,
in the sender's neighbour order) gets f(i). Any t shares give s by Lagrange interpolation at
0; any t - 1 shares are uniformly distributed whatever s is (for every candidate secret
there is exactly one polynomial through them), so they carry no information about it.

Elements are encoded as 32 big-endian bytes; an encoding >= p is malformed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

from client.crypto.constants import SHAMIR_PRIME, SHARE_LEN
from client.crypto.errors import ContextError
from client.crypto.rng import RandomSource, os_random

P = SHAMIR_PRIME


def random_element(rng: RandomSource | None = None) -> int:
    """Return a uniform element of GF(p) drawn from ``rng`` (OS randomness by default)."""
    draw = rng or os_random
    while True:
        # 255-bit candidates: rejection is needed only for the 19 values in [p, 2^255).
        value = int.from_bytes(draw(SHARE_LEN), "big") & ((1 << 255) - 1)
        if value < P:
            return value


def encode_element(value: int) -> bytes:
    """Return the 32-byte big-endian encoding of a field element."""
    if not 0 <= value < P:
        raise ContextError("not an element of GF(2^255 - 19)")
    return value.to_bytes(SHARE_LEN, "big")


def decode_element(data: bytes) -> int | None:
    """Return the field element encoded by ``data``, or None if it is not a valid encoding."""
    if len(data) != SHARE_LEN:
        return None
    value = int.from_bytes(data, "big")
    return value if value < P else None


def split(secret: int, threshold: int, holders: int, rng: RandomSource | None = None) -> list[int]:
    """Return ``holders`` shares of ``secret``; any ``threshold`` of them reconstruct it.

    Parameters
    ----------
    secret : int
        Element of GF(p).
    threshold : int
        t, with ``1 <= t <= holders`` (t = 1 gives every holder the secret itself).
    holders : int
        m, the number of shares; share ``i`` (0-based) is f(i + 1).
    rng : callable, optional
        Source of the polynomial's coefficients (OS randomness by default).
    """
    if not 0 <= secret < P:
        raise ContextError("secret is not an element of GF(2^255 - 19)")
    if not 1 <= threshold <= holders:
        raise ContextError(f"threshold must be in [1, {holders}], got {threshold}")
    coefficients = [secret] + [random_element(rng) for _ in range(threshold - 1)]
    shares = []
    for x in range(1, holders + 1):
        acc = 0
        for c in reversed(coefficients):  # Horner
            acc = (acc * x + c) % P
        shares.append(acc)
    return shares


def reconstruct(points: Mapping[int, int] | Sequence[tuple[int, int]]) -> int:
    """Return f(0) of the polynomial of degree ``len(points) - 1`` through ``points``.

    Parameters
    ----------
    points : mapping or sequence of (x, y)
        Distinct non-zero abscissae x (holder index + 1) and their shares y.
    """
    items = list(points.items()) if isinstance(points, Mapping) else list(points)
    xs = tuple(x % P for x, _ in items)
    if not items or len(set(xs)) != len(xs) or 0 in xs:
        raise ContextError("reconstruction needs distinct non-zero abscissae")
    weights = _lagrange_at_zero(xs)
    return sum(w * (y % P) for w, (_, y) in zip(weights, items, strict=True)) % P


@lru_cache(maxsize=256)
def _lagrange_at_zero(xs: tuple[int, ...]) -> tuple[int, ...]:
    # A receiver rebuilds one seed per accepted sender, usually from the same holder
    # positions (1..t), so the O(t^2) weights are computed once per position set.
    weights = []
    for i, xi in enumerate(xs):
        num, den = 1, 1
        for j, xj in enumerate(xs):
            if j != i:
                num = num * xj % P
                den = den * (xj - xi) % P
        weights.append(num * pow(den, -1, P) % P)
    return tuple(weights)
