"""What the CLI shows while it works: rich live progress on a terminal, plain lines otherwise.

Every progress line starts with the wall-clock time (``HH:MM:SS``), as the log lines do.
``-q`` silences them (:func:`set_verbosity`); errors are printed regardless.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType

from rich.console import Console
from rich.status import Status
from rich.text import Text

_VERBOSITY = [0]


def set_verbosity(level: int) -> None:
    """Set how much the CLI says: -1 quiet (no progress lines), 0 normal, 1+ verbose."""
    _VERBOSITY[0] = level


def verbosity() -> int:
    """Return the level set by :func:`set_verbosity`."""
    return _VERBOSITY[0]


def clock() -> str:
    """Return the local wall-clock time as ``HH:MM:SS`` (the prefix of progress lines)."""
    return time.strftime("%H:%M:%S")


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
        # On a terminal long lines wrap at its width; piped, each message stays one line so
        # that logs can be searched line by line.
        self.console = Console(highlight=False)
        self._status: Status | None = None

    def __enter__(self) -> Reporter:
        if self.rich and verbosity() >= 0:
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
        if verbosity() < 0:
            return
        line = f"{clock()} {self.prefix}{message}"
        if self.rich:
            self.console.print(Text(line, style="dim"))
            if self._status is not None:
                self._status.update(f"{self.prefix}{message}")
        else:
            print(line, flush=True)
