"""Fixed-point quantization of float vectors into the ring Z/2^k and exact decoding.

A value x of a segment with ``frac_bits = f`` is encoded as ``round(x * 2^f) mod 2^k``.
The clip bound is ``B <= floor((2^(k-1) - 1) / max_senders)`` ring units (see
:attr:`QuantParams.clip_units`), so the sum of up to
``max_senders`` encoded values stays within ``[-(2^(k-1) - 1), 2^(k-1) - 1]`` and the
centered lift of the ring sum is the exact integer sum: no wrap-around is possible. Values
beyond ``B / 2^f`` raise :class:`QuantizationError` instead of wrapping silently.

A vector may consist of several segments with their own ``frac_bits``: the ``average`` rule
sends ``[values, indicator]`` of length 2L, where the indicator segment uses
``frac_bits = 0`` so the receiver gets exact integer counts per position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from client.crypto.constants import (
    DEFAULT_FRAC_BITS,
    DEFAULT_MAX_SENDERS,
    DEFAULT_RING_BITS,
    MAX_U16,
    MAX_U32,
    SUPPORTED_RING_BITS,
)
from client.crypto.errors import QuantizationError

RingArray = npt.NDArray[np.uint32] | npt.NDArray[np.uint64]


@dataclass(frozen=True)
class Segment:
    """A run of ``length`` entries sharing one fixed-point scale ``2**frac_bits``."""

    length: int
    frac_bits: int


@dataclass(frozen=True)
class QuantParams:
    """Ring and fixed-point parameters of one message (all integers; carried in the header).

    Parameters
    ----------
    bits : int
        Ring size k (32 or 64): entries live in Z/2^k.
    max_senders : int
        Largest number of messages ever summed; sets the clip bound.
    segments : tuple of Segment
        Consecutive segments of the vector and their fraction bits.
    """

    bits: int
    max_senders: int
    segments: tuple[Segment, ...]

    def __post_init__(self) -> None:
        if self.bits not in SUPPORTED_RING_BITS:
            raise QuantizationError(
                f"ring bits must be one of {SUPPORTED_RING_BITS}, got {self.bits}"
            )
        if not 1 <= self.max_senders <= MAX_U32:
            raise QuantizationError(f"max_senders must be in [1, 2**32), got {self.max_senders}")
        if not 1 <= len(self.segments) <= MAX_U16:
            raise QuantizationError("quantization needs 1..65535 segments")
        object.__setattr__(self, "segments", tuple(self.segments))
        for seg in self.segments:
            if not 1 <= seg.length <= MAX_U32:
                raise QuantizationError(f"segment length must be in [1, 2**32), got {seg.length}")
            if not 0 <= seg.frac_bits <= self.bits - 2:
                raise QuantizationError(
                    f"frac_bits must be in [0, {self.bits - 2}] for a {self.bits}-bit ring, "
                    f"got {seg.frac_bits}"
                )
        if self.clip_units < 1:
            raise QuantizationError("max_senders too large for this ring: clip bound is zero")

    @classmethod
    def for_vector(
        cls,
        length: int,
        *,
        bits: int = DEFAULT_RING_BITS,
        frac_bits: int | None = None,
        max_senders: int = DEFAULT_MAX_SENDERS,
    ) -> QuantParams:
        """Parameters for a plain value vector of ``length`` entries."""
        f = DEFAULT_FRAC_BITS.get(bits, 0) if frac_bits is None else frac_bits
        return cls(bits, max_senders, (Segment(length, f),))

    @classmethod
    def for_values_and_indicator(
        cls,
        length: int,
        *,
        bits: int = DEFAULT_RING_BITS,
        frac_bits: int | None = None,
        max_senders: int = DEFAULT_MAX_SENDERS,
    ) -> QuantParams:
        """Parameters for ``[values (L), indicator (L)]``: the indicator is exact (f = 0)."""
        f = DEFAULT_FRAC_BITS.get(bits, 0) if frac_bits is None else frac_bits
        return cls(bits, max_senders, (Segment(length, f), Segment(length, 0)))

    @property
    def length(self) -> int:
        """Total vector length (sum of segment lengths)."""
        return sum(seg.length for seg in self.segments)

    @property
    def dtype(self) -> type[np.unsignedinteger]:
        """Numpy dtype of ring elements."""
        return np.uint32 if self.bits == 32 else np.uint64

    @property
    def wire_dtype(self) -> np.dtype:
        """Little-endian dtype of ring elements in keystreams and on the wire."""
        return np.dtype("<u4" if self.bits == 32 else "<u8")

    @property
    def element_bytes(self) -> int:
        """Bytes per ring element on the wire."""
        return self.bits // 8

    @property
    def clip_units(self) -> int:
        """Largest absolute quantized value one message may hold (ring units).

        ``floor((2^(k-1) - 1) / max_senders)`` with the bits below its 24 most significant
        ones cleared, so that the bound itself is exact in float32 and float64 (a relative
        loss below 2^-23) and the clip test never depends on float rounding.
        """
        raw = (2 ** (self.bits - 1) - 1) // self.max_senders
        drop = max(0, raw.bit_length() - 24)
        return (raw >> drop) << drop

    def clip_bound(self, segment: int = 0) -> float:
        """Largest absolute float value representable in ``segment``."""
        return self.clip_units / 2.0 ** self.segments[segment].frac_bits


def quantize(vector: npt.ArrayLike, quant: QuantParams) -> RingArray:
    """Encode a float vector into Z/2^k.

    Parameters
    ----------
    vector : array_like
        1-D float vector of length ``quant.length`` (float32 in the protocol).
    quant : QuantParams
        Ring and scale parameters.

    Returns
    -------
    numpy.ndarray
        uint32 (k=32) or uint64 (k=64) ring elements (two's complement of the rounded value).

    Raises
    ------
    QuantizationError
        On a wrong shape, a non-finite entry, or an entry beyond the clip bound.
    """
    x = np.asarray(vector)
    if x.ndim != 1 or x.shape[0] != quant.length:
        raise QuantizationError(f"expected a 1-D vector of length {quant.length}, got {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise QuantizationError(f"expected a numeric vector, got dtype {x.dtype}")
    # float32 inputs stay float32: scaling by a power of two is exact (no overflow below
    # 2^57 < 2^127), and rounding a float32 to an integer is exact too (every float32 of
    # magnitude >= 2^23 already is one), so float64 would only add a large temporary.
    work = np.float32 if x.dtype == np.float32 else np.float64
    signed = np.int32 if quant.bits == 32 else np.int64
    out = np.empty(quant.length, dtype=signed)
    limit = quant.clip_units
    start = 0
    for seg in quant.segments:
        # One temporary per segment: fresh multi-MB buffers cost page faults when the
        # allocator hands memory back to the OS between calls.
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is caught just below
            scaled = np.multiply(x[start : start + seg.length], 2.0**seg.frac_bits, dtype=work)
            np.rint(scaled, out=scaled)
        low, high = float(scaled.min()), float(scaled.max())
        # Written so that NaN fails the test too (every comparison with NaN is False).
        if not (-limit <= low and high <= limit):
            if not np.all(np.isfinite(x[start : start + seg.length])):
                raise QuantizationError("vector contains NaN or infinite entries")
            peak = float(np.max(np.abs(x[start : start + seg.length])))
            raise QuantizationError(
                f"entry of magnitude {peak:.6g} exceeds the clip bound "
                f"{limit / 2.0**seg.frac_bits:.6g} "
                f"(k={quant.bits}, max_senders={quant.max_senders}); clip or rescale before sealing"
            )
        out[start : start + seg.length] = scaled
        start += seg.length
    return out.view(quant.dtype)


def dequantize(ring: npt.ArrayLike, quant: QuantParams) -> npt.NDArray[np.float64]:
    """Decode ring elements (a single message or a sum) by centered lift.

    Parameters
    ----------
    ring : array_like
        uint32/uint64 vector of length ``quant.length``.
    quant : QuantParams
        Parameters used to encode.

    Returns
    -------
    numpy.ndarray
        float64 vector; indicator segments (``frac_bits = 0``) come out as exact integers.
    """
    r = np.asarray(ring)
    if r.shape != (quant.length,) or r.dtype != quant.dtype:
        raise QuantizationError(
            f"expected {quant.dtype.__name__}[{quant.length}], got {r.dtype}{list(r.shape)}"
        )
    signed = r.view(np.int32 if quant.bits == 32 else np.int64)
    out = signed.astype(np.float64)
    start = 0
    for seg in quant.segments:
        out[start : start + seg.length] *= 2.0**-seg.frac_bits
        start += seg.length
    return out
