"""The ``"audit"`` block of results.json, and ``inspect --json`` carrying the table's points."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from client.audit import audit_block
from client.cli import main
from client.cli.inspect import snapshot

from .conftest import AMOUNT, Run, object_path


def test_audit_block_of_an_honest_run(honest_run: Run, tmp_path: Path) -> None:
    block = audit_block(honest_run.node.rpc_url, honest_run.ledger.address,
                        f"embedded:{honest_run.store_dir}", honest_run.from_block,
                        tmp_path / "audit", to_block=honest_run.last_block)
    assert block["verdict"] == "clean" and block["violations"] == 0 and block["kinds"] == {}
    assert block["report"] == str(tmp_path / "audit" / "audit.html")
    assert Path(block["report"]).is_file() and Path(block["json"]).is_file()
    assert block["content"] == {"ok": 38} and block["events"] > 0
    json.dumps(block, allow_nan=False)  # results.json is strict JSON


def test_audit_block_names_violations_and_errors(honest_run: Run, tmp_path: Path) -> None:
    store = honest_run.store_copy(tmp_path / "store")
    object_path(tmp_path / "store", honest_run.samples[honest_run.addresses[0]]).unlink()
    store.close()
    block = audit_block(honest_run.node.rpc_url, honest_run.ledger.address,
                        f"embedded:{tmp_path / 'store'}", honest_run.from_block, None,
                        to_block=honest_run.last_block)
    assert block["verdict"] == "violations" and block["violations"] == 1
    assert block["kinds"] == {"content_missing": 1} and block["report"] is None

    down = audit_block("http://127.0.0.1:9", honest_run.ledger.address, None, 0, None)
    assert down["verdict"] == "error" and down["violations"] is None
    assert "\n" not in down["error"] and down["error"]


def test_inspect_json_gives_each_envelope_its_points(honest_run: Run,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    data = snapshot(honest_run.ledger, honest_run.from_block)
    envelopes = [e for u in data["uploads"] for e in u["envelopes"]]
    assert len(envelopes) == 18 and {e["points"] for e in envelopes} == {AMOUNT}
    assert main(["inspect", "--rpc-url", honest_run.node.rpc_url, "--ledger",
                 honest_run.ledger.address, "--from-block", str(honest_run.from_block),
                 "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["uploads"] == data["uploads"]
