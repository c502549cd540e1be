"""Where a party's wall time goes, per epoch: training, evaluation, crypto, storage, chain.

Timing is a wrapper around the objects a party talks to (like web3 middleware), not code
inside the protocol: :func:`timed` returns a proxy whose method calls add their wall time to
one category of a :class:`PhaseTimer`. The party only says which epoch it is in.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar, cast

CATEGORIES = ("training", "evaluation", "crypto", "storage", "chain")

T = TypeVar("T")


class PhaseTimer:
    """Accumulates seconds per (epoch, category); ``epoch`` is set by the party as it steps."""

    def __init__(self) -> None:
        self.seconds: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.epoch = 0

    @contextmanager
    def measure(self, category: str) -> Iterator[None]:
        """Add the wall time of the ``with`` body to ``category`` of the current epoch."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[self.epoch][category] += time.perf_counter() - start

    def of(self, epoch: int) -> dict[str, float]:
        """Return the seconds per category spent in ``epoch`` (every category present)."""
        spent = self.seconds.get(epoch, {})
        return {c: float(spent.get(c, 0.0)) for c in CATEGORIES}


class _Timed:
    """Proxy that times the methods of ``inner`` and passes every other attribute through."""

    def __init__(self, inner: Any, timer: PhaseTimer, categories: Mapping[str, str],
                 default: str | None) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_timer", timer)
        object.__setattr__(self, "_categories", dict(categories))
        object.__setattr__(self, "_default", default)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        category = self._categories.get(name, self._default)
        if category is None or name.startswith("_") or not callable(value):
            return value
        timer = self._timer

        def call(*args: Any, **kwargs: Any) -> Any:
            with timer.measure(category):
                return value(*args, **kwargs)

        return call

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)


def timed(
    inner: T, timer: PhaseTimer, category: str | None = None,
    *, methods: Mapping[str, str] | None = None,
) -> T:
    """Return ``inner`` behind a proxy timing its method calls.

    Parameters
    ----------
    inner : object
        A ``Ledger``, a ``ContentStore``, a ``Learner``...
    timer : PhaseTimer
        Where the seconds go.
    category : str, optional
        Category of every public method call not named in ``methods``.
    methods : Mapping, optional
        Category per method name, for objects whose methods belong to different categories.
    """
    return cast(T, _Timed(inner, timer, methods or {}, category))


def untimed(obj: T) -> T:
    """Return the object behind a :func:`timed` proxy (``obj`` itself if it is none)."""
    return cast(T, obj._inner) if isinstance(obj, _Timed) else obj  # noqa: SLF001


