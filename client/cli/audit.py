"""``fppdl audit``: replay a ledger's history, check every rule, write the HTML report.

Read-only: no key is needed and no transaction is sent. Exit codes: 0 when the audit finds
no violation, :data:`client.audit.EXIT_VIOLATIONS` (3) when it finds some, 1 for an error
(unreachable node, no ledger at the address, unreadable store...), 2 for malformed arguments.
This module stays light (argparse only) until the command runs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

Subparsers = argparse._SubParsersAction  # noqa: SLF001 - argparse has no public name for it


def add_audit(sub: Subparsers[argparse.ArgumentParser]) -> None:
    """Register ``audit`` on the top-level parser."""
    p = sub.add_parser(
        "audit", help="replay a ledger from its events, check every rule, write an HTML report",
        description="Rebuild the consortium from the ledger's events alone, replay its rules, "
        "compare with the contract's views, fetch every committed digest still retained. "
        "Exit 0: no violation; 3: violations found; 1: error.")
    p.add_argument("--rpc-url", required=True, help="JSON-RPC endpoint of the chain")
    p.add_argument("--ledger", default=None,
                   help="ledger address (default: the one --deployment records, else "
                        "deployments/<chainId>.json of the repository)")
    p.add_argument("--store", default=None,
                   help="the consortium's content store: embedded:<folder>, an IPFS RPC "
                        "multiaddr or http://host:port (default: content is not checked)")
    p.add_argument("--from-block", type=int, default=0,
                   help="first block read; at or before the ledger's deployment (default 0)")
    p.add_argument("--to-block", type=int, default=None,
                   help="last block audited (default: the latest)")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for audit.html and audit.json (default runs/audit-<UTC time>)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("--deployment", type=Path, default=None, metavar="FILE",
                   help="a deployments/<chainId>.json record to check against the chain")
    p.set_defaults(func="client.cli.audit:cmd_audit")


def _ledger_address(args: argparse.Namespace, chain_id: int) -> str:
    from client.access import NodeError
    from client.chain.deployments import (
        DEPLOYMENTS_DIR,
        Deployment,
        DeploymentRecordError,
        ledger_deployment,
    )
    from client.chain.errors import LEDGER_CONTRACT

    if args.ledger:
        return str(args.ledger)
    if args.deployment is not None:
        try:
            data = json.loads(Path(args.deployment).read_text())
            records = [Deployment.from_json(str(k), dict(v))
                       for k, v in dict(data["steps"]).items()
                       if isinstance(v, dict) and v.get("contract") == LEDGER_CONTRACT]
            return max(records, key=lambda d: d.block_number).address
        except (OSError, ValueError, KeyError, TypeError, DeploymentRecordError) as exc:
            raise NodeError(f"no ledger in {args.deployment}: {exc}; pass --ledger") from None
    try:
        return ledger_deployment(chain_id, DEPLOYMENTS_DIR).address
    except DeploymentRecordError:
        raise NodeError("no --ledger given and no deployment recorded for this chain") from None


def cmd_audit(args: argparse.Namespace) -> int:
    """``fppdl audit``."""
    from client.access import open_chain, open_ledger
    from client.audit import audit
    from storage import open_store

    w3 = open_chain(args.rpc_url)
    ledger = open_ledger(w3, _ledger_address(args, int(w3.eth.chain_id)))
    out = args.out or Path("runs") / time.strftime("audit-%Y%m%dT%H%M%SZ", time.gmtime())
    store = open_store(args.store) if args.store else None
    try:
        result = audit(ledger, store, args.from_block, out, to_block=args.to_block,
                       deployment=args.deployment)
    finally:
        if store is not None:
            store.close()
    if args.json:
        print(json.dumps(result.as_json(), indent=2, sort_keys=True))
        return result.exit_code()
    _print(result.as_json(), store is not None)
    return result.exit_code()


def _print(data: dict[str, Any], checked_store: bool) -> None:
    s = data["summary"]
    print(f"ledger {s['ledger']} on chain {s['chain_id']}, blocks {s['from_block']}-"
          f"{s['to_block']}: {s['events']} events in {s['transactions']} transactions, "
          f"{s['parties']} parties ({s['credible']} credible, {s['removed']} removed), "
          f"epoch {s['round']} ({s['phase']}), {s['claims']} claims")
    print(f"points: {s['points_held']} held of {s['total_points']} minted "
          f"({'conserved' if s['conserved'] else 'NOT conserved'}); "
          f"{s['views_compared']} contract views compared with the replay")
    content = s["content"]
    if checked_store:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(content["by_status"].items()))
        print(f"stored content: {content['checked']} commitments checked ({counts or 'none'})")
    else:
        print("stored content: not checked (no --store given)")
    if data.get("deployment"):
        print(f"deployment record: {data['deployment'].get('file')} checked "
              f"(code hash {data['deployment'].get('code_hash', '?')})")
    for v in data["violations"]:
        where = f" block {v['block']}" if v["block"] is not None else ""
        tx = f" tx {v['tx']}" if v["tx"] else ""
        who = f" [{', '.join(v['parties'])}]" if v["parties"] else ""
        print(f"VIOLATION {v['kind']}{where}{tx}{who}: {v['detail']}")
    verdict = ("clean: no violation" if not data["violations"]
               else f"{len(data['violations'])} violation(s)")
    print(f"verdict: {verdict}; report: {data['report']}")
