"""What an operator meets first: tools on PATH, help texts with defaults, settings from the
environment, `deploy` refusing other settings, and no dev-only RPC in the party's code."""

from __future__ import annotations

import argparse
import ast
import json
import re
import signal
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from eth_account import Account

from client.access import NodeError
from client.chain.anvil import AnvilNode
from client.chain.ledger import Ledger, connect
from client.chain.records import LedgerParams
from client.cli.parser import GIVEN, build_parser
from client.cli.party_cmds import _updated_settings, cmd_init
from client.compose import PartySettings, model_size
from client.node import (
    NodeSettings,
    SettingsConflict,
    load_settings,
    save_settings,
    settings_from_ledger,
)
from client.protocol.settings import ConsortiumSettings
from tests.cli.conftest import PASSWORD_ENV, REPO, assert_one_line_error, cli_env, fppdl

ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
#: JSON-RPC methods only a devnet answers (test harnesses may use them, a party never).
DEV_ONLY_RPC = re.compile(r"\b(anvil|evm|hardhat)_[A-Za-z]+")
#: Modules a party node runs: they must work against any EVM node.
PARTY_CODE = [*(REPO / "client" / "protocol").glob("*.py"), REPO / "client" / "node.py",
              REPO / "client" / "progress.py", REPO / "client" / "cli" / "party_cmds.py"]


def test_activate_puts_fppdl_anvil_and_cast_on_path() -> None:
    # A fresh shell: only the system's PATH, then what `source .venv/bin/activate` adds.
    result = subprocess.run(
        ["bash", "-c", "source .venv/bin/activate && for t in fppdl anvil cast; do "
                       "command -v $t; done && anvil --version && cast --version"],
        cwd=REPO, env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(REPO)},
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    found = result.stdout.splitlines()[:3]
    assert found == [str(REPO / ".venv" / "bin" / t) for t in ("fppdl", "anvil", "cast")]
    assert "anvil Version" in result.stdout


def test_readme_says_to_activate_once_at_the_top() -> None:
    lines = (REPO / "README.md").read_text().splitlines()
    hits = [i for i, line in enumerate(lines) if "source .venv/bin/activate" in line]
    assert len(hits) == 1 and hits[0] < 30, hits


def _parsers(parser: argparse.ArgumentParser, name: str = "fppdl"):  # type: ignore[no-untyped-def]
    yield name, parser
    for action in parser._actions:  # noqa: SLF001 - walking argparse's own tree
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


def test_every_flag_has_help_and_shows_its_default() -> None:
    missing, no_default = [], []
    for name, parser in _parsers(build_parser()):
        assert isinstance(parser.formatter_class(prog="x"), argparse.ArgumentDefaultsHelpFormatter)
        text = parser.format_help()
        for action in parser._actions:  # noqa: SLF001
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):  # noqa: SLF001
                continue
            flag = "/".join(action.option_strings) or action.dest
            if not action.help:
                missing.append(f"{name} {flag}")
            elif action.option_strings and not action.required and "%(default)" not in str(
                action.help
            ):
                # the formatter appends "(default: ...)" to this flag's help
                if f"(default: {action.default})" not in " ".join(text.split()):
                    no_default.append(f"{name} {flag}")
    assert not missing, f"flags without help: {missing}"
    assert not no_default, f"flags whose --help shows no default: {no_default}"


