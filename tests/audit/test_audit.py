"""The audit on an honest consortium, and each tampering caught and named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from client.audit import EXIT_VIOLATIONS, AuditError, ViolationKind, audit
from client.audit.content import header_problem
from client.chain.ledger import Ledger
from client.cli import main
from storage import EmbeddedStore

from .conftest import Run, object_path


def _kinds(result) -> list[str]:
    return [v.kind.value for v in result.violations]


def test_honest_run_audits_clean(honest_run: Run, tmp_path: Path) -> None:
    store = EmbeddedStore(honest_run.store_dir)
    result = audit(honest_run.ledger, store, honest_run.from_block, tmp_path / "out",
                   to_block=honest_run.last_block, deployment=honest_run.deployment_file)
    assert result.violations == (), "\n".join(str(v) for v in result.violations)
    s = result.summary
    assert s["parties"] == 4 and s["credible"] == 3 and s["removed"] == 1
    assert s["finished"] and s["conserved"] and s["claims"] == 1
    # Every commitment was fetched: 4 samples, 12 labels, 4 receipts, 12 + 6 envelopes.
    assert s["content"]["by_status"] == {"ok": 38}
    assert s["views_compared"] > 60
    removed = [p for p in result.data["parties"] if p["status"] == "removed"]
    assert [p["address"] for p in removed] == [honest_run.addresses[3]]
    assert result.data["deployment"]["code_hash"].startswith("0x")
    assert result.report_path is not None and result.report_path.is_file()
    saved = json.loads((tmp_path / "out" / "audit.json").read_text())
    assert saved["verdict"] == "clean" and saved["violations"] == []


def test_changed_envelope_bytes_are_named(honest_run: Run, tmp_path: Path) -> None:
    store = honest_run.store_copy(tmp_path / "store")
    a, b = honest_run.addresses[:2]
    cid = honest_run.envelopes[(2, a, b)]  # B's envelope for A in round 2
    path = object_path(tmp_path / "store", cid)
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0x01
    path.write_bytes(bytes(blob))
    result = audit(honest_run.ledger, store, honest_run.from_block, None,
                   to_block=honest_run.last_block)
    assert _kinds(result) == [ViolationKind.CONTENT_MISMATCH.value]
    (v,) = result.violations
    assert v.parties == (b, a) and str(cid) in v.detail
    upload = [u for u in honest_run.ledger.uploads(2, b)][0]
    assert v.tx == upload.meta.tx_hash and v.block == upload.meta.block_number


def test_deleted_object_inside_the_window_is_named(honest_run: Run, tmp_path: Path) -> None:
    store = honest_run.store_copy(tmp_path / "store")
    c = honest_run.addresses[2]
    cid = honest_run.samples[c]
    object_path(tmp_path / "store", cid).unlink()
    result = audit(honest_run.ledger, store, honest_run.from_block, None,
                   to_block=honest_run.last_block)
    assert _kinds(result) == [ViolationKind.CONTENT_MISSING.value]
    assert result.violations[0].parties == (c,)
    assert "retained until block" in result.violations[0].detail


def test_envelope_header_must_name_its_delivery(honest_run: Run) -> None:
    a, b, c = honest_run.addresses[:3]
    ledger = honest_run.ledger.address
    store = EmbeddedStore(honest_run.store_dir)
    blob = store.get(honest_run.envelopes[(2, a, b)])
    assert header_problem(blob, 31337, ledger, 2, b, a) == ""
    assert header_problem(blob, 31337, ledger, 2, b, c) == "header names another receiver"
    assert header_problem(blob, 1, ledger, 1, b, a) == "header names another chain id, round"
    assert header_problem(blob, 31337, c, 2, a, b) == (
        "header names another contract, sender, receiver")
    assert "wrong magic" in header_problem(b"X" * len(blob), 31337, ledger, 2, b, a)
    assert "shorter" in header_problem(blob[:10], 31337, ledger, 2, b, a)


def test_objects_past_the_retention_window_are_not_retained(honest_run: Run,
                                                            tmp_path: Path) -> None:
    store = honest_run.store_copy(tmp_path / "store")
    a, b = honest_run.addresses[:2]
    object_path(tmp_path / "store", honest_run.envelopes[(1, a, b)]).unlink()
    retained = honest_run.ledger.retained_until(1)
    assert retained > honest_run.last_block
    honest_run.node.mine(retained - honest_run.ledger.block_number())
    result = audit(honest_run.ledger, store, honest_run.from_block, None,
                   to_block=retained)
    assert result.violations == ()
    statuses = {(c["epoch"], c["status"]) for c in result.data["content"]}
    assert (1, "not_retained") in statuses
    # One block earlier the same object was inside its window.
    early = audit(honest_run.ledger, store, honest_run.from_block, None,
                  to_block=retained - 1)
    assert _kinds(early) == [ViolationKind.CONTENT_MISSING.value]


@pytest.mark.parametrize("field, value, needle", [
    ("parameters.claim_deposit", 51, "parameter claim_deposit"),
    ("blockNumber", -1, "blockNumber"),
    ("txHash", "0x" + "ab" * 32, "no transaction"),
    ("abiHash", "00" * 32, "abiHash"),
    ("chainId", 1, "chainId"),
])
def test_forged_deployment_record_is_named(honest_run: Run, tmp_path: Path, field: str,
                                           value: object, needle: str) -> None:
    data = json.loads(honest_run.deployment_file.read_text())
    record = next(iter(data["steps"].values()))
    if field == "chainId":
        data["chainId"] = value
    elif field == "blockNumber":
        record["blockNumber"] = record["blockNumber"] + 1
    elif field.startswith("parameters."):
        record["parameters"][field.split(".", 1)[1]] = value
    else:
        record[field] = value
    forged = tmp_path / "31337.json"
    forged.write_text(json.dumps(data))
    result = audit(honest_run.ledger, None, honest_run.from_block, None,
                   to_block=honest_run.last_block, deployment=forged)
    kinds = set(_kinds(result))
    assert kinds == {ViolationKind.DEPLOYMENT_RECORD_MISMATCH.value}, result.violations
    assert any(needle in v.detail for v in result.violations), result.violations


def test_record_of_another_ledger_is_named(honest_run: Run, tmp_path: Path,
                                           fresh_ledger) -> None:
    other: Ledger = fresh_ledger()
    data = json.loads(honest_run.deployment_file.read_text())
    next(iter(data["steps"].values()))["address"] = other.address
    forged = tmp_path / "31337.json"
    forged.write_text(json.dumps(data))
    result = audit(honest_run.ledger, None, honest_run.from_block, None,
                   to_block=honest_run.last_block, deployment=forged)
    assert _kinds(result) == [ViolationKind.DEPLOYMENT_RECORD_MISMATCH.value]
    assert other.address in result.violations[0].detail


def test_from_block_after_the_deployment_is_an_error(honest_run: Run) -> None:
    with pytest.raises(AuditError, match="at or before the ledger's deployment"):
        audit(honest_run.ledger, None, honest_run.from_block + 1, None,
              to_block=honest_run.last_block)


def test_cli_exit_codes(honest_run: Run, tmp_path: Path, anvil, capsys) -> None:
    base = ["audit", "--rpc-url", anvil.rpc_url, "--ledger", honest_run.ledger.address,
            "--from-block", str(honest_run.from_block), "--to-block", str(honest_run.last_block)]
    clean = main([*base, "--store", f"embedded:{honest_run.store_dir}",
                  "--out", str(tmp_path / "clean"), "--deployment",
                  str(honest_run.deployment_file)])
    out = capsys.readouterr().out
    assert clean == 0, out
    assert "verdict: clean" in out and str(tmp_path / "clean" / "audit.html") in out

    store = honest_run.store_copy(tmp_path / "store")
    object_path(tmp_path / "store", honest_run.envelopes[(2, *honest_run.addresses[1::-1])]
                ).unlink()
    store.close()
    dirty = main([*base, "--store", f"embedded:{tmp_path / 'store'}", "--json",
                  "--out", str(tmp_path / "dirty")])
    printed = json.loads(capsys.readouterr().out)
    assert dirty == EXIT_VIOLATIONS != 1
    assert printed["verdict"] == "violations"
    assert [v["kind"] for v in printed["violations"]] == ["content_missing"]

    down = main(["audit", "--rpc-url", "http://127.0.0.1:9", "--ledger",
                 honest_run.ledger.address])
    err = capsys.readouterr().err
    assert down == 1 and err.count("\n") == 1 and err.startswith("error: ")
