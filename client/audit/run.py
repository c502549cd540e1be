"""The audit end to end: replay the events, compare with the contract, check the store.

:class:`Auditor` keeps a :class:`~client.audit.replay.Replay` in step with the chain (each
:meth:`Auditor.sync` reads only the blocks not yet seen), so a test can compare the replay
with the contract after every transaction; :func:`audit` runs everything once and writes the
report.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from client.audit import chain as chain_io
from client.audit.checks import compare_state, deposits_json, expectations
from client.audit.content import check_content
from client.audit.deployment import check_deployment
from client.audit.model import AuditError, AuditResult, ContentCheck, Violation
from client.audit.replay import Replay
from client.audit.report import JSON_FILE, REPORT_FILE, write_report
from client.chain.ledger import Ledger
from client.chain.records import PartyStatus, RequestStatus
from storage import ContentStore


class Auditor:
    """A replay of one ledger kept in step with the chain.

    Parameters
    ----------
    ledger
        The ledger (a read-only handle is enough).
    from_block
        First block whose logs are read (at or before the ledger's deployment).
    """

    def __init__(self, ledger: Ledger, from_block: int = 0) -> None:
        if from_block < 0:
            raise AuditError(f"--from-block must be >= 0, got {from_block}")
        self.ledger = ledger
        self.from_block = from_block
        self.next_block = from_block
        kinds = list(ledger.message_kinds().values())
        self.replay = Replay(ledger.address, kinds)

    def _bad_log(self, block: int, tx: str, detail: str) -> None:
        self.replay.note_undecodable(block, tx, detail)

    def sync(self, to_block: int | None = None) -> int:
        """Read and replay the events of the blocks not seen yet, up to ``to_block``."""
        last = self.ledger.block_number() if to_block is None else to_block
        if last < self.next_block:
            return last
        events = list(chain_io.iter_events(self.ledger, self.next_block, last, self._bad_log))
        hashes = list(dict.fromkeys(e.meta.tx_hash for e in events))
        infos = chain_io.receipts(self.ledger, hashes)
        for event in events:
            self.replay.apply(event, infos.get(event.meta.tx_hash))
        self.replay.end_transaction()
        self.next_block = last + 1
        return last

    def compare(self, block: int | None = None) -> list[Violation]:
        """Return how the contract's views at ``block`` differ from the replay."""
        at = self.next_block - 1 if block is None else block
        return compare_state(self.ledger, self.replay, at)


def audit(
    ledger: Ledger,
    store: ContentStore | None = None,
    from_block: int = 0,
    out_dir: Path | str | None = None,
    *,
    to_block: int | None = None,
    deployment: Path | str | None = None,
) -> AuditResult:
    """Audit ``ledger`` from its events, its views and the store; write the report.

    Parameters
    ----------
    ledger
        The ledger to audit (read-only use).
    store
        The consortium's content store; ``None`` leaves stored content unchecked.
    from_block
        First block read; must be at or before the ledger's deployment.
    out_dir
        Folder for ``audit.html`` and ``audit.json`` (``None``: no files).
    to_block
        Last block audited (default: the latest); every view is read at this block.
    deployment
        A ``deployments/<chainId>.json`` file to check against the chain.

    Returns
    -------
    AuditResult
        The violations, the report's path and the figures it shows.

    Raises
    ------
    AuditError
        When the range holds no deployment of the ledger, or the store does not answer.
    """
    ledger.check()
    auditor = Auditor(ledger, from_block)
    last = auditor.sync(to_block)
    replay = auditor.replay
    if replay.params is None:
        raise AuditError(
            f"no LedgerDeployed event of {ledger.address} in blocks {from_block}-{last}: "
            "--from-block must be at or before the ledger's deployment block")
    violations = list(replay.violations)
    violations += auditor.compare(last)
    views = len(expectations(replay, last))
    chain_id = int(ledger.w3.eth.chain_id)
    checks, content_violations = check_content(store, replay, chain_id, last)
    violations += content_violations
    facts: dict[str, Any] | None = None
    if deployment is not None:
        facts, record_violations = check_deployment(ledger, Path(deployment), replay, last)
        violations += record_violations
    data = _data(replay, checks, facts, chain_id, from_block, last, views)
    summary = data.pop("summary")
    summary["violations"] = len(violations)
    summary["by_kind"] = dict(Counter(v.kind.value for v in violations))
    report_path = json_path = None
    if out_dir is not None:
        folder = Path(out_dir)
        report_path, json_path = folder / REPORT_FILE, folder / JSON_FILE
    result = AuditResult(tuple(violations), report_path, json_path, summary, data)
    if out_dir is not None:
        write_report(result.as_json(), Path(out_dir))
    return result


def _data(
    replay: Replay,
    checks: list[ContentCheck],
    facts: dict[str, Any] | None,
    chain_id: int,
    from_block: int,
    last: int,
    views: int,
) -> dict[str, Any]:
    """Return everything the report shows, as plain JSON-able values."""
    reports_sent: Counter[str] = Counter()
    reported_by: Counter[str] = Counter()
    for (_, suspect), reporters in replay.reporters.items():
        reported_by[suspect] += len(reporters)
        for reporter in reporters:
            reports_sent[reporter] += 1
    flows_by_party: dict[str, dict[str, int]] = {}
    flows = []
    for (rnd, party), bucket in sorted(replay.flows.items()):
        flows.append({"round": rnd, "party": party, "earned": bucket.get("earned", 0),
                      "paid": bucket.get("paid", 0), "claims": bucket.get("claims", 0)})
        total = flows_by_party.setdefault(party, {"earned": 0, "paid": 0, "claims": 0})
        for key in total:
            total[key] += bucket.get(key, 0)
    parties = []
    for address in replay.order:
        s = replay.parties[address]
        f = flows_by_party.get(address, {})
        parties.append({
            "address": address, "index": s.index, "status": s.status.name.lower(),
            "data_size": s.data_size, "samples_released": s.samples_released,
            "minted": s.minted, "balance": s.balance, "escrowed": s.escrowed,
            "pending": s.pending, "disputed": s.disputed, "deposited": s.deposited,
            "holdings": s.holdings(), "earned": f.get("earned", 0), "paid": -f.get("paid", 0),
            "claims": f.get("claims", 0), "reports_sent": reports_sent[address],
            "reported_by": reported_by[address], "removed_epoch": s.removed_epoch,
            "removed_block": s.removed_block, "deposit_held": s.deposit_held,
            "gas": replay.gas_by_party.get(address, 0),
        })
    rounds = []
    for r in sorted(replay.rounds):
        state = replay.rounds[r]
        start, request, upload, settle = replay.deadlines(r)
        reqs = [k for k in replay.requests if k[0] == r]
        paid = sum(rec.amount for k, rec in replay.requests.items() if k[0] == r
                   and rec.status in (RequestStatus.FULFILLED, RequestStatus.DISPUTED))
        rounds.append({
            "round": r, "start": start, "request_deadline": request,
            "upload_deadline": upload, "settle_deadline": settle,
            "closed_block": state.closed_block, "by_deadline": state.closed_by_deadline,
            "requests": len(reqs), "uploads": sum(1 for k in replay.deliveries if k[0] == r),
            "paid": paid, "gas": replay.gas.get("benchmarking" if r == 0 else f"round {r}", 0),
        })
    claims = [{
        "id": c.claim_id, "round": c.round, "kind": c.kind.name.lower(),
        "requester": c.requester, "uploader": c.uploader, "amount": c.amount,
        "state": c.state.name.lower(), "cause": c.cause.name.lower() if c.cause else None,
        "fine": c.fine, "votes": dict(c.votes), "tx": c.tx, "block": c.block,
        "resolved_block": c.resolved_block,
    } for c in replay.claims.values()]
    by_status = Counter(c.status for c in checks)
    held = sum(p.holdings() for p in replay.parties.values())
    summary = {
        "ledger": replay.address, "chain_id": chain_id, "from_block": from_block,
        "to_block": last, "deployment_block": replay.deploy_block, "events": replay.events,
        "events_by_name": dict(sorted(replay.event_counts.items())),
        "transactions": replay.tx_count, "parties": len(replay.order),
        "credible": sum(1 for p in replay.parties.values()
                        if p.status is PartyStatus.CREDIBLE),
        "removed": sum(1 for p in replay.parties.values() if p.status is PartyStatus.REMOVED),
        "round": replay.current_round, "phase": replay.phase_at(last).name.lower(),
        "finished": replay.finished, "total_points": replay.total_points,
        "points_held": held, "conserved": held == (replay.total_points
                                                   if replay.registration_closed else 0),
        "claims": len(replay.claims), "views_compared": views,
        "deposits_wei": deposits_json(replay),
        "content": {"checked": sum(n for k, n in by_status.items() if k != "unchecked"),
                    "by_status": dict(by_status)},
        "gas_total": sum(replay.gas.values()),
    }
    return {
        "summary": summary,
        "parameters": replay.params.as_json() if replay.params else None,
        "parties": parties, "rounds": rounds, "flows": flows, "claims": claims,
        "series": replay.series, "timeline": replay.timeline, "gas": replay.gas,
        "content": [c.as_json() for c in checks], "deployment": facts,
    }


def audit_block(
    rpc_url: str,
    ledger_address: str,
    store: ContentStore | str | None,
    from_block: int,
    out_dir: Path | str | None = None,
    *,
    to_block: int | None = None,
) -> dict[str, Any]:
    """Audit a ledger and return the ``"audit"`` block of a run's ``results.json``.

    Parameters
    ----------
    rpc_url
        The chain's JSON-RPC endpoint (it must still be up).
    ledger_address
        The ledger to audit.
    store
        The consortium's content store, or its spec (``embedded:<folder>``, an IPFS API);
        ``None`` leaves stored content unchecked.
    from_block
        First block read: at or before the ledger's deployment (the run's deploy block).
    out_dir
        Folder for ``audit.html`` and ``audit.json`` (``None``: no report).
    to_block
        Last block audited (default: the latest).

    Returns
    -------
    dict
        ``verdict`` (``"clean"``, ``"violations"`` or ``"error"``), ``violations`` (count),
        ``kinds`` (count per violation kind), ``report`` and ``json`` (paths or ``None``),
        ``to_block``, ``events``, ``views_compared`` and ``content`` (count per status); on
        ``"error"`` (the audit could not run), ``error`` holds the one-line reason.
    """
    from client.access import open_chain, open_ledger
    from client.errors import error_roots
    from storage import open_store

    roots: tuple[type[BaseException], ...] = (*error_roots(), OSError)
    opened: ContentStore | None = None
    try:
        if isinstance(store, str):
            opened = open_store(store)
        ledger = open_ledger(open_chain(rpc_url), ledger_address)
        result = audit(ledger, opened if isinstance(store, str) else store, from_block, out_dir,
                       to_block=to_block)
    except roots as exc:
        text = str(exc).strip()
        return {"verdict": "error", "violations": None, "kinds": {}, "report": None,
                "json": None, "error": text.splitlines()[0] if text else type(exc).__name__}
    finally:
        if opened is not None:
            opened.close()
    s = result.summary
    return {
        "verdict": "clean" if result.clean else "violations",
        "violations": len(result.violations),
        "kinds": dict(sorted(Counter(v.kind.value for v in result.violations).items())),
        "report": str(result.report_path) if result.report_path else None,
        "json": str(result.json_path) if result.json_path else None,
        "to_block": s["to_block"], "events": s["events"], "views_compared": s["views_compared"],
        "content": dict(sorted(s["content"]["by_status"].items())),
    }
