"""Run folders of ``fppdl demo`` and ``fppdl consortium up``: what makes them resumable.

A run folder holds everything a run needs to continue after Ctrl-C or a crash::

    run.json            the run's settings (flags), its ledger and deployment block
    anvil-state.json    the chain, when the run owns its Anvil (written when Anvil stops)
    password            the throw-away keystore password (demo: demo-password), 0600
    party<i>/           keystore, party.json, cached preparation, local state per chain
    store/              the embedded content store
    deployments/        the migrations' record

Running the same command with ``--out <folder>`` loads ``run.json``, restarts Anvil from its
state, composes the parties again and continues; flags given then must agree with the
recorded ones.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from client.access import NodeError

if TYPE_CHECKING:
    from client.chain.ledger import Ledger

RUN_FILE = "run.json"
CHAIN_STATE_FILE = "anvil-state.json"


def read_run(folder: Path) -> dict[str, Any] | None:
    """Return the run manifest of ``folder`` (None if it has none)."""
    path = folder / RUN_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise NodeError(f"{path} is malformed: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("args"), dict):
        raise NodeError(f"{path} is not a run manifest")
    return data


def write_run(folder: Path, data: dict[str, Any]) -> None:
    """Write the run manifest atomically."""
    tmp = folder / f".{RUN_FILE}.tmp"
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, folder / RUN_FILE)


def open_run_folder(
    out: Path | None, default: Path, kind: str
) -> tuple[Path, dict[str, Any] | None]:
    """Return the run folder to use and its manifest when it is one to resume.

    A fresh folder is created; an existing non-empty one must be a run folder of ``kind``.
    """
    folder = out or default
    if folder.exists() and any(folder.iterdir()):
        run = read_run(folder)
        if run is None:
            raise NodeError(f"{folder} is not empty and holds no {RUN_FILE}: it is not an fppdl "
                            "run folder to resume; choose another --out")
        if run.get("kind") != kind:
            raise NodeError(f"{folder} is a `{run.get('kind')}` run, not a `{kind}` run")
        return folder, run
    folder.mkdir(parents=True, exist_ok=True)
    return folder, None


def merge_recorded(
    args: argparse.Namespace, defaults: argparse.Namespace, recorded: dict[str, Any]
) -> argparse.Namespace:
    """Return ``args`` with the recorded settings of a resumed run.

    A flag left at its default takes the recorded value; one given with another value than
    the recorded one is an error naming every such flag.
    """
    differ = []
    merged = argparse.Namespace(**vars(args))
    for key, value in recorded.items():
        if not hasattr(args, key):
            continue
        given = getattr(args, key)
        if isinstance(given, Path):
            given = str(given)
        if given == value:
            continue
        if given != getattr(defaults, key, None):
            differ.append(f"--{key.replace('_', '-')} {given} (recorded: {value})")
        setattr(merged, key, value)
    if differ:
        raise NodeError("this run folder was started with other settings: "
                        + "; ".join(differ) + "; leave them out to resume")
    return merged


def write_secret(path: Path, text: str) -> None:
    """Create ``path`` with mode 0600 holding ``text`` (never overwritten)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")


def folder_results(ledger: Ledger, deploy_block: int, folders: list[Path]) -> dict[str, Any]:
    """Return the demo's results (same fields as ``results.json``) for party folders.

    For ``consortium up``, whose parties ran in their own processes: the chain gives points,
    transfers and removals; each folder gives its local state on this chain (accuracies, its
    credibility list) and its cached preparation (sharing level, achieved epsilon).
    """
    from hexbytes import HexBytes

    from client.chain.records import PartyStatus
    from client.compose import PreparedParty
    from client.keystore import keystore_address
    from client.node import load_settings, state_dir
    from client.protocol.state import PartyState
    from trainer.fairness import pearson

    requests = ledger.download_requests(from_block=deploy_block)
    uploads = ledger.uploads(from_block=deploy_block)
    paid: dict[tuple[int, str, str], int] = {}
    for r in requests:
        for uploader, amount in zip(r.uploaders, r.amounts, strict=True):
            paid[(r.round, r.requester, uploader)] = amount
    states = {}
    for folder in folders:
        states[folder] = PartyState.load(state_dir(folder, ledger.w3, ledger.address))
    rows: list[dict[str, Any]] = []
    for folder in folders:
        me = keystore_address(folder)
        settings = load_settings(folder)
        state = states[folder]
        prepared = sorted(folder.glob("prepared-*.npz"))
        prep = PreparedParty.load(prepared[0]) if prepared else None
        info = ledger.party_info(me)
        seen = [float(states[o].credibility[me]) for o in folders
                if o != folder and me in states[o].credibility]
        records = state.records
        rows.append({
            "name": settings.name, "address": me, "folder": str(folder),
            "data_size": info.data_size,
            "sharing_level": round(prep.level, 4) if prep else None,
            "samples_released": info.samples_released,
            "dpgan_epsilon": round(prep.dpgan_epsilon, 4) if prep else None,
            "free_rider": bool(prep.free_rider) if prep else False,
            "removed": info.status is PartyStatus.REMOVED,
            "standalone_accuracy": state.standalone_accuracy,
            "final_accuracy": records[-1]["accuracy"] if records else None,
            "accuracy_per_round": [r["accuracy"] for r in records],
            "points_balance": ledger.points_of(me).balance,
            "points_earned": sum(paid.get((u.round, req, me), 0) for u in uploads
                                 if u.uploader == me for req in u.requesters),
            "points_spent": sum(paid.get((u.round, me, u.uploader), 0) for u in uploads
                                if me in u.requesters),
            "uploads": sum(len(u.requesters) for u in uploads if u.uploader == me),
            "downloads": sum(1 for u in uploads if me in u.requesters),
            "credibility_seen_by_others": sum(seen) / len(seen) if seen else None,
            "events": state.events,
        })
    kept = [r for r in rows if not r["removed"] and r["final_accuracy"] is not None
            and r["sharing_level"] is not None]
    fairness: dict[str, Any] = {"contribution": "sharing_level", "pearson": None}
    if len(kept) >= 2:
        try:
            fairness["pearson"] = pearson([r["sharing_level"] for r in kept],
                                          [r["final_accuracy"] for r in kept])
        except ValueError as err:
            fairness["note"] = str(err)
    logs = ledger.w3.eth.get_logs(
        {"address": ledger.address, "fromBlock": deploy_block, "toBlock": "latest"}
    )
    hashes = {HexBytes(log["transactionHash"]) for log in logs}
    gas = sum(int(ledger.w3.eth.get_transaction_receipt(h)["gasUsed"]) for h in hashes)
    total = ledger.total_points()
    held = 0
    for address in ledger.parties():
        points = ledger.points_of(address)
        held += points.balance + points.escrowed
    return {
        "ledger": ledger.address, "chain_id": int(ledger.w3.eth.chain_id),
        "rounds": max((len(r["accuracy_per_round"]) for r in rows), default=0),
        "parties": rows, "fairness": fairness,
        "removed": [r["name"] for r in rows if r["removed"]],
        "transactions": len(hashes), "gas": gas, "total_points": total,
        "points_conserved": total == held,
    }
