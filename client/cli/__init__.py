"""The ``fppdl`` command line: the demo, party nodes, chain helpers and the auditor's view.

Every user mistake ends with one ``error: ...`` line on stderr and a non-zero exit code
(1; 130 after Ctrl-C; 2 for malformed arguments); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import logging
import signal
import sys
import traceback
from collections.abc import Callable
from typing import Any

from client.chain.errors import ContractRevert
from client.cli.output import set_verbosity
from client.cli.parser import build_parser
from client.errors import FppdlError, error_roots

#: Loggers of fppdl's own packages (``-v`` raises only these, not the libraries').
OWN_LOGGERS = ("client", "storage", "trainer", "migrations")


def user_errors() -> tuple[type[BaseException], ...]:
    """Return the errors reported in one line: the three layer roots and the environment's.

    ``OSError`` covers what the machine or the network refuses (a full disk, a permission, a
    JSON-RPC node that stopped answering: requests' errors and filelock's timeout derive
    from it).
    """
    return (*error_roots(), OSError)


def one_line(exc: BaseException) -> str:
    """Return the message shown for a user error (first line; never holds a secret)."""
    if isinstance(exc, ContractRevert):
        return f"the ledger rejected the transaction: {exc}"
    if not isinstance(exc, FppdlError) and type(exc).__module__.startswith("requests"):
        return f"the JSON-RPC node stopped answering ({type(exc).__name__})"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _command(spec: str) -> Callable[[Any], int]:
    module, _, name = spec.partition(":")
    func: Callable[[Any], int] = getattr(importlib.import_module(module), name)
    return func


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``fppdl``; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    verbose = 2 if args.debug else args.verbose
    quiet = args.quiet and not verbose
    set_verbosity(-1 if quiet else verbose)
    logging.basicConfig(
        level=logging.ERROR if quiet else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S",
    )
    if verbose:
        for name in OWN_LOGGERS:
            logging.getLogger(name).setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    # A shell without job control starts background commands with SIGINT ignored, and Python
    # keeps it so; an explicit interrupt (Ctrl-C, `kill -INT`, consortium up stopping its
    # parties) must still stop a node cleanly and resumably.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return _command(args.func)(args)
    except KeyboardInterrupt:
        resume = getattr(args, "resume_command", None) or "the same command"
        print(f"\nerror: interrupted; local state is saved, run {resume} to resume",
              file=sys.stderr)
        return 130
    except Exception as exc:
        if not isinstance(exc, user_errors()):
            raise
        if args.debug:
            traceback.print_exc()
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1


__all__ = ["build_parser", "main"]