def test_verbosity_flags_and_clock_time(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from client.cli import main
    from client.cli.output import Reporter, set_verbosity

    try:
        say = Reporter("alice: ", rich=False)
        set_verbosity(0)
        say("registered 1/2")
        set_verbosity(-1)  # -q
        say("not shown")
        printed = capsys.readouterr().out
        assert re.fullmatch(r"\d\d:\d\d:\d\d alice: registered 1/2\n", printed), printed
        # -v raises fppdl's own loggers to INFO (the libraries' stay at WARNING)
        assert main(["-v", "inspect", "--rpc-url", "http://127.0.0.1:9"]) == 1
        assert logging.getLogger("client").level == logging.INFO
        assert logging.getLogger("web3").getEffectiveLevel() >= logging.WARNING
        assert main(["-q", "inspect", "--rpc-url", "http://127.0.0.1:9"]) == 1
        assert "error: no JSON-RPC node answers" in capsys.readouterr().err  # errors still
    finally:
        set_verbosity(0)
        logging.getLogger("client").setLevel(logging.NOTSET)


def test_party_code_uses_no_dev_only_rpc() -> None:
    for path in PARTY_CODE:
        source = path.read_text()
        assert not DEV_ONLY_RPC.search(source), f"{path} names a dev-only RPC method"
        tree = ast.parse(source)
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for module in names:
                assert module not in ("client.chain.devnet", "client.chain.anvil"), (
                    f"{path} imports {module}"
                )


def test_deployment_comparison_ignores_the_absolute_deadline() -> None:
    recorded = LedgerParams(model_size=10, registration_blocks=1000, registration_deadline=1005)
    # the same settings one hour later: another absolute deadline, the same length
    again = replace(recorded, registration_deadline=5005)
    assert recorded.differences(again) == {}
    changed = replace(again, request_blocks=30, max_parties=4)
    assert recorded.differences(changed) == {
        "request_blocks": (recorded.request_blocks, 30), "max_parties": (50, 4)
    }
    shorter = replace(again, registration_blocks=200)
    assert recorded.differences(shorter) == {"registration_blocks": (1000, 200)}


def test_deploy_with_other_settings_names_them_and_fails_unless_forced(
    chain: AnvilNode, tmp_path: Path
) -> None:
    base = ["deploy", "--rpc-url", chain.rpc_url, "--dev", "--max-parties", "3",
            "--deployments-dir", tmp_path]
    first = fppdl(*base)
    assert first.returncode == 0, first.stderr
    ledger = ADDRESS.findall(first.stdout)[0]
    assert re.search(r"registration: 3 to 3 parties; closes at block \d+, in \d+ blocks",
                     first.stdout), first.stdout
    assert "each round at most 1200 blocks" in first.stdout
    # the same settings blocks later: the recorded ledger, exit 0
    same = fppdl(*base)
    assert same.returncode == 0 and "skipped" in same.stdout and "same settings" in same.stdout
    assert ADDRESS.findall(same.stdout)[0] == ledger
    # other settings: named, exit 1, nothing deployed
    other = fppdl(*base, "--request-blocks", "30", "--max-parties", "4")
    line = assert_one_line_error(other, ledger, "--request-blocks 30 (recorded: 100)",
                                 "--max-parties 4 (recorded: 3)", "--force")
    assert "registration" not in line
    record = json.loads((tmp_path / "31337.json").read_text())
    assert record["steps"]["001_deploy_ledger"]["address"] == ledger
    forced = fppdl(*base, "--request-blocks", "30", "--max-parties", "4", "--force")
    assert forced.returncode == 0, forced.stderr
    assert ADDRESS.findall(forced.stdout)[0] != ledger
    # --export prints shell assignments on stdout only
    exported = fppdl(*base, "--request-blocks", "30", "--max-parties", "4", "--export")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.splitlines() == [
        f"export FPPDL_RPC_URL={chain.rpc_url}",
        f"export FPPDL_LEDGER={ADDRESS.findall(forced.stdout)[0]}",
    ]


def test_settings_from_the_environment(chain: AnvilNode, tmp_path: Path) -> None:
    env = cli_env(FPPDL_RPC_URL=chain.rpc_url)
    deployed = fppdl("deploy", "--dev", "--deployments-dir", tmp_path, env=env)
    assert deployed.returncode == 0, deployed.stderr
    ledger = ADDRESS.findall(deployed.stdout)[0]
    env["FPPDL_LEDGER"] = ledger
    view = fppdl("inspect", "--json", env=env)
    assert view.returncode == 0, view.stderr
    assert json.loads(view.stdout)["ledger"] == ledger
    status = fppdl("consortium", "status", "--json", env=env)
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["ledger"] == ledger and data["phase"] == "registration"
    assert data["summary"].startswith("registered 0/50; closes at block")
    unset = fppdl("inspect", env=cli_env())
    assert_one_line_error(unset, "FPPDL_RPC_URL")


@pytest.mark.parametrize("command", [["party", "status"], ["consortium", "status"],
                                     ["inspect"], ["party", "export"]])
def test_read_commands_offer_json(command: list[str]) -> None:
    assert "--json" in fppdl(*command, "--help").stdout


@pytest.mark.daemon
def test_ipfs_up_serves_an_offline_store_and_stops_cleanly(tmp_path: Path) -> None:
    from storage import open_store
    from tests.cli.conftest import spawn
    from tests.cli.test_multiprocess import wait_for

    repo = tmp_path / "ipfs-repo"
    stored = None
    for start in range(2):  # the second start reuses the repository and what it holds
        log = tmp_path / f"ipfs{start}.log"
        proc = spawn("ipfs", "up", "--repo", repo, "--port", "0", log=log)
        try:
            wait_for(log, "Ctrl-C stops the daemon", proc, timeout=120)
            [api] = re.findall(r"API at (\S+):", log.read_text())
            assert api.startswith("/ip4/127.0.0.1/tcp/")
            store = open_store(api)
            if stored is None:
                stored = store.put(b"an operator's first object")
            assert store.get(stored) == b"an operator's first object"
            store.close()
        finally:
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=60)
        assert code == 0 and "stopping the IPFS daemon" in log.read_text()
        assert "Traceback" not in log.read_text()


