"""The `fppdl` command line (parties, auditors, the demo)."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fppdl",
        description="Fair and privacy-preserving decentralized deep learning on Ethereum + IPFS.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("demo", help="run a 4-party consortium end to end on a local devnet")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        print("fppdl demo: the end-to-end protocol is not built yet (see the open protocol issue).")
        return 0
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
