"""DPGAN accounting, determinism and the canonical sample release, on tiny real runs."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from trainer.data import Normalisation
from trainer.dpgan import (
    DPGANConfig,
    DPGANError,
    PrivacyBudgetError,
    SampleFormatError,
    SampleRelease,
    label_release,
    release_samples,
    train_dpgan,
)

TINY = DPGANConfig(epochs=2, batch_size=16, width=8, latent_dim=16)


def _digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic 32x32 strokes: class k is a bar at row 4 + 2k (no dataset needed)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, size=n).astype(np.int64)
    x = np.zeros((n, 1, 32, 32), dtype=np.float32)
    for i, k in enumerate(y):
        x[i, 0, 4 + 2 * k : 6 + 2 * k, 6:26] = 1.0
    x += rng.uniform(0, 0.1, size=x.shape).astype(np.float32)
    return np.clip(x, 0, 1), y


def test_accounting_respected_and_reported() -> None:
    x, y = _digits(64)
    res = train_dpgan(x, labels=y, epsilon=2.0, delta=1e-5, seed=1, config=TINY, noise_seed=2)
    assert 0 < res.achieved_epsilon <= 2.0
    assert res.steps > 0 and res.noise_multiplier > 0
    assert res.num_records == 64 and res.num_classes == 10
    rel = release_samples(res, 25, seed=3)
    assert rel.shape == (25, 1, 32, 32)
    # The release carries an upper bound of the achieved epsilon, rounded up to 1e-6.
    assert res.achieved_epsilon <= rel.epsilon <= res.achieved_epsilon + 1e-6
    assert rel.delta == pytest.approx(1e-5, rel=1e-12) and rel.delta >= 1e-5


def test_tighter_budget_means_more_noise() -> None:
    x, _ = _digits(64)
    loose = train_dpgan(x, epsilon=8.0, delta=1e-5, seed=1, config=TINY, noise_seed=2)
    tight = train_dpgan(x, epsilon=0.5, delta=1e-5, seed=1, config=TINY, noise_seed=2)
    assert tight.noise_multiplier > loose.noise_multiplier
    assert tight.achieved_epsilon <= 0.5 < loose.achieved_epsilon <= 8.0


def test_determinism_per_seed() -> None:
    x, y = _digits(48)
    runs = [
        train_dpgan(x, labels=y, epsilon=4.0, delta=1e-5, seed=5, config=TINY, noise_seed=6)
        for _ in range(2)
    ]
    a, b = (release_samples(r, 20, seed=9) for r in runs)
    assert a.to_bytes() == b.to_bytes()
    other = train_dpgan(x, labels=y, epsilon=4.0, delta=1e-5, seed=5, config=TINY, noise_seed=7)
    assert release_samples(other, 20, seed=9).to_bytes() != a.to_bytes()
    # A different release seed draws different samples from the same generator.
    assert release_samples(runs[0], 20, seed=10).to_bytes() != a.to_bytes()


def test_caller_rng_untouched_and_normalised_input() -> None:
    x, y = _digits(32)
    norm = Normalisation(mean=(0.1,), std=(0.3,))
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    res = train_dpgan(
        (x - 0.1) / 0.3, labels=y, epsilon=4.0, delta=1e-5, seed=0, config=TINY,
        normalisation=norm, noise_seed=1,
    )
    assert torch.equal(torch.rand(3), expected)
    assert res.steps > 0
    # Normalised images without their normalisation fall outside [0, 1]: a clear error.
    with pytest.raises(DPGANError, match="Normalisation"):
        train_dpgan((x - 0.1) / 0.3, epsilon=4.0, delta=1e-5, seed=0, config=TINY)


def test_bad_input_is_rejected() -> None:
    x, y = _digits(16)
    with pytest.raises(PrivacyBudgetError):
        train_dpgan(x, epsilon=0.0, delta=1e-5, seed=0, config=TINY)
    with pytest.raises(PrivacyBudgetError):
        train_dpgan(x, epsilon=1.0, delta=1.5, seed=0, config=TINY)
    with pytest.raises(DPGANError, match="32"):
        train_dpgan(x[:, :, :28, :28], epsilon=1.0, delta=1e-5, seed=0, config=TINY)
    with pytest.raises(DPGANError, match="labels"):
        train_dpgan(x, labels=y[:-1], epsilon=1.0, delta=1e-5, seed=0, config=TINY)
    with pytest.raises(DPGANError, match="labels"):
        train_dpgan(x, labels=y + 10, epsilon=1.0, delta=1e-5, seed=0, config=TINY)
    with pytest.raises(DPGANError):
        DPGANConfig(epochs=0)


def test_release_bytes_round_trip_and_layout() -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(5, 1, 32, 32), dtype=np.uint8)
    rel = SampleRelease(pixels, epsilon_micro=3_999_001, delta_atto=10**13)
    data = rel.to_bytes()
    assert data[:8] == b"FPDLSMP1"
    assert len(data) == 8 + 4 + 1 + 2 + 2 + 8 + 8 + 5 * 1024
    assert int.from_bytes(data[8:12], "little") == 5
    assert data[-1024:] == pixels[4].tobytes()
    back = SampleRelease.from_bytes(data)
    assert np.array_equal(back.pixels, pixels)
    assert back.epsilon == pytest.approx(3.999001) and back.delta == pytest.approx(1e-5)
    assert back.sha256() == hashlib.sha256(data).digest() == rel.sha256()
    assert not back.pixels.flags.writeable
    sub = rel.choose(3, seed=1)
    assert sub.count == 3 and sub.epsilon_micro == rel.epsilon_micro
    assert rel.choose(3, seed=1).to_bytes() == sub.to_bytes()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b"XXXXXXXX" + b[8:], "magic"),
        (lambda b: b[:-1], "pixels"),
        (lambda b: b + b"\x00", "pixels"),
        (lambda b: b[:10], "shorter"),
    ],
)
def test_release_bytes_rejects_corruption(mutate, message) -> None:  # type: ignore[no-untyped-def]
    rel = SampleRelease(np.zeros((2, 1, 32, 32), dtype=np.uint8), 1, 1)
    with pytest.raises(SampleFormatError, match=message):
        SampleRelease.from_bytes(mutate(rel.to_bytes()))


def test_release_validation() -> None:
    with pytest.raises(SampleFormatError):
        SampleRelease(np.zeros((2, 1, 32, 32), dtype=np.float32), 1, 1)  # type: ignore[arg-type]
    with pytest.raises(SampleFormatError):
        SampleRelease(np.zeros((0, 1, 32, 32), dtype=np.uint8), 1, 1)
    with pytest.raises(SampleFormatError):
        SampleRelease(np.zeros((2, 1, 32, 32), dtype=np.uint8), -1, 1)
    rel = SampleRelease(np.zeros((2, 1, 32, 32), dtype=np.uint8), 1, 1)
    with pytest.raises(SampleFormatError):
        rel.choose(3, seed=0)


def test_labels_come_from_the_given_model() -> None:
    pixels = np.full((4, 1, 32, 32), 255, dtype=np.uint8)
    pixels[2:] = 0
    rel = SampleRelease(pixels, 0, 0)
    # A fixed linear "model": class 7 for bright images, class 2 for dark ones.
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(1024, 10))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.zero_()
        model[1].weight[7] = 1.0 / 1024
        model[1].bias[2] = 0.5
    assert label_release(model, rel).tolist() == [7, 7, 2, 2]
    norm = Normalisation(mean=(0.5,), std=(0.5,))
    x = rel.to_model_input(norm)
    assert x.dtype == np.float32 and x.max() == pytest.approx(1.0) and x.min() == pytest.approx(-1)


def test_augmentation_is_per_record_and_small() -> None:
    from trainer.dpgan import _augment

    x, y = _digits(8)
    batch = torch.from_numpy(x * 2 - 1)
    gen = torch.Generator().manual_seed(0)
    still = _augment(batch, DPGANConfig(rotation_degrees=0.0, shift_fraction=0.0), gen)
    assert torch.allclose(still, batch, atol=1e-5)
    moved = _augment(batch, DPGANConfig(rotation_degrees=10.0, shift_fraction=0.1), gen)
    assert moved.shape == batch.shape and not torch.allclose(moved, batch, atol=1e-2)
    # Each output image depends on its own input only (the DP unit is the record).
    cfg = DPGANConfig(rotation_degrees=10.0, shift_fraction=0.1)
    other = batch.clone()
    other[1:] = -1.0
    out_a = _augment(batch, cfg, torch.Generator().manual_seed(3))
    out_b = _augment(other, cfg, torch.Generator().manual_seed(3))
    assert torch.equal(out_a[0], out_b[0]) and not torch.equal(out_a[1], out_b[1])
    res = train_dpgan(x, labels=y, epsilon=3.0, delta=1e-5, seed=0,
                      config=DPGANConfig(epochs=1, batch_size=4, width=8, latent_dim=8,
                                         augment=True), noise_seed=1)
    assert 0 < res.achieved_epsilon <= 3.0
