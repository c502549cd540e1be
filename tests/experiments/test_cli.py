"""``fppdl experiment`` through the real entry point (subprocesses; no run here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _fppdl(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "client.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


def test_parser_stays_light() -> None:
    code = ("import sys; from client.cli.parser import build_parser; "
            "build_parser().parse_args(['experiment', 'run', 'x.toml', '--seeds', '0-4']); "
            "print(sorted(m for m in ('torch', 'web3', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert out.strip() == "[]"


def test_list_shows_every_config() -> None:
    result = _fppdl("experiment", "list")
    assert result.returncode == 0, result.stderr
    for name in ("p4-mlp-different.toml", "p15-mlp-imbalanced.toml", "p50-cnn-different.toml"):
        assert name in result.stdout


def test_a_bad_config_is_one_error_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\n[training]\nepochs = 3\n')
    result = _fppdl("experiment", "run", str(bad), "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "unknown key [training] epochs" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    missing = _fppdl("experiment", "report", str(tmp_path))
    assert missing.returncode == 1 and "neither a run folder" in missing.stderr
