"""The ``fppdl`` command line: the demo, party nodes, chain helpers and the auditor's view.

Every user mistake ends with one ``error: ...`` line on stderr and a non-zero exit code
(1; 130 after Ctrl-C; 2 for malformed arguments); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback

from filelock import Timeout as LockTimeout
from requests.exceptions import RequestException

from client.chain.anvil import AnvilError
from client.chain.errors import ContractRevert, LedgerError
from client.crypto.errors import CryptoError
from client.keystore import KeystoreError
from client.node import NodeError
from client.protocol.config import ProtocolConfigError
from client.protocol.party import ProtocolError
from storage import StorageError
from trainer.errors import TrainerError

#: Errors that are the user's input or environment, reported in one line.
USER_ERRORS: tuple[type[Exception], ...] = (
    NodeError, KeystoreError, LedgerError, StorageError, TrainerError, CryptoError,
    ProtocolError, ProtocolConfigError, AnvilError, FileExistsError, FileNotFoundError,
    PermissionError, ValueError, LockTimeout,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fppdl``."""
    from client.cli import chain_cmds, demo, inspect, party_cmds

    parser = argparse.ArgumentParser(
        prog="fppdl",
        description="Fair and privacy-preserving decentralized deep learning on Ethereum + IPFS.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("demo", help="run a consortium end to end on a local devnet")
    demo.add_arguments(p)
    p.set_defaults(func=demo.run_demo)
    chain_cmds.add_commands(sub)
    party_cmds.add_commands(sub)
    inspect.add_command(sub)
    return parser


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, ContractRevert):
        return f"the ledger rejected the transaction: {exc}"
    if isinstance(exc, LockTimeout):
        return f"lock {exc.lock_file} is held by another process"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``fppdl``; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        code: int = args.func(args)
        return code
    except KeyboardInterrupt:
        print("\nerror: interrupted; local state is saved, run the same command to resume",
              file=sys.stderr)
        return 130
    except USER_ERRORS as exc:
        if args.debug:
            traceback.print_exc()
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except RequestException as exc:
        if args.debug:
            traceback.print_exc()
        print(f"error: the JSON-RPC node stopped answering ({type(exc).__name__})",
              file=sys.stderr)
        return 1


__all__ = ["build_parser", "main"]
