"""Differentially private GAN for initial benchmarking (seed 001 section 4.1, Lemma 1).

Only the discriminator touches real data, so only it is trained with DP-SGD: opacus wraps its
optimizer and data loader (Poisson sampling, per-sample clipping, Gaussian noise, RDP
accountant). The generator learns from the discriminator's outputs on generated images only,
so it -- and every sample drawn from it -- is post-processing of a DP mechanism (Lemma 1).

Architecture (opacus needs per-sample gradients): a class-conditional DCGAN whose
discriminator uses GroupNorm instead of BatchNorm (BatchNorm mixes examples of a batch) and a
projection head, trained with the non-saturating BCE loss (no gradient penalty, which would
need double backward). The paper uses an improved WGAN (gradient penalty), which opacus cannot
train privately (see docs/design/trainer.md#dpgan-trainerdpganpy). Conditioning on the
(private) labels avoids mode collapse; released samples carry no labels.

Accounting: the noise multiplier is chosen by opacus for the planned number of epochs so that
the RDP accountant's epsilon at the end is at most the target; the loop is also capped at
the largest step count whose epsilon is within the target, and the achieved epsilon is
reported with the samples. The optional data augmentation (the paper's small rotations and
shifts) is applied *inside* each sampled example, so the accounting is over the party's real
records, not over 100x copies.

Images cross this module in pixel space ``[0, 1]`` (float) or ``0..255`` (the released bytes);
a ``trainer.data.Normalisation`` converts from and to the models' normalised input.
"""

from __future__ import annotations

import hashlib
import math
import os
import struct
import time
import warnings
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import numpy.typing as npt
import torch
from opacus import PrivacyEngine
from opacus.accountants import RDPAccountant
from opacus.accountants.utils import get_noise_multiplier
from opacus.grad_sample import GradSampleModule
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from trainer.constants import (
    DEFAULT_DELTA,
    DEFAULT_DPGAN_EPOCHS,
    DEFAULT_DPGAN_WIDTH,
    DEFAULT_EPSILON,
)
from trainer.data import IMAGE_SIDE, NUM_CLASSES, Normalisation
from trainer.errors import TrainerError
from trainer.training import predict_labels

#: RDP is the moments accountant the paper cites ([22], Abadi et al.).
ACCOUNTANT = "rdp"
#: Integer Renyi orders only: opacus' default list adds 99 fractional orders whose bound costs
#: ~0.1 s per evaluation on this CPU. Fewer orders can only make the reported epsilon larger
#: (the conversion minimises over the orders), so the guarantee stays conservative.
RDP_ORDERS: list[float] = [float(a) for a in [*range(2, 65), 80, 96, 128, 192, 256]]
#: Fixed-point units of the privacy parameters in the released bytes (integers on the wire).
EPSILON_UNIT = Fraction(1, 10**6)
DELTA_UNIT = Fraction(1, 10**18)
#: Paper defaults (seed 001 section 4.1): epsilon = 4, delta = 1e-5, 1000 samples per party.
PAPER_EPSILON = DEFAULT_EPSILON
PAPER_DELTA = DEFAULT_DELTA
PAPER_NUM_SAMPLES = 1000


class DPGANError(TrainerError, ValueError):
    """Invalid DPGAN input or configuration."""


class PrivacyBudgetError(DPGANError):
    """The requested (epsilon, delta) cannot be met or was about to be exceeded."""


class SampleFormatError(DPGANError):
    """Released sample bytes are malformed."""


