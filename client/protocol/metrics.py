"""Where a party's wall time goes, per epoch: training, evaluation, crypto, storage, chain."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

CATEGORIES = ("training", "evaluation", "crypto", "storage", "chain")


class PhaseTimer:
    """Accumulates seconds per (epoch, category)."""

    def __init__(self) -> None:
        self.seconds: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))

    @contextmanager
    def measure(self, epoch: int, category: str) -> Iterator[None]:
        """Add the wall time of the ``with`` body to ``category`` of ``epoch``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[epoch][category] += time.perf_counter() - start

    def of(self, epoch: int) -> dict[str, float]:
        """Seconds per category spent in ``epoch`` (every category present)."""
        spent = self.seconds.get(epoch, {})
        return {c: float(spent.get(c, 0.0)) for c in CATEGORIES}
