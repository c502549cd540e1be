"""Separate party processes that share only a chain and a store folder.

`fppdl consortium up` does it in one command; the walkthrough does it by hand the way a party
joining with its own node would (chain up, deploy, init, fund, register, run, status), with a
Ctrl-C in the middle of a round and a resumed run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from client.chain.anvil import free_port
from tests.cli.conftest import PASSWORD_ENV, TINY, fppdl, spawn

ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def wait_for(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.is_file() and text in log.read_text(errors="replace"):
            return
        assert proc.poll() is None, f"process ended early:\n{log.read_text(errors='replace')}"
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not in {log} after {timeout}s:\n{log.read_text()}")


def test_consortium_up_three_processes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = fppdl(
        "consortium", "up", "--parties", "3", "--rounds", "1", "--per-party", "120",
        "--test-size", "200", *TINY, "--kdf-cost", "10", "--phase-blocks", "60,30,30,60",
        "--out", out, timeout=300,
    )
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
    finally:
        chain.send_signal(signal.SIGINT)
        assert chain.wait(timeout=30) == 0


def test_consortium_up_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    log = tmp_path / "consortium.log"
    proc = spawn(
        "consortium", "up", "--parties", "2", "--rounds", "1", "--per-party", "120",
        "--test-size", "200", *TINY, "--kdf-cost", "10", "--out", tmp_path / "run", log=log,
    )
    wait_for(log, "party1 (", proc)
    pids = [int(p) for p in re.findall(r"pid (\d+)", log.read_text())]
    assert len(pids) == 2
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
