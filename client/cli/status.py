"""``fppdl consortium status``: the whole consortium at a glance, read from the chain.

Phase, round, the phase's deadline, who has acted in this phase and who the consortium is
waiting on. A run folder (``consortium up``, ``demo``) or a party folder supplies the RPC URL,
the ledger and the parties' names; otherwise ``--rpc-url``/``--ledger`` (or the
environment) do, and parties are shown by address.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from client.access import NodeError, open_chain, open_ledger
from client.chain.records import Phase
from client.cli.parser import ENV_LEDGER, ENV_RPC_URL
from client.keystore import SIGNING_KEY_FILE, keystore_address
from client.node import SETTINGS_FILE, load_settings
from client.progress import ConsortiumView, blocks_text, describe, read_view

#: What acting means in each phase, for the table.
ACTION = {Phase.REGISTRATION: "register", Phase.BENCHMARKING: "vote (benchmarking)",
          Phase.REQUEST: "request", Phase.UPLOAD: "upload", Phase.SETTLE: "vote (settle)"}


def _party_folders(path: Path) -> list[Path]:
    if (path / SETTINGS_FILE).is_file():
        return [path]
    return sorted(d for d in path.iterdir() if (d / SETTINGS_FILE).is_file()
                  and (d / SIGNING_KEY_FILE).is_file())


def _names(folders: list[Path]) -> dict[str, str]:
    names = {}
    for folder in folders:
        names[keystore_address(folder)] = load_settings(folder).name
    return names


def status_view(args: argparse.Namespace) -> tuple[ConsortiumView, dict[str, str], str]:
    """Return the view, the names of known addresses and the ledger address."""
    rpc_url, ledger_address = args.rpc_url, args.ledger
    names: dict[str, str] = {}
    if args.run is not None:
        if not args.run.is_dir():
            raise NodeError(f"{args.run} is not a folder")
        folders = _party_folders(args.run)
        if not folders:
            raise NodeError(f"{args.run} holds no party folder (party.json + keystore)")
        settings = load_settings(folders[0])
        rpc_url = rpc_url or settings.rpc_url
        ledger_address = ledger_address or settings.ledger
        names = _names(folders)
    if not rpc_url:
        raise NodeError(f"no RPC URL: give a run folder, --rpc-url or {ENV_RPC_URL}")
    if not ledger_address:
        raise NodeError(f"no ledger: give a run folder, --ledger or {ENV_LEDGER}")
    ledger = open_ledger(open_chain(rpc_url), ledger_address)
    return read_view(ledger, names=True), names, ledger.address


def cmd_consortium_status(args: argparse.Namespace) -> int:
    """``fppdl consortium status``."""
    view, names, address = status_view(args)
    if args.json:
        data: dict[str, Any] = {"ledger": address, **view.as_json(),
                                "names": names, "summary": describe(view)}
        print(json.dumps(data, indent=2))
        return 0
    for line in render(view, names, address):
        print(line)
    return 0


def render(view: ConsortiumView, names: dict[str, str], address: str) -> list[str]:
    """Return the status as lines of at most 80 columns (addresses on lines of their own)."""
    def who(a: str) -> str:
        return f"{names[a]} ({a})" if a in names else a

    lines = [f"ledger {address}", f"block {view.block}: {describe(view)}"]
    if view.deadline is not None and view.phase is not Phase.REGISTRATION:
        lines.append(f"phase deadline: block {view.deadline}")
        if view.epoch_deadline is not None:
            left = max(0, view.epoch_deadline - view.block)
            lines.append(f"epoch deadline: block {view.epoch_deadline} (anyone may close the "
                         f"epoch then; in {blocks_text(left, view.block_seconds)})")
    action = ACTION.get(view.phase, "act")
    if view.phase is Phase.REGISTRATION:
        lines.append(f"registered ({len(view.registered)} of {view.max_parties}; "
                     f"{view.min_parties} needed):")
        lines += [f"  {who(a)}" for a in view.registered] or ["  nobody yet"]
        return lines
    lines.append(f"acted ({action}): {len(view.acted)} of {len(view.expected)}")
    lines += [f"  {who(a)}" for a in view.acted]
    waiting = view.waiting_on
    if waiting:
        lines.append(f"waiting on ({action}):")
        lines += [f"  {who(a)}" for a in waiting]
        lines.append("the others wait on them until the phase deadline")
    else:
        lines.append("waiting on nobody: the phase ends with the next transaction or block")
    removed = [a for a in view.registered if a not in set(view.credible)]
    if removed:
        lines.append("removed from the credible set:")
        lines += [f"  {who(a)}" for a in removed]
    return lines
