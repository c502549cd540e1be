"""Progress of an experiment: a rich bar on a terminal, one plain line per step when piped."""

from __future__ import annotations

import sys
import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class RunProgress:
    """Report the steps of a run (a step is one framework of one seed).

    Parameters
    ----------
    total : int
        Steps expected.
    rich : bool or None
        Force the bar on or off; by default it is on when stdout is a terminal.
    """

    def __init__(self, total: int, *, rich: bool | None = None) -> None:
        self.total = total
        self.rich = sys.stdout.isatty() if rich is None else rich
        self._start = time.monotonic()
        self._done = 0
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._label = ""

    def __enter__(self) -> RunProgress:
        if self.rich:
            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), console=Console(highlight=False),
            )
            self._bar.start()
            self._task = self._bar.add_task("starting", total=self.total)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def _line(self, text: str) -> None:
        elapsed = time.monotonic() - self._start
        line = f"[{elapsed:7.1f}s] {text}"
        if self._bar is not None:
            self._bar.console.print(f"[dim]{line}[/dim]", markup=True, highlight=False)
        else:
            print(line, flush=True)

    def begin(self, label: str, *, counted: bool = True) -> None:
        """Start a step called ``label`` (e.g. ``seed 0: dppdl``); ``counted``: one of the total."""
        self._label = label
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, description=label)
        elif counted:
            self._line(f"[{self._done + 1}/{self.total}] {label}")
        else:
            self._line(label)

    def done(self, note: str = "") -> None:
        """Finish the current step (``note``: e.g. its time, or that it was cached)."""
        self._done += 1
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task)
            if note:
                self._line(f"{self._label}: {note}")
        else:
            self._line(f"[{self._done}/{self.total}] {self._label}: {note or 'done'}")

    def say(self, message: str) -> None:
        """Report a message inside the current step."""
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, description=f"{self._label}: {message}")
        else:
            self._line(f"    {self._label}: {message}")

    def note(self, message: str) -> None:
        """Print a message that stays (a warning, where results went)."""
        self._line(message)
