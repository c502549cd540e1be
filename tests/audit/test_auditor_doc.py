"""docs/auditor.md runs as written, on Anvil and on a Hardhat node.

Every ``bash`` block of the guide runs in order in one ``bash -euo pipefail`` script; only the
three values of its first block (node, ledger, store) are replaced by the test's. On Anvil it
audits the suite's honest consortium; on Hardhat (whose ``eth_call`` refuses ``cast call``'s
duplicated ``input``/``data``) a small consortium played here. The script fails on any
command that fails: ``fppdl audit`` exiting 3, a ``cast`` call refused, the replayed upload
hash chain differing from ``uploadAccumulator``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from client.chain.ledger import Ledger, connect
from client.chain.records import LedgerParams
from storage import EmbeddedStore

from .conftest import KEY, MODEL_SIZE, Run, play_round

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "auditor.md"
HARDHAT = REPO / "node_modules" / ".bin" / "hardhat"
TOOLS = (REPO / ".venv" / "bin", REPO / "node_modules" / "@foundry-rs" / "cast-linux-amd64" / "bin")
_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)
_EXPORT = re.compile(r"^export (RPC|L|STORE)=\S+", re.M)


def walkthrough() -> str:
    """Return the guide's bash blocks, in order, as one script."""
    blocks = _BLOCK.findall(GUIDE.read_text())
    assert len(blocks) >= 5 and _EXPORT.search(blocks[0]), "the guide's first block changed"
    return "\n".join(blocks)


def run_guide(rpc: str, ledger: str, store: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the guide against ``ledger``; return the finished process."""
    assert shutil.which("jq"), "jq is missing (Debian package jq): the guide's recipes use it"
    values = {"RPC": rpc, "L": ledger, "STORE": store}
    script = _EXPORT.sub(lambda m: f"export {m.group(1)}={values[m.group(1)]}", walkthrough())
    env = {**os.environ, "PATH": os.pathsep.join([*map(str, TOOLS), os.environ["PATH"]]),
           "OMP_NUM_THREADS": "1"}
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def check_output(proc: subprocess.CompletedProcess[str], cwd: Path) -> None:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "verdict: clean" in proc.stdout and "exit code 0" in proc.stdout
    assert (cwd / "audit-report" / "audit.html").is_file()
    assert '"verdict": "clean"' in proc.stdout  # the jq summary of --json
    assert "duplicate field" not in proc.stderr
    # The decoded logs: one "block N tx 0x..." header per log, decoded fields after it.
    assert re.search(r"^block \d+ tx 0x[0-9a-f]{64}$", proc.stdout, re.M)


def test_guide_runs_on_anvil(honest_run: Run, tmp_path: Path) -> None:
    proc = run_guide(honest_run.node.rpc_url, honest_run.ledger.address,
                     f"embedded:{honest_run.store_dir}", tmp_path)
    check_output(proc, tmp_path)


@pytest.fixture(scope="module")
def hardhat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """A Hardhat node with a 3-party ledger past one round; yield (rpc, ledger, store dir)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [str(HARDHAT), "node", "--hostname", "127.0.0.1", "--port", str(port)], cwd=REPO,
        env={**os.environ, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        keys: list[str] = []
        deadline = time.monotonic() + 90
        assert proc.stdout is not None
        while len(keys) < 4 and time.monotonic() < deadline:
            keys += re.findall(r"Private Key: (0x[0-9a-f]{64})", proc.stdout.readline())
        assert len(keys) == 4, "the hardhat node did not print its dev keys"
        rpc = f"http://127.0.0.1:{port}"
        w3 = connect(rpc)
        accounts = [Account.from_key(k) for k in keys]
        params = LedgerParams(model_size=MODEL_SIZE, min_parties=3, max_parties=3,
                              registration_deadline=int(w3.eth.block_number) + 50)
        base, _ = Ledger.deploy(w3, accounts[0], params)
        ledgers = [base.with_account(a) for a in accounts[1:]]
        folder = tmp_path_factory.mktemp("hardhat")
        store = EmbeddedStore(folder / "store")
        for ledger in ledgers:
            ledger.register(KEY, 600, 60, store.put(os.urandom(256)).commitment)
        ledgers[0].close_registration()
        for ledger in ledgers:  # benchmarking ends by everyone's vote
            ledger.close_round()
        play_round(ledgers, store, 1, [0, 1, 2], {})
        for ledger in ledgers:
            ledger.close_round()
        store.close()
        yield rpc, base.address, folder / "store"
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


def test_guide_runs_on_hardhat(hardhat: tuple[str, str, Path], tmp_path: Path) -> None:
    rpc, ledger, store = hardhat
    proc = run_guide(rpc, ledger, f"embedded:{store}", tmp_path)
    check_output(proc, tmp_path)
