"""`fppdl demo` end to end, then the auditor's `fppdl inspect` against `cast`, and the party
commands on the demo's parties (status, a request beyond the balance, a party never registered)."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from filelock import FileLock
from web3 import Web3

from client.chain.anvil import AnvilNode
from client.chain.devnet import DEV_KEY
from tests.cli.conftest import (
    CAST,
    PASSWORD_ENV,
    REPO,
    TINY,
    Demo,
    assert_one_line_error,
    cli_env,
    fppdl,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo(chain: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("demo") / "run"
    result = fppdl(
        "demo", "--parties", "3", "--rounds", "2", "--per-party", "120", "--test-size", "200",
        *TINY, "--kdf-cost", "10", "--rpc-url", chain.rpc_url, "--out", folder, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = json.loads((folder / "results.json").read_text())
    yield Demo(folder, chain.rpc_url, results["ledger"], results, result)


def cast(*args: str) -> str:
    out = subprocess.run([str(CAST), *args], capture_output=True, text=True, timeout=60,
                         check=True)
    return out.stdout.strip()


def cast_int(rpc: str, ledger: str, signature: str, *args: str) -> list[int]:
    """Integers returned by a view call, as cast decodes them (one per line)."""
    text = cast("call", "--rpc-url", rpc, ledger, signature, *args)
    return [int(line.split()[0]) for line in text.splitlines()]


def test_demo_writes_results_plots_and_table(demo: Demo) -> None:
    r = demo.results
    assert r["rounds"] == 2 and len(r["parties"]) == 3
    assert r["fairness"]["contribution"] == "sharing_level"
    assert r["transactions"] > 0 and r["gas"] > 0 and r["points_conserved"] is True
    for row in r["parties"]:
        assert row["data_size"] == 120
        # Every demo party is honest: even at these tiny settings nobody is voted out.
        assert not row["removed"]
        assert len(row["accuracy_per_round"]) == 2
    for png in ("fairness.png", "accuracy.png"):
        data = (demo.folder / png).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 2000
    out = demo.result.stdout
    assert "fppdl consortium results" in out and "fairness: Pearson(sharing_level" in out
    assert f"{r['transactions']} transactions, {r['gas']} gas" in out
    # every party got its own encrypted keystore; the password file is private
    for i in range(3):
        assert (demo.folder / f"party{i}" / "signing-key.json").stat().st_mode & 0o777 == 0o600
    assert (demo.folder / "demo-password").stat().st_mode & 0o777 == 0o600
    password = (demo.folder / "demo-password").read_text().strip()
    assert password not in out + demo.result.stderr
    assert password not in (demo.folder / "results.json").read_text()


def test_inspect_agrees_with_cast(demo: Demo) -> None:
    result = fppdl("inspect", "--rpc-url", demo.rpc_url, "--ledger", demo.ledger, "--json")
    assert result.returncode == 0, result.stderr
    view = json.loads(result.stdout)
    rpc, ledger = demo.rpc_url, demo.ledger
    assert view["round"] == cast_int(rpc, ledger, "currentRound()(uint64)")[0]
    assert view["total_points"] == cast_int(rpc, ledger, "totalPoints()(uint256)")[0]
    credible = cast("call", "--rpc-url", rpc, ledger, "credibleParties()(address[])")
    assert sorted(a.lower() for a in view["credible"]) == sorted(
        a.strip().lower() for a in credible.strip("[]").split(",") if a.strip()
    )
    for party in view["parties"]:
        balance, escrowed, *_rest = cast_int(
            rpc, ledger, "pointsOf(address)(uint256,uint256,uint256,uint256,uint256,uint256)",
            party["address"],
        )
        assert (party["points"]["balance"], party["points"]["escrowed"]) == (balance, escrowed)
    logs = json.loads(cast(
        "logs", "--rpc-url", rpc, "--address", ledger, "--from-block", "0", "--json",
        "CiphertextsUploaded(uint64 indexed,address indexed,address[],bytes32[],uint256,bytes32)",
    ))
    assert len(logs) == len(view["uploads"]) > 0
    assert {log["transactionHash"] for log in logs} == {u["tx"] for u in view["uploads"]}
    # and the same facts as the demo reported them
    by_address = {p["address"]: p for p in demo.results["parties"]}
    for party in view["parties"]:
        assert party["points"]["balance"] == by_address[party["address"]]["points_balance"]
    removed = {r["party"] for r in view["removals"]}
    assert removed == {p["address"] for p in demo.results["parties"] if p["removed"]}

    table = fppdl("inspect", "--rpc-url", rpc, "--ledger", ledger)
    assert table.returncode == 0 and "credible set" in table.stdout


def test_party_status_of_a_demo_party(demo: Demo) -> None:
    result = fppdl("party", "status", demo.folder / "party0", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    row = demo.results["parties"][0]
    assert status["address"] == row["address"]
    assert status["points"]["balance"] == row["points_balance"]
    assert status["round"] == 3 and status["accuracy_per_round"] == row["accuracy_per_round"]
    assert status["credibility"]  # its own list over the others


def test_request_beyond_balance_is_insufficient_points(demo: Demo) -> None:
    me, *others = demo.results["parties"]
    # Two uploaders: the ledger refuses a DOWNLOAD naming fewer than minUploaders (2).
    result = fppdl(
        "party", "request", demo.folder / me["name"],
        "--uploader", others[0]["address"], "--points", str(10**30),
        "--uploader", others[1]["address"], "--points", "1",
        "--password-file", demo.folder / "demo-password",
    )
    assert_one_line_error(result, "InsufficientPoints", me["address"])
    status = json.loads(fppdl("party", "status", demo.folder / me["name"], "--json").stdout)
    assert status["points"]["balance"] == me["points_balance"]  # nothing was spent


def test_unregistered_party_cannot_run_after_registration(
    demo: Demo, shards: list[Path], tmp_path: Path
) -> None:
    folder = tmp_path / "late"
    init = fppdl("party", "init", folder, "--data", shards[0], "--rpc-url", demo.rpc_url,
                 "--ledger", demo.ledger, "--store", f"embedded:{tmp_path / 'store'}",
                 "--kdf-cost", "10", "--password-env", PASSWORD_ENV)
    assert init.returncode == 0, init.stderr
    result = fppdl("party", "run", folder, "--password-env", PASSWORD_ENV)
    assert_one_line_error(result, "is not registered", demo.ledger)
    assert not list(folder.glob("prepared-*.npz"))  # it failed before any training


def test_second_run_on_the_same_keystore_is_refused(demo: Demo) -> None:
    folder = demo.folder / "party1"
    with FileLock(str(folder / "run.lock")):
        result = fppdl("party", "run", folder, "--password-file", demo.folder / "demo-password")
    assert_one_line_error(result, "another fppdl process is running", str(folder))


def _copy_party(demo: Demo, tmp_path: Path, name: str = "party0") -> Path:
    """A copy of a demo party folder (keystore, party.json, state), to damage freely."""
    copy = tmp_path / name
    shutil.copytree(demo.folder / name, copy)
    return copy


def test_a_damaged_state_file_is_one_line_and_left_alone(demo: Demo, tmp_path: Path) -> None:
    folder = _copy_party(demo, tmp_path)
    [state] = folder.glob("state/*/party-state.npz")  # one chain and ledger: one state
    for damage in (b"", state.read_bytes()[:100]):  # empty (EOFError), truncated (BadZipFile)
        state.write_bytes(damage)
        result = fppdl("party", "status", folder, "--json")
        assert_one_line_error(result, "unreadable", str(state))
        assert state.read_bytes() == damage  # nothing overwrote it


def test_a_keystore_without_its_kdf_is_one_line(demo: Demo, tmp_path: Path) -> None:
    folder = _copy_party(demo, tmp_path)
    signing = folder / "signing-key.json"
    data = json.loads(signing.read_text())
    del data["crypto"]["kdf"]
    signing.write_text(json.dumps(data))
    result = fppdl("party", "run", folder, "--password-file", demo.folder / "demo-password")
    assert_one_line_error(result, "malformed", str(signing))


def test_typos_in_endpoints_are_refused_and_never_saved(demo: Demo, tmp_path: Path) -> None:
    folder = _copy_party(demo, tmp_path)
    settings = (folder / "party.json").read_bytes()
    w3 = Web3(Web3.HTTPProvider(demo.rpc_url))
    # A contract that is not a ledger: 10 bytes of runtime code returning 42.
    account = Account.from_key(DEV_KEY)
    tx = {"data": "0x600a600c600039600a6000f3602a60005260206000f3", "gas": 100_000,
          "nonce": w3.eth.get_transaction_count(account.address, "pending"),
          "chainId": int(w3.eth.chain_id), "maxFeePerGas": 2 * w3.eth.gas_price + 1,
          "maxPriorityFeePerGas": 1}
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    )
    not_a_ledger = receipt["contractAddress"]
    cases = [
        (["--ledger", not_a_ledger], "is not a ConsortiumLedger"),
        (["--ledger", "0xLEDGER"], "is not an Ethereum address"),
        (["--rpc-url", "http://127.0.0.1:9"], "no JSON-RPC node answers"),
    ]
    for flags, needle in cases:
        assert_one_line_error(fppdl("party", "status", folder, *flags), needle)
        assert (folder / "party.json").read_bytes() == settings
    init = fppdl("party", "init", tmp_path / "new", "--data", demo.folder / "missing.npz",
                 "--ledger", "0xLEDGER", "--password-env", PASSWORD_ENV)
    assert init.returncode == 1 and "Traceback" not in init.stderr
    assert not (tmp_path / "new" / "signing-key.json").exists()


def test_state_prepared_and_settings_files_are_private(demo: Demo) -> None:
    folder = demo.folder / "party0"
    [state] = folder.glob("state/*/party-state.npz")
    for path in (folder / "party.json", state):
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_end_of_input_at_the_password_prompt_is_one_line(demo: Demo, tmp_path: Path) -> None:
    folder = _copy_party(demo, tmp_path)
    pid, fd = pty.fork()
    if pid == 0:  # the child: fppdl on a terminal, so it prompts
        os.chdir(REPO)
        os.execvpe(sys.executable, [sys.executable, "-m", "client.cli", "party", "run",
                                    str(folder)], cli_env())
    output = b""
    deadline = time.monotonic() + 60
    while b"password:" not in output and time.monotonic() < deadline:
        output += os.read(fd, 1024)
    os.write(fd, b"\x04")  # Ctrl-D
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    text = output.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 1, text
    assert "Traceback" not in text and "error: no password entered" in text


def test_demo_output_fits_80_columns_with_clock_times(demo: Demo) -> None:
    out = demo.result.stdout
    table = [line for line in out.splitlines() if line[:1] in "┏┃┡│└"]
    assert table and all(len(line) <= 80 for line in table), "\n".join(table)
    for row in demo.results["parties"]:  # every row whole on one line: folded, not wrapped
        assert any(line.startswith(f"│ {row['name']} ") and
                   f"{100 * row['final_accuracy']:.2f}%" in line for line in table)
    progress = [line for line in out.splitlines() if "phase 1/4: data" in line]
    assert progress and re.match(r"\d\d:\d\d:\d\d phase 1/4", progress[0])


def test_consortium_status_of_the_demo(demo: Demo) -> None:
    result = fppdl("consortium", "status", demo.folder, "--json")
    assert result.returncode == 0, result.stderr
    view = json.loads(result.stdout)
    assert view["ledger"] == demo.ledger and view["round"] == 3
    names = set(view["names"].values())
    assert names == {"party0", "party1", "party2"}
    assert set(view["expected"]) == {p["address"] for p in demo.results["parties"]}
    assert view["summary"].startswith("round 3: ")
    text = fppdl("consortium", "status", demo.folder)
    assert text.returncode == 0 and "waiting on" in text.stdout
    assert all(len(line) <= 80 for line in text.stdout.splitlines())


def test_party_export_writes_the_final_model(demo: Demo, tmp_path: Path) -> None:
    import numpy as np
    import torch

    from trainer.models import build_model, get_flat

    out = tmp_path / "export"
    result = fppdl("party", "export", demo.folder / "party0", "--out", out, "--json")
    assert result.returncode == 0, result.stderr
    written = json.loads(result.stdout)
    row = demo.results["parties"][0]
    assert written["round"] == 2 and written["accuracy"] == row["final_accuracy"]
    params = np.load(out / "params.npz")["params"]
    model = build_model("mlp", (1, 32, 32))
    model.load_state_dict(torch.load(out / "model.pt"))
    assert np.array_equal(get_flat(model), params)
    for name in ("model.pt", "params.npz", "model.json"):
        assert (out / name).stat().st_mode & 0o777 == 0o600
