"""``fppdl inspect``: the auditor's read-only view of a ledger (any RPC URL and address)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from client.access import NodeError, open_chain, open_ledger
from client.chain.deployments import DEPLOYMENTS_DIR, ledger_deployment
from client.chain.ledger import Ledger
from client.cli.parser import ENV_RPC_URL
from storage import ContentId


def _cid(digest: bytes) -> str:
    try:
        return str(ContentId.from_commitment(digest))
    except ValueError:
        return "0x" + digest.hex()


def snapshot(ledger: Ledger, from_block: int = 0) -> dict[str, Any]:
    """Return everything an auditor reads (all the table shows), as plain JSON-able values."""
    params = ledger.parameters()
    parties = []
    credible = set(ledger.credible_parties())
    for address in ledger.parties():
        info = ledger.party_info(address)
        points = ledger.points_of(address)
        parties.append({
            "address": address, "status": info.status.name.lower(), "index": info.index,
            "credible": address in credible, "data_size": info.data_size,
            "samples_released": info.samples_released,
            "samples_cid": _cid(info.samples_digest),
            "points": {"balance": points.balance, "escrowed": points.escrowed,
                       "pending": points.pending, "disputed": points.disputed,
                       "deposited": points.deposited, "releasable": points.releasable},
        })
    rounds = [
        {"round": r.round, "request_deadline": r.request_deadline,
         "upload_deadline": r.upload_deadline, "settle_deadline": r.settle_deadline,
         "block": r.meta.block_number}
        for r in ledger.rounds_opened(from_block)
    ]
    downloads = list(ledger.download_requests(from_block=from_block))
    requests = [
        {"round": r.round, "requester": r.requester,
         "amounts": dict(zip(r.uploaders, r.amounts, strict=True)), "tx": r.meta.tx_hash}
        for r in downloads
    ]
    # The points each envelope earned: what its requester offered this uploader that round.
    paid = {(r.round, r.requester, up): amount for r in downloads
            for up, amount in zip(r.uploaders, r.amounts, strict=True)}
    uploads = [
        {"round": u.round, "uploader": u.uploader,
         "envelopes": [{"requester": q, "digest": "0x" + d.hex(), "cid": _cid(d),
                        "points": paid.get((u.round, q, u.uploader))}
                       for q, d in zip(u.requesters, u.digests, strict=True)],
         "tx": u.meta.tx_hash}
        for u in ledger.uploads(from_block=from_block)
    ]
    reports = [
        {"epoch": r.epoch, "reporter": r.reporter, "suspects": list(r.suspects)}
        for r in ledger.low_quality_reports(from_block=from_block)
    ]
    removals = [
        {"party": r.party, "epoch": r.epoch, "reporters": list(r.reporters),
         "block": r.meta.block_number}
        for r in ledger.removals(from_block)
    ]
    return {
        "ledger": ledger.address,
        "chain_id": int(ledger.w3.eth.chain_id),
        "block": ledger.block_number(),
        "phase": ledger.phase().name.lower(),
        "round": ledger.current_round(),
        "registration_closed": ledger.registration_closed(),
        "parameters": params.as_json(),
        "total_points": ledger.total_points(),
        "credible": sorted(credible),
        "parties": parties,
        "rounds": rounds,
        "requests": requests,
        "uploads": uploads,
        "low_quality_reports": reports,
        "removals": removals,
    }


def cmd_inspect(args: argparse.Namespace) -> int:
    """``fppdl inspect``."""
    if not args.rpc_url:
        raise NodeError(f"no RPC URL: pass --rpc-url or set {ENV_RPC_URL}")
    w3 = open_chain(args.rpc_url)
    address = args.ledger
    if address is None:
        try:
            directory = args.deployments_dir or DEPLOYMENTS_DIR
            address = ledger_deployment(int(w3.eth.chain_id), directory).address
        except Exception:  # noqa: BLE001 - any missing/malformed record means the same here
            raise NodeError("no --ledger given and no deployment recorded for this chain") from None
    data = snapshot(open_ledger(w3, address), args.from_block)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    console = Console(highlight=False, soft_wrap=True)
    console.print(f"ledger {data['ledger']} on chain {data['chain_id']} at block {data['block']}: "
                  f"epoch {data['round']}, phase {data['phase']}, "
                  f"total points {data['total_points']}")
    table = Table(title="parties")
    for col in ("address", "status", "data", "samples", "balance", "escrowed", "samples CID"):
        table.add_column(col)
    for p in data["parties"]:
        table.add_row(p["address"], p["status"], str(p["data_size"]), str(p["samples_released"]),
                      str(p["points"]["balance"]), str(p["points"]["escrowed"]), p["samples_cid"])
    console.print(table)
    console.print(f"credible set ({len(data['credible'])}): {', '.join(data['credible'])}")
    table = Table(title="uploads (round, uploader -> requester: envelope CID)")
    for col in ("round", "uploader", "requester", "points paid", "cid"):
        table.add_column(col)
    for u in data["uploads"]:
        for e in u["envelopes"]:
            points = "-" if e["points"] is None else str(e["points"])
            table.add_row(str(u["round"]), u["uploader"], e["requester"], points, e["cid"])
    console.print(table)
    console.print(f"download requests: {len(data['requests'])}, rounds opened: "
                  f"{len(data['rounds'])}, low-quality reports: {len(data['low_quality_reports'])}")
    if data["removals"]:
        for r in data["removals"]:
            console.print(f"removed {r['party']} in epoch {r['epoch']} "
                          f"(reporters: {', '.join(r['reporters'])})")
    else:
        console.print("removals: none")
    return 0