def _ledger_with_settings(chain: AnvilNode, shared: ConsortiumSettings) -> str:
    w3 = connect(chain.rpc_url)
    params = LedgerParams(model_size=model_size(shared.model), min_parties=2, max_parties=2,
                          min_uploaders=1, rounds=shared.rounds, settings=shared.to_bytes())
    ledger, _ = Ledger.deploy(w3, Account.from_key(chain.dev_private_keys[0]), params)
    return ledger.address


def test_party_init_takes_the_consortium_settings_from_the_ledger(
    chain: AnvilNode, shards: list[Path], tmp_path: Path
) -> None:
    shared = PartySettings(rounds=4, eval_samples=50, init_seed=7,
                           aggregation="average").consortium()
    ledger = _ledger_with_settings(chain, shared)
    common = ["--data", shards[0], "--rpc-url", chain.rpc_url, "--ledger", ledger,
              "--kdf-cost", "10", "--password-env", PASSWORD_ENV]
    # no shared flag repeated: party.json holds the ledger's values
    init = fppdl("party", "init", tmp_path / "a", *common, "--confirmations", "2")
    assert init.returncode == 0, init.stderr
    assert "4 rounds" in init.stdout and "rule average" in init.stdout
    saved = json.loads((tmp_path / "a" / "party.json").read_text())
    assert saved["confirmations"] == 2
    assert PartySettings.from_json(saved["party"]).consortium() == shared
    # a flag that contradicts names the setting, and no key is made
    wrong = fppdl("party", "init", tmp_path / "c", *common, "--rounds", "7",
                  "--aggregation", "average", "--eval-samples", "10")
    assert_one_line_error(wrong, "--rounds 7 (the consortium's rounds is 4)",
                          "--eval-samples 10 (the consortium's eval_samples is 50)")
    assert "--aggregation" not in wrong.stderr
    assert not (tmp_path / "c" / "signing-key.json").exists()


def test_init_flags_against_the_ledger(
    chain: AnvilNode, shards: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = PartySettings(rounds=4, init_seed=7).consortium()
    handle = Ledger(connect(chain.rpc_url), _ledger_with_settings(chain, shared))
    # flags given (per the parser) that agree are fine; defaults never conflict
    args = build_parser().parse_args(["party", "init", "x", "--data", "d", "--rounds", "4",
                                      "--init-seed", "7", "--eval-samples", "100"])
    assert getattr(args, GIVEN) == {"rounds", "init_seed", "eval_samples"}
    mine = PartySettings(rounds=4, init_seed=7, eval_samples=100, aggregation="average")
    adopted = settings_from_ledger(mine, handle, {"rounds", "init_seed"})
    assert adopted.consortium() == shared  # the rule not given: the ledger's
    with pytest.raises(SettingsConflict, match="--init-seed 8"):
        settings_from_ledger(mine.with_(init_seed=8), handle, {"init_seed"})
    with pytest.raises(NodeError, match="confirmations must be between 0 and 64"):
        NodeSettings(name="x", data="d", confirmations=65)
    monkeypatch.delenv("FPPDL_RPC_URL", raising=False)
    no_rpc = build_parser().parse_args(["party", "init", str(tmp_path / "d"), "--data",
                                        str(shards[0]), "--ledger", handle.address])
    with pytest.raises(NodeError, match="--ledger needs --rpc-url"):
        cmd_init(no_rpc)
    assert not (tmp_path / "d").exists()


def test_ledger_without_settings_fixes_rounds_and_model(chain: AnvilNode) -> None:
    w3 = connect(chain.rpc_url)
    params = LedgerParams(model_size=model_size("cnn"), min_parties=2, max_parties=2,
                          min_uploaders=1, rounds=5)
    handle, _ = Ledger.deploy(w3, Account.from_key(chain.dev_private_keys[0]), params)
    adopted = settings_from_ledger(PartySettings(rounds=3), handle)
    assert (adopted.model, adopted.rounds) == ("cnn", 5)  # neither flag given: the ledger's
    with pytest.raises(SettingsConflict, match="--rounds 6: .* runs 5 rounds"):
        settings_from_ledger(PartySettings(rounds=6), handle, {"rounds"})
    with pytest.raises(SettingsConflict, match=f"--model mlp has .*models of {params.model_size}"):
        settings_from_ledger(PartySettings(model="mlp"), handle, {"model"})


def test_party_run_confirmations_are_saved_and_used(
    shards: list[Path], tmp_path: Path
) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    save_settings(folder, NodeSettings(name="p", data=str(shards[0])))
    args = build_parser().parse_args(["party", "run", str(folder), "--confirmations", "3"])
    settings = _updated_settings(folder, args)
    assert settings.confirmations == 3 and settings.tx_policy().confirmations == 3
    assert load_settings(folder).confirmations == 3  # saved in party.json
    again = build_parser().parse_args(["party", "run", str(folder)])
    assert _updated_settings(folder, again).confirmations == 3  # kept when not given
