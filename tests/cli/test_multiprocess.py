"""Separate party processes that share only a chain and a store folder.

`fppdl consortium up` does it in one command (and continues after Ctrl-C); the walkthrough
does it by hand the way a party joining with its own node would (chain up, deploy, init, fund,
register, run, status), with a Ctrl-C in the middle of a round, a resumed run and a devnet
restart; two nodes run on a Hardhat node that mines on its own clock.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from web3 import Web3

from client.chain.anvil import free_port
from tests.cli.conftest import PASSWORD_ENV, REPO, TINY, fppdl, spawn

HARDHAT = REPO / "node_modules" / ".bin" / "hardhat"

ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def wait_for(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.is_file() and text in log.read_text(errors="replace"):
            return
        assert proc.poll() is None, f"process ended early:\n{log.read_text(errors='replace')}"
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not in {log} after {timeout}s:\n{log.read_text()}")


def check_consortium_up_result(result: subprocess.CompletedProcess[str], out: Path) -> None:
    """What a finished `consortium up` of 3 parties and 1 round must have shown and written."""
    assert result.returncode == 0, result.stdout + result.stderr
    ledger = json.loads((out / "ledger.json").read_text())
    assert len(ledger["parties"]) == 3 and ledger["round"] >= 2
    assert len(ledger["uploads"]) > 0
    # Every party is honest: even at these tiny settings nobody is voted out.
    assert ledger["removals"] == []
    for i in range(3):
        assert f"party{i} finished (exit 0)" in result.stdout
        log = (out / f"party{i}" / "party.log").read_text()
        assert "Traceback" not in log
        assert "done: 1 rounds" in log
    # each process held only its own keystore and shard
    keys = {(out / f"party{i}" / "signing-key.json").read_text() for i in range(3)}
    assert len(keys) == 3
    # it ends as the demo does: the table (80 columns when piped), fairness, plots
    assert "fppdl consortium results" in result.stdout
    assert "fairness: Pearson(sharing_level, final accuracy) = " in result.stdout
    assert all(len(line) <= 80 for line in result.stdout.splitlines()
               if "│" in line or "┃" in line)
    results = json.loads((out / "results.json").read_text())
    assert [r["name"] for r in results["parties"]] == ["party0", "party1", "party2"]
    for row in results["parties"]:
        assert len(row["accuracy_per_round"]) == 1 and row["sharing_level"] is not None
        assert re.search(rf"│ {row['name']} .*{100 * row['final_accuracy']:.2f}%", result.stdout)
    for png in ("fairness.png", "accuracy.png"):
        assert (out / png).read_bytes().startswith(b"\x89PNG")


def test_party_walkthrough_with_ctrl_c_and_resume(shards: list[Path], tmp_path: Path) -> None:
    port = free_port()
    chain_log = tmp_path / "chain.log"
    chain = spawn("chain", "up", "--port", str(port), "--block-time", "1", log=chain_log)
    try:
        wait_for(chain_log, "Ctrl-C stops the chain", chain, timeout=60)
        rpc = f"http://127.0.0.1:{port}"
        deployed = fppdl(
            "deploy", "--rpc-url", rpc, "--dev", "--min-parties", "2", "--max-parties", "2",
            "--min-uploaders", "1", "--rounds", "2",
            "--benchmark-blocks", "60", "--request-blocks", "30", "--upload-blocks", "30",
            "--settle-blocks", "60", "--deployments-dir", tmp_path / "deployments",
        )
        assert deployed.returncode == 0, deployed.stderr
        ledger = ADDRESS.findall(deployed.stdout)[0]
        assert (tmp_path / "deployments" / "31337.json").is_file()
        folders = [tmp_path / "alice", tmp_path / "bob"]
        for folder, shard in zip(folders, shards, strict=False):
            init = fppdl(
                "party", "init", folder, "--data", shard, "--rpc-url", rpc, "--ledger", ledger,
                "--store", f"embedded:{tmp_path / 'store'}", "--rounds", "2",
                "--pretrain-epochs", "1", "--dpgan-epochs", "1", "--dpgan-width", "8",
                "--kdf-cost", "10", "--poll-seconds", "0.2", "--password-env", PASSWORD_ENV,
            )
            assert init.returncode == 0, init.stderr
            address = ADDRESS.findall(init.stdout)[0]
            assert fppdl("chain", "fund", address, "--rpc-url", rpc).returncode == 0
        before = json.loads(fppdl("party", "status", folders[0], "--json").stdout)
        assert before["status"] == "none" and before["points"]["balance"] == 0
        registered = fppdl("party", "register", folders[0], "--password-env", PASSWORD_ENV)
        assert registered.returncode == 0 and "registered" in registered.stdout

        logs = [tmp_path / "alice.log", tmp_path / "bob.log"]
        alice = spawn("party", "run", folders[0], "--password-env", PASSWORD_ENV, log=logs[0])
        bob = spawn("party", "run", folders[1], "--password-env", PASSWORD_ENV, log=logs[1])
        wait_for(logs[1], "epoch 1:", bob)
        # Ctrl-C in round 1 of 2: even on a fast machine bob cannot have finished both rounds.
        bob.send_signal(signal.SIGINT)
        assert bob.wait(timeout=60) == 130
        text = logs[1].read_text()
        assert "error: interrupted" in text and "Traceback" not in text
        bob = spawn("party", "run", folders[1], "--password-env", PASSWORD_ENV,
                    log=tmp_path / "bob-resumed.log")
        assert bob.wait(timeout=240) == 0, (tmp_path / "bob-resumed.log").read_text()
        assert alice.wait(timeout=120) == 0, logs[0].read_text()
        resumed = (tmp_path / "bob-resumed.log").read_text()
        assert "standalone training" not in resumed  # preparation was kept, not redone
        assert "done: 2 rounds" in resumed

        status = json.loads(fppdl("party", "status", folders[0], "--json").stdout)
        assert status["status"] == "credible" and status["round"] >= 3
        assert len(status["accuracy_per_round"]) == 2 and status["credibility"]
        # progress while waiting: the registration count and deadline, then the rounds
        alice_log = logs[0].read_text()
        assert re.search(r"registered 1/2; closes at block \d+ .*or when full", alice_log)
        assert re.search(r"round [12]/2: \w+ phase, \d/2 \w+, deadline in \d+ blocks",
                         alice_log + resumed)
    finally:
        chain.send_signal(signal.SIGINT)
        assert chain.wait(timeout=30) == 0

    # A restarted devnet: the same chain id and, deployed again by the same key, the same
    # ledger address. alice's results of the old chain must not show on the new one.
    chain = spawn("chain", "up", "--port", str(port), "--block-time", "1",
                  log=tmp_path / "chain2.log")
    try:
        wait_for(tmp_path / "chain2.log", "Ctrl-C stops the chain", chain, timeout=60)
        again = fppdl(
            "deploy", "--rpc-url", rpc, "--dev", "--min-parties", "2", "--max-parties", "2",
            "--benchmark-blocks", "60", "--request-blocks", "30", "--upload-blocks", "30",
            "--settle-blocks", "60", "--deployments-dir", tmp_path / "deployments",
        )
        assert again.returncode == 0 and "(code gone)" in again.stdout, again.stdout
        assert ADDRESS.findall(again.stdout)[0] == ledger
        fresh = json.loads(fppdl("party", "status", folders[0], "--json").stdout)
        assert fresh["status"] == "none" and fresh["ledger"] == ledger
        assert fresh["accuracy_per_round"] == [] and fresh["credibility"] == {}
        assert fresh["state"] != status["state"]
    finally:
        chain.send_signal(signal.SIGINT)
        assert chain.wait(timeout=30) == 0


def test_consortium_up_three_processes_ctrl_c_and_resume(tmp_path: Path) -> None:
    log = tmp_path / "consortium.log"
    run = tmp_path / "run"
    proc = spawn(
        "consortium", "up", "--parties", "3", "--rounds", "1", "--per-party", "120",
        "--test-size", "200", *TINY, "--kdf-cost", "10", "--phase-blocks", "60,30,30,60",
        "--out", run, log=log,
    )
    wait_for(log, "party2 (", proc)
    for i in range(3):  # all prepared (and cached it) and are registering
        wait_for(run / f"party{i}" / "party.log", "epoch 0:", proc, timeout=180)
    pids = [int(p) for p in re.findall(r"pid (\d+)", log.read_text())]
    assert len(pids) == 3
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    text = log.read_text()
    assert "error: interrupted" in text and "Traceback" not in text
    for pid in pids:  # every party process was stopped and reaped
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"party process {pid} survived the Ctrl-C")
    assert f"run `fppdl consortium up --out {run}` to resume" in text
    assert (run / "anvil-state.json").stat().st_size > 0

    # the same command with the run folder continues the run on the reloaded chain
    resumed = fppdl("consortium", "up", "--out", run, timeout=300)
    check_consortium_up_result(resumed, run)
    assert "resuming run" in resumed.stdout and "ledger deployed" not in resumed.stdout
    for i in range(3):
        party_log = (run / f"party{i}" / "party.log").read_text()
        assert party_log.count("standalone training") == 1  # the preparation was kept


def test_party_nodes_on_a_hardhat_node_with_interval_mining_and_unequal_rounds(
    shards: list[Path], tmp_path: Path
) -> None:
    """Two nodes on Hardhat mining a block a second (no automine); one was given 1 round, the
    other 2: the first runs to its end, the second says at once whom it waits for and why."""
    port = free_port()
    hardhat = subprocess.Popen(
        [str(HARDHAT), "node", "--hostname", "127.0.0.1", "--port", str(port)], cwd=REPO,
        env={**os.environ, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    rpc = f"http://127.0.0.1:{port}"
    try:
        w3 = Web3(Web3.HTTPProvider(rpc))
        deadline = time.monotonic() + 90
        while not _answers(w3):
            assert hardhat.poll() is None and time.monotonic() < deadline, "no hardhat node"
            time.sleep(0.5)
        # The harness makes it a real-clock chain; the parties never use a dev-only method.
        for method, params in (("evm_setAutomine", [False]), ("evm_setIntervalMining", [1000])):
            assert "error" not in w3.provider.make_request(method, params)  # type: ignore[arg-type]
        deployed = fppdl(
            "deploy", "--rpc-url", rpc, "--dev", "--min-parties", "2", "--max-parties", "2",
            "--benchmark-blocks", "30", "--request-blocks", "15", "--upload-blocks", "15",
            "--settle-blocks", "30", "--deployments-dir", tmp_path / "deployments",
        )
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert "each round at most 60 blocks" in deployed.stdout
        ledger = ADDRESS.findall(deployed.stdout)[0]
        folders = [tmp_path / "one-round", tmp_path / "two-rounds"]
        for folder, shard, rounds in zip(folders, shards, ("1", "2"), strict=False):
            init = fppdl(
                "party", "init", folder, "--data", shard, "--rpc-url", rpc, "--ledger", ledger,
                "--store", f"embedded:{tmp_path / 'store'}", "--rounds", rounds, *TINY,
                "--kdf-cost", "10", "--poll-seconds", "0.2", "--password-env", PASSWORD_ENV,
            )
            assert init.returncode == 0, init.stderr
            assert fppdl("chain", "fund", folder, "--rpc-url", rpc).returncode == 0
        logs = [tmp_path / "one.log", tmp_path / "two.log"]
        one, two = (spawn("party", "run", f, "--password-env", PASSWORD_ENV, log=log)
                    for f, log in zip(folders, logs, strict=True))
        try:
            assert one.wait(timeout=240) == 0, logs[0].read_text()
            assert "done: 1 rounds" in logs[0].read_text()
            wait_for(logs[1], "Every party must be given the same --rounds", two, timeout=120)
            hint = next(line for line in logs[1].read_text().splitlines()
                        if "same --rounds" in line)
            one_address = ADDRESS.findall(
                fppdl("party", "status", folders[0], "--json").stdout)[0]
            assert "round 2: waiting on 1 party" in hint and one_address in hint
            assert re.search(r"ends only at its deadline, block \d+, in \d+ blocks", hint)
        finally:
            two.send_signal(signal.SIGINT)
            assert two.wait(timeout=60) == 130
    finally:
        os.killpg(hardhat.pid, signal.SIGTERM)
        hardhat.wait(timeout=30)


def _answers(w3: Web3) -> bool:
    try:
        return bool(w3.eth.chain_id)
    except Exception:  # noqa: BLE001 - not listening yet
        return False
