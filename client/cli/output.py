"""What the CLI shows while it works: rich live progress on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from types import TracebackType

from rich.console import Console
from rich.status import Status


class Reporter:
    """Prints progress messages; on a TTY also keeps a spinner with the current phase.

    Parameters
    ----------
    prefix : str
        Put in front of every plain line (e.g. the party name in multi-process logs).
    rich : bool or None
        Force rich output on or off; by default it is on when stdout is a terminal.
    """

    def __init__(self, prefix: str = "", *, rich: bool | None = None) -> None:
        self.prefix = prefix
        self.rich = sys.stdout.isatty() if rich is None else rich
        self.console = Console(highlight=False, soft_wrap=True)
        self._start = time.monotonic()
        self._status: Status | None = None

    def __enter__(self) -> Reporter:
        if self.rich:
            self._status = self.console.status("starting")
            self._status.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def __call__(self, message: str) -> None:
        """Report one progress message."""
        elapsed = time.monotonic() - self._start
        line = f"[{elapsed:7.1f}s] {self.prefix}{message}"
        if self.rich:
            self.console.print(f"[dim]{line}[/dim]", markup=True)
            if self._status is not None:
                self._status.update(f"{self.prefix}{message}")
        else:
            print(line, flush=True)
