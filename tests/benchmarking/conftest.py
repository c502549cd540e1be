"""Fixtures of the benchmarking suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Run on one thread: tiny per-sample-gradient steps gain nothing from two, and the suite
    shares the 2-core machine with other suites (OpenMP spin-waits under contention)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
