"""The one root of every exception raised by :mod:`client`.

``trainer`` and ``storage`` must not import ``client`` (they are separate layers), so each keeps
a root of its own (:class:`trainer.errors.TrainerError`, :class:`storage.errors.StorageError`);
everything under ``client/`` derives from :class:`FppdlError`. Each subclass also derives from
the standard type that fits (``ValueError`` for bad input, ``OSError`` for the environment,
``RuntimeError`` for a state that cannot continue), as web3.py's exceptions do, so generic
handlers keep working. The CLI turns the three roots into one-line messages.
"""

from __future__ import annotations


class FppdlError(Exception):
    """Root of every error raised by :mod:`client` (and by :mod:`migrations`)."""


#: The roots a command-line front end reports in one line instead of a traceback.
def error_roots() -> tuple[type[Exception], ...]:
    """Return the exception roots of the three layers: client, trainer and storage."""
    from storage.errors import StorageError
    from trainer.errors import TrainerError

    return (FppdlError, TrainerError, StorageError)
