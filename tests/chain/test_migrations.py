"""Migrations: deploy, record, skip when live, redeploy when the chain lost the code."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from eth_account import Account

from client.chain.anvil import start_anvil
from client.chain.compile import load_artifact
from client.chain.deployments import (
    DeploymentRecordError,
    abi_hash,
    ledger_deployment,
    read_deployments,
)
from client.chain.errors import LedgerError
from client.chain.ledger import Ledger, connect
from client.chain.records import Admission, LedgerParams
from migrations import ParametersDiffer, deploy, run_migrations
from migrations.__main__ import main as migrations_main


def _params(w3) -> LedgerParams:
    return LedgerParams(model_size=1000, registration_blocks=100)


def test_deploy_records_and_skips(anvil, dev_accounts, tmp_path):
    w3 = connect(anvil.rpc_url)
    params = _params(w3)
    first = deploy(anvil.rpc_url, dev_accounts[0], params, directory=tmp_path)
    record = json.loads((tmp_path / f"{anvil.chain_id}.json").read_text())
    step = record["steps"]["001_deploy_ledger"]
    assert step["address"] == first.address and step["parameters"]["model_size"] == 1000
    assert step["abiHash"] == abi_hash(load_artifact("ConsortiumLedger").abi)
    on_chain = Ledger(w3, first.address).parameters()
    assert on_chain.differences(params) == {}
    assert on_chain.registration_deadline == first.block_number + 100
    assert step["parameters"]["registration_deadline"] == first.block_number + 100
    outcomes = run_migrations(w3, dev_accounts[0], params, directory=tmp_path)
    assert [o.action for o in outcomes] == ["skipped"]
    assert outcomes[0].deployment == first
    # An absolute deadline equivalent to the recorded length is no difference.
    same = replace(params, registration_deadline=int(w3.eth.block_number) + 101)
    assert run_migrations(w3, dev_accounts[0], same, directory=tmp_path)[0].action == "skipped"
    changed = replace(params, model_size=7, settle_blocks=9)
    with pytest.raises(ParametersDiffer) as info:
        run_migrations(w3, dev_accounts[0], changed, directory=tmp_path)
    assert info.value.differences == {"model_size": (1000, 7), "settle_blocks": (1000, 9)}
    assert isinstance(info.value, LedgerError) and isinstance(info.value, ValueError)
    assert "model_size: 1000 -> 7" in str(info.value) and "--force" in str(info.value)
    (forced,) = run_migrations(w3, dev_accounts[0], changed, directory=tmp_path, force=True)
    assert forced.action == "applied" and forced.deployment.address != first.address
    assert ledger_deployment(anvil.chain_id, tmp_path).address == forced.deployment.address


def test_restarted_chain_triggers_redeploy(dev_accounts, tmp_path):
    for attempt in range(2):
        node = start_anvil(accounts=2)
        try:
            account = Account.from_key(node.dev_private_keys[0])
            w3 = connect(node.rpc_url)
            (outcome,) = run_migrations(w3, account, _params(w3), directory=tmp_path)
            # The second Anvil has the same chain id but none of the first one's code.
            assert outcome.action == "applied"
            assert outcome.note == ("new" if attempt == 0 else "code gone")
        finally:
            node.stop()
    assert len(read_deployments(31337, tmp_path)) == 1


def test_cli(anvil, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FPPDL_TEST_KEY", anvil.dev_private_keys[5])
    argv = ["--rpc-url", anvil.rpc_url, "--private-key-env", "FPPDL_TEST_KEY",
            "--deployments-dir", str(tmp_path), "--model-size", "140106",
            "--threshold-mode", "authors", "--max-parties", "8"]
    assert migrations_main(argv) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["action"] == "applied"
    ledger = Ledger(connect(anvil.rpc_url), line["address"])
    p = ledger.parameters()
    assert (p.threshold_numerator, p.threshold_denominator, p.max_parties) == (1, 3, 8)
    assert migrations_main(argv) == 0
    assert json.loads(capsys.readouterr().out.strip())["action"] == "skipped"
    # Other parameters over a live recorded ledger: a named error and exit code 2.
    assert migrations_main([*argv, "--settle-blocks", "7"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 001_deploy_ledger") and "settle_blocks: 1000 -> 7" in err
    key_file = tmp_path / "key.hex"
    key_file.write_text(anvil.dev_private_keys[5])
    assert migrations_main(argv[:2] + ["--key-file", str(key_file)] + argv[4:]) == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--private-key-env", "FPPDL_UNSET_VAR"], "empty or unset"),
        (["--key-file", "/nonexistent/key"], "does not exist"),
        ([], "give --key-file"),
        (["--private-key-env", "FPPDL_BAD_KEY"], "not a valid private key"),
        (["--private-key-env", "FPPDL_TEST_KEY", "--quorum", "two-thirds"], "--quorum"),
        (["--private-key-env", "FPPDL_TEST_KEY", "--min-parties", "1"], "minParties"),
    ],
)
def test_cli_errors_are_messages(anvil, tmp_path, monkeypatch, capsys, extra, message):
    monkeypatch.setenv("FPPDL_TEST_KEY", anvil.dev_private_keys[5])
    monkeypatch.setenv("FPPDL_BAD_KEY", "0x1234")
    monkeypatch.delenv("FPPDL_UNSET_VAR", raising=False)
    argv = ["--rpc-url", anvil.rpc_url, "--deployments-dir", str(tmp_path),
            "--model-size", "10", *extra]
    assert migrations_main(argv) == 2
    assert message in capsys.readouterr().err


def test_unreachable_node_is_a_message(tmp_path, monkeypatch, capsys, anvil):
    monkeypatch.setenv("FPPDL_TEST_KEY", anvil.dev_private_keys[5])
    argv = ["--rpc-url", "http://127.0.0.1:9", "--private-key-env", "FPPDL_TEST_KEY",
            "--model-size", "10"]
    assert migrations_main(argv) == 2
    assert "no JSON-RPC node" in capsys.readouterr().err


def test_missing_record_is_a_named_error(tmp_path):
    with pytest.raises(DeploymentRecordError, match="python -m migrations"):
        ledger_deployment(31337, tmp_path)
    (tmp_path / "31337.json").write_text("{not json")
    with pytest.raises(DeploymentRecordError):
        read_deployments(31337, tmp_path)


def test_cli_admission_flags(anvil, tmp_path, monkeypatch, capsys, dev_accounts):
    monkeypatch.setenv("FPPDL_TEST_KEY", anvil.dev_private_keys[5])
    founders = [a.address for a in dev_accounts[1:4]]
    settings = tmp_path / "settings.bin"
    settings.write_bytes(b"\x01rule=paper")
    argv = ["--rpc-url", anvil.rpc_url, "--private-key-env", "FPPDL_TEST_KEY",
            "--deployments-dir", str(tmp_path), "--model-size", "100", "--rounds", "4",
            "--admission", "vote", "--admission-quorum", "2/3", "--registration-deposit",
            "1000", "--max-sharing-level", "1/4", "--max-data-size", "5000",
            "--min-uploaders", "1", "--claim-deposit", "77", "--response-blocks", "5",
            "--vote-blocks", "6", "--retention-blocks", "11", "--settings-file", str(settings),
            *[x for f in founders for x in ("--allow", f.lower())]]
    assert migrations_main(argv) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    p = Ledger(connect(anvil.rpc_url), line["address"]).parameters()
    assert p.admission is Admission.VOTE and p.allowlist == tuple(founders)
    assert (p.rounds, p.registration_deposit, p.max_data_size) == (4, 1000, 5000)
    assert (p.admission_quorum_numerator, p.admission_quorum_denominator) == (2, 3)
    assert (p.max_sharing_numerator, p.max_sharing_denominator) == (1, 4)
    assert line["parameters"]["allowlist"] == founders
    assert (p.min_uploaders, p.claim_deposit, p.response_blocks, p.vote_blocks,
            p.retention_blocks) == (1, 77, 5, 6, 11)
    assert p.settings == b"\x01rule=paper" and line["parameters"]["settings"] == "0x" + (
        b"\x01rule=paper").hex()
    # Settings are a parameter like any other: a changed blob is a difference.
    settings.write_bytes(b"\x01rule=cgsv")
    assert migrations_main(argv) == 2
    assert "settings:" in capsys.readouterr().err
    settings.write_bytes(b"\x01rule=paper")
    assert migrations_main([*argv, "--allow", "not-an-address"]) == 2
    assert "--allow needs an address" in capsys.readouterr().err
