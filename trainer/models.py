"""The two model architectures of the paper (seed 001, section 5.3, after Shokri & Shmatikov).

Both take images shaped ``C x 32 x 32`` (MNIST is padded from 28 to 32) and return logits;
the loss is cross-entropy, i.e. log-softmax + negative log-likelihood as in the Torch7 code.

MLP ``"mlp"``: Flatten -> Linear(C*1024, 128) -> Tanh -> Linear(128, 64) -> Tanh -> Linear(64, 10).
    MNIST (1x32x32): 131,200 + 8,256 + 650 = 140,106 parameters.
    SVHN (3x32x32): 393,344 + 8,256 + 650 = 402,250 parameters.

CNN ``"cnn"`` (the Torch7 tutorial layout used by the DSSGD code):
    Conv2d(C, 32, 5) -> Tanh -> MaxPool(3, 3) -> Conv2d(32, 64, 5) -> Tanh -> MaxPool(2, 2)
    -> Flatten -> Linear(256, 200) -> Tanh -> Linear(200, 10).
    Spatial sizes: 32 -> 28 -> 9 -> 5 -> 2, so the flattened feature has 64 * 2 * 2 = 256 entries.
    MNIST: 832 + 51,264 + 51,400 + 2,010 = 105,506 parameters; SVHN: 107,106 parameters.

The flat-vector helpers fix one parameter order (``model.parameters()``) so that a flat
update produced by one party is applied to the same coordinates by every other party.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from trainer.constants import MODEL_NAMES
from trainer.errors import ModelError

IMAGE_SIDE = 32

FloatVector = npt.NDArray[np.float32]


def _check_shape(input_shape: tuple[int, int, int]) -> None:
    if len(input_shape) != 3 or input_shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise ModelError(
            f"input_shape must be (channels, {IMAGE_SIDE}, {IMAGE_SIDE}), got {input_shape!r}"
        )
    if input_shape[0] not in (1, 3):
        raise ModelError(f"channels must be 1 (MNIST) or 3 (SVHN), got {input_shape[0]}")


def build_model(name: str, input_shape: tuple[int, int, int], num_classes: int = 10) -> nn.Module:
    """Build one of the paper's architectures with PyTorch's default initialisation.

    Parameters
    ----------
    name : str
        ``"mlp"`` or ``"cnn"``.
    input_shape : tuple of int
        ``(channels, 32, 32)``; channels is 1 for MNIST and 3 for SVHN.
    num_classes : int
        Size of the output layer (10 digits).

    Returns
    -------
    torch.nn.Module
        The model; seed torch (``torch.manual_seed``) before calling for a reproducible w0.

    Raises
    ------
    ModelError
        Unknown name or unsupported input shape.
    """
    _check_shape(input_shape)
    if num_classes < 2:
        raise ModelError(f"num_classes must be >= 2, got {num_classes}")
    channels = input_shape[0]
    if name == "mlp":
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * IMAGE_SIDE * IMAGE_SIDE, 128),
            nn.Tanh(),
            nn.Linear(128, 64),
            nn.Tanh(),
            nn.Linear(64, num_classes),
        )
    if name == "cnn":
        return nn.Sequential(
            nn.Conv2d(channels, 32, kernel_size=5),
            nn.Tanh(),
            nn.MaxPool2d(kernel_size=3, stride=3),
            nn.Conv2d(32, 64, kernel_size=5),
            nn.Tanh(),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Flatten(),
            nn.Linear(64 * 2 * 2, 200),
            nn.Tanh(),
            nn.Linear(200, num_classes),
        )
    raise ModelError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")


def num_params(model: nn.Module) -> int:
    """Return the number of scalar parameters (the length of the flat vector)."""
    return sum(p.numel() for p in model.parameters())


def layer_slices(model: nn.Module) -> list[slice]:
    """Return, per parameter tensor, the slice it occupies in the flat vector.

    Used for per-layer selection (CGSV downloads the top fraction of each layer).
    """
    slices: list[slice] = []
    start = 0
    for p in model.parameters():
        slices.append(slice(start, start + p.numel()))
        start += p.numel()
    return slices


def get_flat(model: nn.Module) -> FloatVector:
    """Return a copy of all parameters as one float32 vector, in ``model.parameters()`` order."""
    with torch.no_grad():
        parts = [p.detach().reshape(-1).to(torch.float32) for p in model.parameters()]
        return torch.cat(parts).numpy().copy()


def _as_vector(model: nn.Module, vec: npt.ArrayLike, what: str) -> torch.Tensor:
    arr = np.asarray(vec)
    expected = num_params(model)
    if arr.ndim != 1 or arr.shape[0] != expected:
        raise ModelError(f"{what} must be a 1-D vector of length {expected}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ModelError(f"{what} contains NaN or infinite entries")
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))


def set_flat(model: nn.Module, vec: npt.ArrayLike) -> None:
    """Overwrite all parameters from a flat vector of length :func:`num_params`."""
    flat = _as_vector(model, vec, "parameter vector")
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(flat.clone(), list(model.parameters()))


def add_flat(model: nn.Module, delta: npt.ArrayLike) -> None:
    """Add a flat update (same length and order as :func:`get_flat`) to the parameters in place."""
    flat = _as_vector(model, delta, "update vector")
    with torch.no_grad():
        for p, s in zip(model.parameters(), layer_slices(model), strict=True):
            p.add_(flat[s].view_as(p))
