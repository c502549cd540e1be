"""`fppdl demo --adversary KIND` and the admission flags of `fppdl deploy`, at the entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from client.adversary import adversary_kinds
from client.chain.anvil import AnvilNode
from client.chain.ledger import Ledger, connect
from client.chain.records import Admission
from client.cli import main
from client.cli.parser import ADVERSARY_KINDS, build_parser
from tests.cli.conftest import PASSWORD, PASSWORD_ENV, TINY

FIELDS = {"kind", "outcome", "epoch", "honest_finished", "honest_removed", "points_conserved"}


def test_demo_offers_every_adversary_kind(capsys: pytest.CaptureFixture[str]) -> None:
    # The parser names the kinds itself (it must not import torch): they must agree.
    assert ADVERSARY_KINDS == adversary_kinds()
    parser = build_parser()
    assert parser.parse_args(["demo"]).adversary is None
    for kind in adversary_kinds():
        assert parser.parse_args(["demo", "--adversary", kind]).adversary == kind
    with pytest.raises(SystemExit) as refused:
        parser.parse_args(["demo", "--adversary", "gremlin"])
    assert refused.value.code == 2
    assert "invalid choice: 'gremlin'" in capsys.readouterr().err


def test_demo_with_a_junk_key_attacker(
    chain: AnvilNode, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The cheapest kind, at the tiny settings of the CLI suite, through the entry point's main
    # in process (a subprocess would add its imports).
    folder = tmp_path / "run"
    code = main(["demo", "--parties", "3", "--rounds", "1", "--per-party", "120",
                 "--test-size", "200", *TINY, "--kdf-cost", "10", "--rpc-url", chain.rpc_url,
                 "--out", str(folder), "--adversary", "junk-key"])
    printed = capsys.readouterr()
    assert code == 0, printed.out[-3000:] + printed.err[-3000:]
    block = json.loads((folder / "results.json").read_text())["adversary"]
    assert FIELDS <= set(block)
    assert block["kind"] == "junk-key"
    # The ledger checks the key (the clients would report it if one got through).
    assert (block["outcome"], block["refused_with"]) == ("refused", "WeakEncryptionKey"), block
    assert block["honest_finished"] is True and block["honest_removed"] == 0
    assert block["points_conserved"] is True
    assert "adversary junk-key at 0x" in printed.out + printed.err


def _one_line_error(capsys: pytest.CaptureFixture[str], code: int, *needles: str) -> str:
    """The user-error shape of ``assert_one_line_error``, for a command run in process."""
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 1 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def test_deploy_with_an_allowlist_refuses_an_unlisted_registrant(
    chain: AnvilNode, shards: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # In process (the entry point's own main): a subprocess per command is slow here.
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    listed = [Account.create().address for _ in range(3)]
    code = main(["deploy", "--dev", "--rpc-url", chain.rpc_url, "--deployments-dir",
                 str(tmp_path / "deployments"), "--min-parties", "3", "--max-parties", "4",
                 "--admission", "allowlist", *(f for a in listed for f in ("--allowlist", a)),
                 "--registration-deposit", "1000"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "admission: allowlist, only the 3 allowlisted addresses; a deposit of 1000 wei" in out
    ledger_line = next(ln for ln in out.splitlines() if ln.startswith("the parties' settings"))
    address = ledger_line.split("--ledger ")[1].split()[0]
    params = Ledger(connect(chain.rpc_url), address).parameters()
    assert params.admission is Admission.ALLOWLIST and set(params.allowlist) == set(listed)
    assert params.registration_deposit == 1000

    # A party that is not on the list: its registration is one line naming the refusal.
    party = tmp_path / "outsider"
    assert main(["party", "init", str(party), "--data", str(shards[0]), "--rpc-url",
                 chain.rpc_url, "--ledger", address, "--store",
                 f"embedded:{tmp_path / 'store'}", "--rounds", "100", *TINY, "--kdf-cost", "10",
                 "--password-env", PASSWORD_ENV]) == 0
    assert main(["chain", "fund", str(party), "--rpc-url", chain.rpc_url]) == 0
    capsys.readouterr()
    code = main(["party", "register", str(party), "--password-env", PASSWORD_ENV])
    _one_line_error(capsys, code, "NotAdmitted")


@pytest.mark.parametrize(("flags", "needle"), [
    (["--admission", "allowlist"], "--admission allowlist needs at least one --allowlist"),
    (["--admission", "vote"], "--admission vote needs at least one --allowlist"),
    (["--allowlist", "0x" + "11" * 20], "--allowlist needs --admission allowlist or vote"),
    (["--admission", "allowlist", "--allowlist", "0xnot"], "is not an Ethereum address"),
    (["--admission", "allowlist", "--allowlist", "0x" + "11" * 20],
     "registration could never close"),
    (["--admission", "vote", "--allowlist", "0x" + "11" * 20, "--admission-quorum", "3/2"],
     "--admission-quorum needs NUM/DEN"),
])
def test_deploy_admission_contradictions_are_one_line_errors(
    chain: AnvilNode, tmp_path: Path, flags: list[str], needle: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # In process: the checks come before any transaction, and a subprocess each is slow.
    code = main(["deploy", "--dev", "--rpc-url", chain.rpc_url, "--deployments-dir",
                 str(tmp_path), "--min-parties", "2", "--max-parties", "3", *flags])
    _one_line_error(capsys, code, needle)
    assert not list(tmp_path.glob("*.json"))  # nothing deployed, nothing recorded
