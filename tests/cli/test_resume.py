"""`fppdl demo --real-clock`, interrupted in round 1 and resumed from its run folder.

The demo's Anvil mines a block every second and the scheduler never mines; after Ctrl-C the
chain's state is in the run folder, and the same command with ``--out`` continues the run on
the reloaded chain: nothing is trained, registered or paid twice, and the results cover every
round.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.cli.conftest import TINY, fppdl, spawn
from tests.cli.test_multiprocess import wait_for


def test_real_clock_demo_resumes_after_ctrl_c(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    log = tmp_path / "first.log"
    first = spawn("demo", "--parties", "2", "--rounds", "2", "--per-party", "120",
                  "--test-size", "200", *TINY, "--kdf-cost", "10", "--real-clock",
                  "--out", folder, log=log)
    wait_for(log, "epoch 1: request", first, timeout=240)
    first.send_signal(signal.SIGINT)
    assert first.wait(timeout=90) == 130
    text = log.read_text()
    assert f"error: interrupted; local state is saved, run `fppdl demo --out {folder}`" in text
    assert "Traceback" not in text
    assert "on the chain's own clock" in text
    assert (folder / "anvil-state.json").stat().st_size > 0
    run = json.loads((folder / "run.json").read_text())
    assert run["args"]["real_clock"] is True and run["ledger"]

    # a flag that contradicts the recorded run is refused, naming it
    refused = fppdl("demo", "--out", folder, "--rounds", "3")
    assert refused.returncode == 1 and "--rounds 3 (recorded: 2)" in refused.stderr

    resumed = fppdl("demo", "--out", folder, timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    out = resumed.stdout
    assert "resuming run folder" in out and f"resuming on ledger {run['ledger']}" in out
    assert "standalone training" not in out  # preparations came from the run folder
    assert "deploying" not in out
    results = json.loads((folder / "results.json").read_text())
    assert results["ledger"] == run["ledger"] and results["rounds"] == 2
    assert results["settings"]["real_clock"] is True
    for row in results["parties"]:
        assert len(row["accuracy_per_round"]) == 2 and not row["removed"]
        assert row["uploads"] == 2  # one per round to the other party, none twice
    assert results["points_conserved"] is True

    # a finished run prints its results again
    again = fppdl("demo", "--out", folder)
    assert again.returncode == 0 and "is complete" in again.stdout
