"""Local SGD training and evaluation, deterministic on CPU for a given seed.

The shuffling order comes from a private ``torch.Generator`` seeded per call, so two runs
with the same seed, data, initial weights and thread count produce the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from trainer.config import TrainConfig
from trainer.data import Dataset
from trainer.errors import DatasetFormatError, TrainingConfigError
from trainer.models import FloatVector, get_flat

EVAL_BATCH = 1000


@dataclass(frozen=True)
class Evaluation:
    """Test metrics of a model: accuracy in [0, 1] and mean cross-entropy loss."""

    accuracy: float
    loss: float


def set_torch_threads(threads: int | None) -> None:
    """Set torch's intra-op thread count (None keeps the current value)."""
    if threads is not None:
        if threads < 1:
            raise TrainingConfigError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)


def train_local(
    model: nn.Module,
    data: Dataset,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    lr_decay: float = 0.0,
) -> None:
    """Train ``model`` in place with plain mini-batch SGD on cross-entropy.

    Parameters
    ----------
    model : nn.Module
        Model from :func:`trainer.models.build_model`; updated in place.
    data : Dataset
        Local training data (normalised).
    epochs, lr, batch_size : int, float, int
        SGD settings; each epoch visits every example once in a fresh seeded order.
    seed : int
        Seeds the shuffling; same seed -> same result.
    lr_decay : float
        Torch7-style decay, step ``t`` uses ``lr / (1 + t * lr_decay)``.
    """
    if epochs < 0 or batch_size < 1 or not lr > 0 or lr_decay < 0:
        raise TrainingConfigError(
            f"need epochs >= 0, batch_size >= 1, lr > 0, lr_decay >= 0; got epochs={epochs}, "
            f"batch_size={batch_size}, lr={lr}, lr_decay={lr_decay}"
        )
    if len(data) == 0:
        raise DatasetFormatError(f"{data.name}: cannot train on an empty dataset")
    x = torch.from_numpy(data.x)
    y = torch.from_numpy(data.y)
    generator = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    params = [p for p in model.parameters() if p.requires_grad]
    model.train()
    step = 0
    for _ in range(epochs):
        order = torch.randperm(len(data), generator=generator)
        for start in range(0, len(data), batch_size):
            batch = order[start : start + batch_size]
            loss = loss_fn(model(x[batch]), y[batch])
            grads = torch.autograd.grad(loss, params)
            rate = lr / (1.0 + step * lr_decay)
            with torch.no_grad():
                for p, g in zip(params, grads, strict=True):
                    p.add_(g, alpha=-rate)
            step += 1


def local_update(
    model: nn.Module, data: Dataset, config: TrainConfig, *, seed: int, epochs: int | None = None
) -> FloatVector:
    """Train ``model`` for one round in place; return ``Delta w = w_after - w_before``.

    Parameters
    ----------
    model : nn.Module
        The party's model, updated in place.
    data : Dataset
        The party's local data.
    config : TrainConfig
        lr, batch size, decay, threads; ``epochs`` defaults to ``config.local_epochs``.
    seed : int
        Shuffling seed of this round.

    Returns
    -------
    ndarray of float32
        The flat parameter change (same order as :func:`trainer.models.get_flat`).
    """
    before = get_flat(model)
    train_with_config(model, data, config, seed=seed,
                      epochs=config.local_epochs if epochs is None else epochs)
    return (get_flat(model) - before).astype(np.float32)


def train_with_config(model: nn.Module, data: Dataset, config: TrainConfig, *, epochs: int,
                      seed: int) -> None:
    """:func:`train_local` with lr, batch size and decay taken from ``config``."""
    set_torch_threads(config.threads)
    train_local(model, data, epochs=epochs, lr=config.lr, batch_size=config.batch_size,
                seed=seed, lr_decay=config.lr_decay)


def _logits(model: nn.Module, x: npt.NDArray[np.float32]) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        tensor = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        chunks = [model(tensor[i : i + EVAL_BATCH]) for i in range(0, len(tensor), EVAL_BATCH)]
    return torch.cat(chunks) if chunks else torch.empty(0)


def evaluate(model: nn.Module, data: Dataset) -> Evaluation:
    """Return accuracy and mean cross-entropy of ``model`` on ``data``."""
    if len(data) == 0:
        raise DatasetFormatError(f"{data.name}: cannot evaluate on an empty dataset")
    logits = _logits(model, data.x)
    y = torch.from_numpy(data.y)
    loss = float(nn.functional.cross_entropy(logits, y).item())
    accuracy = float((logits.argmax(dim=1) == y).float().mean().item())
    return Evaluation(accuracy=accuracy, loss=loss)


def predict_labels(model: nn.Module, x: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
    """Return the predicted class of each image in ``x`` (N x C x 32 x 32) as int64."""
    if x.ndim != 4:
        raise DatasetFormatError(f"expected N x C x 32 x 32 images, got shape {x.shape}")
    if len(x) == 0:
        return np.zeros(0, dtype=np.int64)
    return _logits(model, x).argmax(dim=1).numpy().astype(np.int64)
