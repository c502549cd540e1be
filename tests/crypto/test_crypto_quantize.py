"""Quantization into Z/2^k: round trips, exact sums, and bound violations that raise."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from client.crypto import QuantizationError, QuantParams, Segment, dequantize, quantize


@settings(max_examples=60, deadline=None)
@given(
    bits=st.sampled_from([32, 64]),
    data=st.data(),
)
def test_round_trip_error_is_at_most_half_a_step(bits: int, data: st.DataObject) -> None:
    quant = QuantParams.for_vector(17, bits=bits, max_senders=8)
    bound = quant.clip_bound()
    x = data.draw(
        hnp.arrays(
            np.float64,
            17,
            elements=st.floats(-bound * 0.999, bound * 0.999, allow_nan=False),
        )
    )
    ring = quantize(x, quant)
    assert ring.dtype == (np.uint32 if bits == 32 else np.uint64)
    back = dequantize(ring, quant)
    step = 2.0 ** -quant.segments[0].frac_bits
    assert np.all(np.abs(back - x) <= step / 2 + abs(bound) * 2.0**-52)
    # Encoding a decoded value is the identity (the grid is a fixed point).
    assert np.array_equal(quantize(back, quant), ring)


@settings(max_examples=40, deadline=None)
@given(
    bits=st.sampled_from([32, 64]),
    max_senders=st.integers(1, 300),
    seed=st.integers(0, 2**32 - 1),
)
def test_sum_of_max_senders_extreme_messages_never_wraps(
    bits: int, max_senders: int, seed: int
) -> None:
    quant = QuantParams.for_vector(8, bits=bits, max_senders=max_senders)
    rng = np.random.default_rng(seed)
    units = quant.clip_units
    # Extremes of both signs plus random in-range values, max_senders times.
    # Random columns stay below 2^52 so the test's own float64 arithmetic is exact.
    small = min(units, 2**52)
    ints = rng.integers(-small, small, size=(max_senders, 8), endpoint=True)
    ints[:, 0] = units
    ints[:, 1] = -units
    scale = 2.0 ** quant.segments[0].frac_bits
    acc = np.zeros(8, dtype=quant.dtype)
    for row in ints:
        acc += quantize(row.astype(np.float64) / scale, quant)
    expected = ints.sum(axis=0).astype(np.float64) / scale
    assert np.array_equal(dequantize(acc, quant), expected)


@pytest.mark.parametrize("bits", [32, 64])
def test_values_beyond_the_clip_bound_raise(bits: int) -> None:
    quant = QuantParams.for_vector(4, bits=bits, max_senders=16)
    bound = quant.clip_bound()
    step = 2.0 ** -quant.segments[0].frac_bits
    ok = np.array([bound, -bound, 0.0, 1.0])
    assert np.array_equal(dequantize(quantize(ok, quant), quant), ok)
    above = max(bound + step, float(np.nextafter(bound, np.inf)))
    for bad in (above, -above, np.inf, -np.inf, np.nan):
        with pytest.raises(QuantizationError):
            quantize(np.array([0.0, bad, 0.0, 0.0]), quant)


@pytest.mark.parametrize("bits", [32, 64])
def test_float32_input_is_encoded_exactly_like_float64(bits: int) -> None:
    quant = QuantParams.for_vector(10_000, bits=bits)
    rng = np.random.default_rng(bits)
    scale = quant.clip_bound() / 8 * 10.0 ** rng.integers(-10, 1, 10_000)
    x = np.clip(rng.standard_normal(10_000) * scale, -quant.clip_bound(), quant.clip_bound())
    x = x.astype(np.float32)
    x[:4] = [0.5 * 2.0**-16, 1.5 * 2.0**-16, -2.5 * 2.0**-32, 2.0**-40]  # ties and tiny values
    assert np.array_equal(quantize(x, quant), quantize(x.astype(np.float64), quant))
    two = QuantParams.for_vector(2, bits=bits)
    edge = np.array([two.clip_bound(), -two.clip_bound()], dtype=np.float32)
    assert np.array_equal(dequantize(quantize(edge, two), two), edge)
    with pytest.raises(QuantizationError, match="exceeds the clip bound"):
        quantize(np.array([1e38, 0.0], dtype=np.float32), two)


def test_indicator_segment_is_exact_and_values_keep_their_scale() -> None:
    quant = QuantParams.for_values_and_indicator(5)
    assert quant.segments == (Segment(5, 16), Segment(5, 0))
    values = np.array([0.5, 0.0, -1.25, 3.0, 0.0])
    indicator = (values != 0).astype(np.float32)
    vec = np.concatenate([values, indicator]).astype(np.float32)
    total = quantize(vec, quant) + quantize(vec, quant) + quantize(vec, quant)
    out = dequantize(total, quant)
    assert np.array_equal(out[:5], 3 * values)
    assert np.array_equal(out[5:], 3 * indicator)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bits": 16, "max_senders": 4, "segments": (Segment(3, 0),)}, "ring bits"),
        ({"bits": 32, "max_senders": 0, "segments": (Segment(3, 0),)}, "max_senders"),
        ({"bits": 32, "max_senders": 4, "segments": ()}, "segments"),
        ({"bits": 32, "max_senders": 4, "segments": (Segment(0, 0),)}, "length"),
        ({"bits": 32, "max_senders": 4, "segments": (Segment(3, 31),)}, "frac_bits"),
        ({"bits": 32, "max_senders": 2**31, "segments": (Segment(3, 0),)}, "clip bound"),
    ],
)
def test_invalid_parameters_are_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(QuantizationError, match=message):
        QuantParams(**kwargs)  # type: ignore[arg-type]


def test_wrong_shape_and_dtype_are_rejected() -> None:
    quant = QuantParams.for_vector(4)
    with pytest.raises(QuantizationError, match="length 4"):
        quantize(np.zeros(5), quant)
    with pytest.raises(QuantizationError, match="numeric"):
        quantize(np.array(["a", "b", "c", "d"]), quant)
    with pytest.raises(QuantizationError):
        dequantize(np.zeros(4, dtype=np.uint64), quant)
