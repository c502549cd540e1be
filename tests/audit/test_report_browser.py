"""The HTML report in a real browser: headless Chromium renders it offline, scripts included.

``make setup`` installs Debian's ``chromium`` when it is missing, so this test never skips:
a machine without the browser fails it. The page sets ``#render-status[data-status="ok"]``
only when its inline script drew every chart without an exception.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from client.audit import audit
from storage import EmbeddedStore

from .conftest import Run, object_path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Root needs --no-sandbox; the rest keeps the browser from reaching any network service.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-extensions", "--disable-default-apps"]


def chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert Path(CHROMIUM).is_file(), "chromium is missing: `make setup` installs it"
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def dump_dom(page: Path, tmp: Path) -> str:
    proc = chromium(tmp, "--dump-dom", page.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def attribute(dom: str, element_id: str, name: str) -> str:
    match = re.search(rf'<[^>]*id="{element_id}"[^>]*>', dom)
    assert match, f"no #{element_id} in the rendered page"
    value = re.search(rf'{name}="([^"]*)"', match.group(0))
    return value.group(1) if value else ""


def chart_count(dom: str, chart: str, name: str) -> int:
    match = re.search(rf'id="{chart}"><svg[^>]*{name}="(\d+)"', dom)
    assert match, f"{chart} has no drawn svg"
    return int(match.group(1))


@pytest.fixture(scope="module")
def reports(honest_run: Run, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("reports")
    clean = audit(honest_run.ledger, EmbeddedStore(honest_run.store_dir), honest_run.from_block,
                  out / "clean", to_block=honest_run.last_block,
                  deployment=honest_run.deployment_file)
    assert clean.clean and clean.report_path is not None
    store = honest_run.store_copy(out / "store")
    a, b = honest_run.addresses[:2]
    object_path(out / "store", honest_run.envelopes[(2, a, b)]).unlink()
    dirty = audit(honest_run.ledger, store, honest_run.from_block, out / "dirty",
                  to_block=honest_run.last_block)
    assert not dirty.clean and dirty.report_path is not None
    return {"clean": clean.report_path, "dirty": dirty.report_path}


def test_report_is_one_offline_file(reports: dict[str, Path]) -> None:
    page = reports["clean"].read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "default-src 'none'" in page
    assert {p.name for p in reports["clean"].parent.iterdir()} == {"audit.html", "audit.json"}


def test_clean_report_renders_in_chromium(reports: dict[str, Path], honest_run: Run,
                                          tmp_path: Path) -> None:
    dom = dump_dom(reports["clean"], tmp_path)
    assert attribute(dom, "render-status", "data-status") == "ok", dom[:3000]
    assert "No violation" in dom and "Summary" in dom
    assert honest_run.addresses[3] in dom  # the per-party table
    # Round 1: earned and paid by 4 parties, plus the claim's deposit; round 2: 3 parties.
    assert chart_count(dom, "chart-flows", "data-bars") == 4 * 2 + 2 + 3 * 2
    assert chart_count(dom, "chart-balances", "data-lines") == 4
    assert chart_count(dom, "chart-timeline", "data-marks") >= 3 + 3 + 1 + 2
    # deployment, registration, benchmarking, rounds 1 and 2, after the end (withdrawals)
    assert chart_count(dom, "chart-gas", "data-bars") == 6
    shot = tmp_path / "report.png"
    proc = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,3000",
                    reports["clean"].as_uri())
    assert proc.returncode == 0 and shot.stat().st_size > 20_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keep = os.environ.get("FPPDL_AUDIT_SCREENSHOT")
    if keep:  # for a look by hand: FPPDL_AUDIT_SCREENSHOT=/path/report.png
        shutil.copy(shot, keep)


def test_report_with_violations_shows_them(reports: dict[str, Path], honest_run: Run,
                                           tmp_path: Path) -> None:
    dom = dump_dom(reports["dirty"], tmp_path)
    assert attribute(dom, "render-status", "data-status") == "ok"
    assert "1 violation(s) found" in dom and "content_missing" in dom
    upload = honest_run.ledger.uploads(2, honest_run.addresses[1])[0]
    assert upload.meta.tx_hash in dom


def test_a_script_error_is_visible(reports: dict[str, Path], tmp_path: Path) -> None:
    # The marker proves the script ran: a page whose data cannot be parsed says so.
    page = reports["clean"].read_text()
    broken = re.sub(r'(<script type="application/json" id="audit-data">)[^<]*', r"\1{", page)
    target = tmp_path / "broken.html"
    target.write_text(broken)
    dom = dump_dom(target, tmp_path)
    assert attribute(dom, "render-status", "data-status") == "error"
    assert "script error" in dom