@dataclass(frozen=True)
class DPGANConfig:
    """Training settings of the DPGAN (defaults: 400 DP-SGD steps for a 600-image party).

    Attributes
    ----------
    epochs : int
        Passes over the real records (expected; Poisson sampling). Sets the number of
        discriminator steps ``epochs * ceil(N / batch_size)`` and, with epsilon, the noise.
    batch_size : int
        Expected lot size of the Poisson-sampled real batches.
    max_grad_norm : float
        Per-sample clipping norm of the discriminator gradients.
    lr_d, lr_g : float
        Adam learning rates of the discriminator and the generator.
    latent_dim : int
        Size of the generator's noise input.
    width : int
        Channel multiplier of both networks.
    augment : bool
        Apply the paper's augmentation (rotation, shifts) to each sampled record.
    rotation_degrees, shift_fraction : float
        Augmentation ranges; the paper's values are 1 degree and 0.01 of the side.
    """

    epochs: int = DEFAULT_DPGAN_EPOCHS
    batch_size: int = 64
    max_grad_norm: float = 1.0
    lr_d: float = 2e-3
    lr_g: float = 2e-3
    latent_dim: int = 64
    width: int = DEFAULT_DPGAN_WIDTH
    augment: bool = False
    rotation_degrees: float = 1.0
    shift_fraction: float = 0.01

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.latent_dim < 1 or self.width < 1:
            raise DPGANError(
                "epochs, batch_size, latent_dim and width must be >= 1, got "
                f"{self.epochs}, {self.batch_size}, {self.latent_dim}, {self.width}"
            )
        if not (self.max_grad_norm > 0 and self.lr_d > 0 and self.lr_g > 0):
            raise DPGANError("max_grad_norm and learning rates must be > 0")
        if self.rotation_degrees < 0 or not 0 <= self.shift_fraction < 0.5:
            raise DPGANError("rotation_degrees must be >= 0 and shift_fraction in [0, 0.5)")


class _Generator(nn.Module):
    """Class-conditional DCGAN generator: (noise, class) -> image in [-1, 1]."""

    def __init__(self, latent_dim: int, channels: int, width: int, num_classes: int) -> None:
        super().__init__()
        w = width
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes, latent_dim)
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 4 * w * 4 * 4),
            nn.Unflatten(1, (4 * w, 4, 4)),
            nn.BatchNorm2d(4 * w),
            nn.ReLU(),
            nn.ConvTranspose2d(4 * w, 2 * w, 4, stride=2, padding=1),  # 8x8
            nn.BatchNorm2d(2 * w),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1),  # 16x16
            nn.BatchNorm2d(w),
            nn.ReLU(),
            nn.ConvTranspose2d(w, channels, 4, stride=2, padding=1),  # 32x32
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(z * self.embed(y))
        return out


class _Discriminator(nn.Module):
    """Projection discriminator; GroupNorm, not BatchNorm, so per-sample gradients exist."""

    def __init__(self, channels: int, width: int, num_classes: int) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(channels, w, 4, stride=2, padding=1),  # 16x16
            nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1),  # 8x8
            nn.GroupNorm(8, 2 * w),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * w, 4 * w, 4, stride=2, padding=1),  # 4x4
            nn.GroupNorm(8, 4 * w),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        self.out = nn.Linear(4 * w * 4 * 4, 1)
        self.embed = nn.Embedding(num_classes, 4 * w * 4 * 4)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        out: torch.Tensor = self.out(h).view(-1) + (self.embed(y) * h).sum(dim=1)
        return out


@dataclass(frozen=True, eq=False)
class DPGANResult:
    """A trained DP generator and the privacy it cost.

    Attributes
    ----------
    generator : nn.Module
        Maps ``latent_dim`` Gaussian noise to images in ``[-1, 1]`` (use ``release_samples``).
    achieved_epsilon : float
        The RDP accountant's epsilon at ``delta`` after the last step (<= the target).
    target_epsilon, delta : float
        What was asked for.
    steps : int
        Discriminator (DP-SGD) steps taken.
    noise_multiplier : float
        Gaussian noise std relative to ``max_grad_norm``.
    num_records : int
        Real records the discriminator saw (the ``N`` of the accounting).
    seconds : float
        Wall-clock training time.
    config : DPGANConfig
    channels : int
        Image channels (1 for MNIST).
    num_classes : int
        Classes the generator is conditioned on (1 when trained without labels).
    """

    generator: nn.Module
    achieved_epsilon: float
    target_epsilon: float
    delta: float
    steps: int
    noise_multiplier: float
    num_records: int
    seconds: float
    config: DPGANConfig
    channels: int = 1
    num_classes: int = 1


