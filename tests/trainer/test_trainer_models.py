from __future__ import annotations

import numpy as np
import pytest
import torch

from trainer.errors import ModelError
from trainer.models import add_flat, build_model, get_flat, layer_slices, num_params, set_flat


@pytest.mark.parametrize(
    ("name", "channels", "expected"),
    [("mlp", 1, 140_106), ("mlp", 3, 402_250), ("cnn", 1, 105_506), ("cnn", 3, 107_106)],
)
def test_parameter_counts(name: str, channels: int, expected: int) -> None:
    model = build_model(name, (channels, 32, 32))
    assert num_params(model) == expected
    assert get_flat(model).shape == (expected,)
    logits = model(torch.zeros(2, channels, 32, 32))
    assert logits.shape == (2, 10)


def test_mlp_layers_are_1024_128_64_10() -> None:
    model = build_model("mlp", (1, 32, 32))
    shapes = [tuple(p.shape) for p in model.parameters()]
    assert shapes == [(128, 1024), (128,), (64, 128), (64,), (10, 64), (10,)]


def test_bad_names_and_shapes_are_named_errors() -> None:
    with pytest.raises(ModelError, match="unknown model"):
        build_model("resnet", (1, 32, 32))
    with pytest.raises(ModelError, match="input_shape"):
        build_model("mlp", (1, 28, 28))
    with pytest.raises(ModelError, match="channels"):
        build_model("cnn", (2, 32, 32))


def test_flat_roundtrip_and_add() -> None:
    torch.manual_seed(0)
    model = build_model("cnn", (1, 32, 32))
    vec = np.random.default_rng(1).normal(size=num_params(model)).astype(np.float32)
    set_flat(model, vec)
    np.testing.assert_array_equal(get_flat(model), vec)
    delta = np.zeros_like(vec)
    delta[[0, 5000, len(vec) - 1]] = [1.0, -2.0, 3.0]
    add_flat(model, delta)
    np.testing.assert_allclose(get_flat(model), vec + delta, rtol=0, atol=1e-6)
    # The flat order is the parameters() order, layer by layer.
    first = next(model.parameters())
    assert float(first.detach().reshape(-1)[0]) == pytest.approx(vec[0] + 1.0)
    slices = layer_slices(model)
    assert slices[0].start == 0 and slices[-1].stop == len(vec)


def test_get_flat_is_a_copy() -> None:
    model = build_model("mlp", (1, 32, 32))
    vec = get_flat(model)
    vec[:] = 0
    assert np.any(get_flat(model) != 0)


def test_wrong_length_or_nan_is_rejected() -> None:
    model = build_model("mlp", (1, 32, 32))
    with pytest.raises(ModelError, match="length 140106"):
        set_flat(model, np.zeros(10, dtype=np.float32))
    bad = np.zeros(num_params(model), dtype=np.float32)
    bad[3] = np.nan
    with pytest.raises(ModelError, match="NaN"):
        add_flat(model, bad)
