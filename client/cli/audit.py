"""``fppdl audit``: replay a ledger's history, check every rule, write the HTML report.

Read-only: no key is needed and no transaction is sent. Exit codes: 0 when the audit finds
no violation, :data:`client.audit.EXIT_VIOLATIONS` (3) when it finds some, 1 for an error
(unreachable node, no ledger at the address, unreadable store...), 2 for malformed arguments.
The flags are declared in :func:`client.cli.parser.add_audit`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any


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
        return ledger_deployment(chain_id, args.deployments_dir or DEPLOYMENTS_DIR).address
    except (OSError, ValueError, DeploymentRecordError):
        raise NodeError("no --ledger given and no deployment recorded for this chain") from None


def cmd_audit(args: argparse.Namespace) -> int:
    """``fppdl audit``."""
    from client.access import NodeError, open_chain, open_ledger
    from client.audit import audit
    from client.cli.parser import ENV_RPC_URL
    from storage import open_store

    if not args.rpc_url:
        raise NodeError(f"no RPC URL: pass --rpc-url or set {ENV_RPC_URL}")
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
