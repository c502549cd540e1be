"""Helpers for the CLI suite: every test drives the real entry point in a subprocess.

Tiny settings keep the suite within its budget: 120-150 examples per party, a 1-epoch,
width-8 DPGAN, one standalone epoch, 1-2 rounds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from client.chain.anvil import AnvilNode, start_anvil

REPO = Path(__file__).resolve().parents[2]
CAST = REPO / "node_modules" / "@foundry-rs" / "cast-linux-amd64" / "bin" / "cast"
PASSWORD_ENV = "FPPDL_TEST_PASSWORD"
PASSWORD = "correct horse battery staple"
TINY = ["--pretrain-epochs", "1", "--dpgan-epochs", "1", "--dpgan-width", "8"]


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI subprocess (single-threaded torch: the machine is shared)."""
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", PASSWORD_ENV: PASSWORD})
    env.update(extra)
    return env


def fppdl(*args: str | Path, timeout: float = 240, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m client.cli ARGS`` and capture its output (stdin is not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "client.cli", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=env or cli_env(),
        cwd=cwd or REPO, stdin=subprocess.DEVNULL, check=False,
    )


def spawn(*args: str | Path, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[Any]:
    """Start ``python -m client.cli ARGS`` in the background, output to ``log``."""
    handle = log.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "client.cli", *map(str, args)], stdout=handle,
        stderr=subprocess.STDOUT, env=env or cli_env(), cwd=REPO, stdin=subprocess.DEVNULL,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """A user error: exit 1, no traceback, one ``error:`` line containing every needle."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture(scope="session")
def shards(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three MNIST shards ('different' setting, 120 examples each) cut by `fppdl data split`."""
    out = tmp_path_factory.mktemp("shards")
    result = fppdl("data", "split", "--parties", "3", "--per-party", "120", "--test-size",
                   "200", "--out", out)
    assert result.returncode == 0, result.stderr
    return [out / f"party{i}.npz" for i in range(3)]


@pytest.fixture(scope="module")
def chain() -> Iterator[AnvilNode]:
    """A private Anvil for one test module (automine)."""
    node = start_anvil()
    try:
        yield node
    finally:
        node.stop()


@dataclass
class Demo:
    """A finished tiny demo whose chain is still running."""

    folder: Path
    rpc_url: str
    ledger: str
    results: dict[str, Any]
    result: subprocess.CompletedProcess[str]