def _augment(x: torch.Tensor, cfg: DPGANConfig, gen: torch.Generator) -> torch.Tensor:
    """Random small rotation and shift of every image independently (paper section 4.1)."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(cfg.rotation_degrees)
    # affine_grid works in [-1, 1] coordinates: a shift of s * side pixels is 2 * s.
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * (2 * cfg.shift_fraction)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], dim=1), torch.stack([sin, cos, shift[:, 1]], dim=1)],
        dim=1,
    )
    grid = nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    # Pixel space is [-1, 1] with background -1: pad with the background value.
    return nn.functional.grid_sample(x + 1, grid, align_corners=False, padding_mode="zeros") - 1


def _to_pixels(x: npt.NDArray[np.floating], normalisation: Normalisation | None) -> torch.Tensor:
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim != 4 or arr.shape[2:] != (IMAGE_SIDE, IMAGE_SIDE) or arr.shape[1] not in (1, 3):
        raise DPGANError(f"images must be N x C x 32 x 32 with C in (1, 3), got {arr.shape}")
    if normalisation is not None:
        if len(normalisation.mean) != arr.shape[1]:
            raise DPGANError(
                f"normalisation has {len(normalisation.mean)} channel(s), images {arr.shape[1]}"
            )
        mean = np.asarray(normalisation.mean, dtype=np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(normalisation.std, dtype=np.float32).reshape(1, -1, 1, 1)
        arr = arr * std + mean
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise DPGANError(
            f"pixels must lie in [0, 1] (got [{lo:.3f}, {hi:.3f}]); pass the Normalisation "
            "the images were normalised with"
        )
    return torch.from_numpy(np.clip(arr, 0.0, 1.0) * 2 - 1)


def _epsilon_after(noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    accountant = RDPAccountant()
    accountant.history = [(noise_multiplier, sample_rate, steps)]
    return float(accountant.get_epsilon(delta, alphas=RDP_ORDERS))


def _max_steps_within(
    noise_multiplier: float, sample_rate: float, epsilon: float, delta: float, planned: int
) -> int:
    """Largest step count <= ``planned`` whose RDP epsilon is at most ``epsilon``."""
    if _epsilon_after(noise_multiplier, sample_rate, planned, delta) <= epsilon:
        return planned
    lo, hi = 0, planned  # eps(lo) <= target < eps(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _epsilon_after(noise_multiplier, sample_rate, mid, delta) <= epsilon:
            lo = mid
        else:
            hi = mid
    return lo


def train_dpgan(
    x: npt.NDArray[np.floating],
    *,
    labels: npt.NDArray[np.integer] | None = None,
    epsilon: float,
    delta: float,
    seed: int,
    config: DPGANConfig | None = None,
    normalisation: Normalisation | None = None,
    noise_seed: int | None = None,
) -> DPGANResult:
    """Train a GAN whose discriminator is (epsilon, delta)-DP with respect to ``x``'s records.

    Parameters
    ----------
    x : ndarray, shape (N, C, 32, 32)
        The party's real images: pixels in ``[0, 1]``, or normalised with ``normalisation``.
    labels : ndarray of int, shape (N,), optional
        The images' classes in ``[0, NUM_CLASSES)``. With labels the GAN is class-conditional
        (one record is an (image, label) pair; both are protected), which avoids the mode
        collapse of a small private GAN; released samples never carry labels.
    epsilon, delta : float
        Privacy target (paper: 4 and 1e-5). ``delta`` should be below ``1 / N``.
    seed : int
        Seeds the network initialisation and the generator's noise.
    config : DPGANConfig, optional
        Training settings; defaults to ``DPGANConfig()``.
    normalisation : Normalisation, optional
        Statistics ``x`` was normalised with (public to the consortium); undone here.
    noise_seed : int, optional
        Seeds the DP noise, the Poisson sampling and the augmentation. Leave it None outside
        experiments: the DP guarantee assumes the noise is secret, so it then comes from the
        operating system's randomness (``os.urandom``).

    Returns
    -------
    DPGANResult
        The generator and the achieved epsilon (never above ``epsilon``).

    Raises
    ------
    DPGANError
        Bad image shape or range, or a bad configuration.
    PrivacyBudgetError
        ``epsilon`` or ``delta`` out of range, or too small for even one step.
    """
    cfg = config or DPGANConfig()
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise PrivacyBudgetError(f"epsilon must be a positive number, got {epsilon}")
    if not 0 < delta < 1:
        raise PrivacyBudgetError(f"delta must lie in (0, 1), got {delta}")
    real = _to_pixels(x, normalisation)
    n = int(real.shape[0])
    if labels is None:
        classes = torch.zeros(n, dtype=torch.int64)
        num_classes = 1
    else:
        lab = np.asarray(labels)
        if lab.shape != (n,) or not np.issubdtype(lab.dtype, np.integer):
            raise DPGANError(f"labels must be {n} integers, got {lab.dtype} {lab.shape}")
        if n and (lab.min() < 0 or lab.max() >= NUM_CLASSES):
            raise DPGANError(f"labels must lie in [0, {NUM_CLASSES})")
        classes = torch.from_numpy(lab.astype(np.int64))
        num_classes = NUM_CLASSES
    if n < 2:
        raise DPGANError(f"need at least 2 real images to train a DPGAN, got {n}")
    if delta >= 1.0 / n:
        warnings.warn(
            f"delta={delta} is not below 1/N={1 / n:.2e}: the guarantee is weak", stacklevel=2
        )
    secret_seed = noise_seed if noise_seed is not None else int.from_bytes(os.urandom(8), "little")
    start = time.perf_counter()
    # Tiny gradients become subnormal floats, which are ~20x slower on x86 CPUs; flushing
    # them to zero changes nothing measurable and is undone on exit.
    flushed = torch.set_flush_denormal(True)
    try:
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            # Opacus' hooks on the first layer fire without input gradients (harmless).
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            return _train(real, classes, num_classes, cfg, epsilon, delta, seed, secret_seed,
                          start)
    finally:
        if flushed:
            torch.set_flush_denormal(False)


def _train(
    real: torch.Tensor,
    classes: torch.Tensor,
    num_classes: int,
    cfg: DPGANConfig,
    epsilon: float,
    delta: float,
    seed: int,
    secret_seed: int,
    start: float,
) -> DPGANResult:
    n, channels = int(real.shape[0]), int(real.shape[1])
    torch.manual_seed(seed)
    gen_net = _Generator(cfg.latent_dim, channels, cfg.width, num_classes)
    disc_net = _Discriminator(channels, cfg.width, num_classes)
    latent_gen = torch.Generator().manual_seed(seed + 1)
    secret_gen = torch.Generator().manual_seed(secret_seed)
    loader = DataLoader(
        TensorDataset(real, classes), batch_size=min(cfg.batch_size, n), generator=secret_gen
    )
    opt_d = torch.optim.Adam(disc_net.parameters(), lr=cfg.lr_d, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(gen_net.parameters(), lr=cfg.lr_g, betas=(0.5, 0.999))
    with warnings.catch_warnings():
        # opacus warns that secure_mode is off; why, and what it means, is in
        # docs/design/trainer.md#what-epsilon-means-here-and-what-the-samples-can-leak.
        warnings.simplefilter("ignore", UserWarning)
        engine = PrivacyEngine(accountant=ACCOUNTANT)
        try:
            planned_rate = 1.0 / len(loader)
            sigma = get_noise_multiplier(
                target_epsilon=epsilon, target_delta=delta, sample_rate=planned_rate,
                epochs=cfg.epochs, accountant=ACCOUNTANT, alphas=RDP_ORDERS,
            )
            disc, opt_d_priv, priv_loader = engine.make_private(
                module=disc_net,
                optimizer=opt_d,
                data_loader=loader,
                noise_multiplier=sigma,
                max_grad_norm=cfg.max_grad_norm,
                noise_generator=secret_gen,
            )
        except ValueError as exc:
            raise PrivacyBudgetError(
                f"cannot reach epsilon={epsilon} at delta={delta} with {cfg.epochs} epochs "
                f"of batch {cfg.batch_size} over {n} records: {exc}"
            ) from exc
    assert isinstance(disc, GradSampleModule)
    noise_multiplier = float(opt_d_priv.noise_multiplier)
    sample_rate = float(getattr(priv_loader, "sample_rate", 1.0 / len(priv_loader)))
    # The accountant, not the plan, is what we report: cap the steps at the largest count
    # whose epsilon is within the target (epsilon only grows with steps).
    max_steps = _max_steps_within(noise_multiplier, sample_rate, epsilon, delta,
                                  cfg.epochs * len(priv_loader))
    bce = nn.BCEWithLogitsLoss()
    steps = 0
    gen_net.train()
    for _ in range(cfg.epochs):
        if steps >= max_steps:
            break
        for batch, batch_y in priv_loader:
            b = int(batch.shape[0])
            if steps >= max_steps:
                break
            if b == 0:
                # An empty Poisson lot releases nothing; opacus still noises the step.
                opt_d_priv.zero_grad(set_to_none=True)
                opt_d_priv.step()
                steps += 1
                continue
            if cfg.augment:
                batch = _augment(batch, cfg, secret_gen)
            # Discriminator: real and fake halves share sample indices (the fakes are drawn
            # for the real labels), so opacus sums their per-sample gradients before
            # clipping -- each clipped gradient still depends on exactly one real record.
            z = torch.randn(b, cfg.latent_dim, generator=latent_gen)
            with torch.no_grad():
                fake = gen_net(z, batch_y)
            opt_d_priv.zero_grad(set_to_none=True)
            loss_d = bce(disc(batch, batch_y), torch.ones(b)) + bce(
                disc(fake, batch_y), torch.zeros(b)
            )
            loss_d.backward()
            opt_d_priv.step()
            steps += 1
            # Generator: no real data involved; hooks off so no per-sample state is kept.
            disc.disable_hooks()
            for p in disc.parameters():
                p.requires_grad_(False)
            z = torch.randn(b, cfg.latent_dim, generator=latent_gen)
            y_g = torch.randint(0, num_classes, (b,), generator=latent_gen)
            opt_g.zero_grad(set_to_none=True)
            loss_g = bce(disc(gen_net(z, y_g), y_g), torch.ones(b))
            loss_g.backward()
            opt_g.step()
            for p in disc.parameters():
                p.requires_grad_(True)
            disc.enable_hooks()
    achieved = float(engine.accountant.get_epsilon(delta, alphas=RDP_ORDERS)) if steps else 0.0
    if achieved > epsilon:  # pragma: no cover - the step cap above makes this unreachable
        raise PrivacyBudgetError(f"accountant reports epsilon={achieved} > target {epsilon}")
    gen_net.eval()
    return DPGANResult(
        generator=gen_net,
        achieved_epsilon=achieved,
        target_epsilon=float(epsilon),
        delta=float(delta),
        steps=steps,
        noise_multiplier=noise_multiplier,
        num_records=n,
        seconds=time.perf_counter() - start,
        config=cfg,
        channels=channels,
        num_classes=num_classes,
    )


# --- Released samples --------------------------------------------------------------------------

_MAGIC = b"FPDLSMP1"
# magic, count, channels, height, width, epsilon (micro-units, rounded up), delta (1e-18 units).
_HEADER = struct.Struct("<8sIBHHQQ")


@dataclass(frozen=True, eq=False)
class SampleRelease:
    """``u`` unlabeled synthetic images and the privacy of the generator that drew them.

    Canonical bytes (``to_bytes``), all little-endian: the 8-byte magic ``FPDLSMP1``; uint32
    count; uint8 channels; uint16 height; uint16 width; uint64 ``epsilon_micro`` (epsilon in
    units of 1e-6, rounded up); uint64 ``delta_atto`` (delta in units of 1e-18, rounded up);
    then ``count * channels * height * width`` uint8 pixels (0..255) in C order. The
    generator's seed and weights are not part of the release.

    Attributes
    ----------
    pixels : ndarray of uint8, shape (u, C, 32, 32)
    epsilon_micro, delta_atto : int
        Fixed-point privacy parameters (integers, as everything on the wire).
    """

    pixels: npt.NDArray[np.uint8]
    epsilon_micro: int
    delta_atto: int
    _digest: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        px = self.pixels
        if px.dtype != np.uint8 or px.ndim != 4 or px.shape[1] not in (1, 3):
            raise SampleFormatError(
                f"pixels must be uint8 u x C x H x W with C in (1, 3), got {px.dtype} {px.shape}"
            )
        if px.shape[0] < 1 or px.shape[0] >= 2**32 or max(px.shape[2:]) >= 2**16:
            raise SampleFormatError(f"unsupported sample shape {px.shape}")
        if not (0 <= self.epsilon_micro < 2**64 and 0 <= self.delta_atto < 2**64):
            raise SampleFormatError("epsilon_micro and delta_atto must fit in uint64")
        frozen = np.ascontiguousarray(px)
        frozen.setflags(write=False)
        object.__setattr__(self, "pixels", frozen)
        object.__setattr__(self, "_digest", hashlib.sha256(self.to_bytes()).digest())

    @property
    def count(self) -> int:
        """``u``: the number of released samples."""
        return int(self.pixels.shape[0])

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """``(u, C, H, W)``."""
        u, c, h, w = self.pixels.shape
        return (int(u), int(c), int(h), int(w))

    @property
    def epsilon(self) -> float:
        """Achieved epsilon of the generator (an upper bound, rounded up to 1e-6)."""
        return float(self.epsilon_micro * EPSILON_UNIT)

    @property
    def delta(self) -> float:
        """Delta of the guarantee (rounded up to 1e-18)."""
        return float(self.delta_atto * DELTA_UNIT)

    def to_bytes(self) -> bytes:
        """Return the canonical encoding (see the class docstring)."""
        u, c, h, w = self.shape
        header = _HEADER.pack(_MAGIC, u, c, h, w, self.epsilon_micro, self.delta_atto)
        return header + self.pixels.tobytes(order="C")

    @classmethod
    def from_bytes(cls, data: bytes) -> SampleRelease:
        """Decode ``to_bytes`` output; raises ``SampleFormatError`` on any inconsistency."""
        if len(data) < _HEADER.size:
            raise SampleFormatError(f"{len(data)} bytes is shorter than the sample header")
        magic, u, c, h, w, eps, dlt = _HEADER.unpack_from(data)
        if magic != _MAGIC:
            raise SampleFormatError(f"bad magic {magic!r}, expected {_MAGIC!r}")
        body = len(data) - _HEADER.size
        if body != u * c * h * w:
            raise SampleFormatError(
                f"header announces {u}x{c}x{h}x{w} = {u * c * h * w} pixels, found {body} bytes"
            )
        pixels = np.frombuffer(data, dtype=np.uint8, offset=_HEADER.size).reshape(u, c, h, w)
        return cls(pixels.copy(), eps, dlt)

    def sha256(self) -> bytes:
        """SHA-256 of the canonical bytes (the protocol may use the storage CID instead)."""
        return self._digest

    def subset(self, indices: npt.ArrayLike) -> SampleRelease:
        """Return the samples at ``indices`` with the same privacy metadata."""
        idx = np.asarray(indices, dtype=np.int64)
        return SampleRelease(self.pixels[idx], self.epsilon_micro, self.delta_atto)

    def choose(self, k: int, seed: int) -> SampleRelease:
        """``k`` distinct samples chosen at random (Algorithm 2 step 4's per-round subset)."""
        if not 1 <= k <= self.count:
            raise SampleFormatError(f"cannot choose {k} of {self.count} samples")
        idx = np.sort(np.random.default_rng(seed).choice(self.count, size=k, replace=False))
        return self.subset(idx)

    def to_model_input(self, normalisation: Normalisation | None = None) -> npt.NDArray[np.float32]:
        """Float32 images for a classifier: ``[0, 1]`` pixels, normalised if given."""
        x = self.pixels.astype(np.float32) / 255.0
        if normalisation is not None:
            mean = np.asarray(normalisation.mean, dtype=np.float32).reshape(1, -1, 1, 1)
            std = np.asarray(normalisation.std, dtype=np.float32).reshape(1, -1, 1, 1)
            x = (x - mean) / std
        return x.astype(np.float32)


def _fixed_point_up(value: float, unit: Fraction) -> int:
    return math.ceil(Fraction(value) / unit)


def release_samples(result: DPGANResult, u: int, seed: int) -> SampleRelease:
    """Draw ``u`` samples from the DP generator (see :func:`release_labelled_samples`)."""
    return release_labelled_samples(result, u, seed)[0]


def release_labelled_samples(
    result: DPGANResult, u: int, seed: int
) -> tuple[SampleRelease, npt.NDArray[np.int64]]:
    """Draw ``u`` samples and return them with the class each one was drawn for.

    The release is public; the classes are the owner's private knowledge (they let it tell a
    party that labels its samples from one that guesses, however few parties there are).
    Post-processing of the DP generator: no extra privacy cost.

    Parameters
    ----------
    result : DPGANResult
        Output of ``train_dpgan``.
    u : int
        Number of samples (``u_i``; the paper uses 1000).
    seed : int
        Seeds the generator's input noise and the class order. It must be secret: whoever
        knows it knows which class each sample was drawn for and can pass mutual evaluation
        without a model, so a deployment draws it from OS randomness (``client.compose``).
    """
    if u < 1:
        raise DPGANError(f"u must be >= 1, got {u}")
    gen = torch.Generator().manual_seed(seed)
    result.generator.eval()
    num_classes = result.num_classes
    # Balanced classes in a secret random order: the position of a sample must not tell
    # anyone (a free-rider especially) which class it was drawn for.
    wanted = torch.arange(u) % num_classes
    wanted = wanted[torch.randperm(u, generator=gen)]
    chunks = []
    with torch.no_grad():
        for start in range(0, u, 1000):
            stop = min(u, start + 1000)
            z = torch.randn(stop - start, result.config.latent_dim, generator=gen)
            chunks.append(result.generator(z, wanted[start:stop]))
    images = torch.cat(chunks).numpy()
    pixels = np.rint((images + 1) * 127.5).clip(0, 255).astype(np.uint8)
    release = SampleRelease(
        pixels,
        _fixed_point_up(result.achieved_epsilon, EPSILON_UNIT),
        _fixed_point_up(result.delta, DELTA_UNIT),
    )
    return release, wanted.numpy().astype(np.int64)


def label_release(
    model: nn.Module, release: SampleRelease, normalisation: Normalisation | None = None
) -> npt.NDArray[np.int64]:
    """Labels ``model`` predicts for the released samples (one row of the label matrix)."""
    return predict_labels(model, release.to_model_input(normalisation))
