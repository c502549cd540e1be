"""The tiny experiment end to end: every framework, the real protocol, the run folder."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from hexbytes import HexBytes

from client.chain.ledger import connect
from client.experiments import runner
from client.experiments.config import CONTRIBUTIONS, ExperimentConfigError
from client.experiments.frameworks import Chain
from client.experiments.plots import PLOT_FILES
from client.experiments.runner import RunFolderError, run_experiment, seed_path
from client.experiments.summary import SUMMARY_FRAMEWORKS
from client.protocol.aggregation import DEFAULT_RULE
from tests.experiments.conftest import tiny_config

Run = tuple[Path, Path, dict[str, Any]]
CONTRACT_KEYS = {"best_mean", "worst_mean", "gain_mean", "gain_worst_mean", "gain_min",
                 "pearson", "pearson_std", "removed_honest"}


def _strict(path: Path) -> Any:
    def refuse(token: str) -> None:
        raise AssertionError(f"{path} holds {token}")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_run_folder_holds_seed_json_summary_table_and_plots(tiny_run: Run) -> None:
    out, _, summary = tiny_run
    assert _strict(out / "summary.json") == summary
    assert summary["experiment"] == "tiny" and summary["run"] == out.name
    assert out.name == f"tiny-{DEFAULT_RULE}"  # the tiny config takes the default rule
    assert summary["seeds"] == [0]
    config = summary["config"]
    assert (config["parties"], config["setting"], config["model"], config["rounds"]) == (
        3, "different", "mlp", 2)
    # the names the results contract (issue 12) gives other tools, spelled out
    assert tuple(summary["frameworks"]) == SUMMARY_FRAMEWORKS == (
        "dppdl", "standalone", "standalone_pre", "centralized", "dssgd", "fedavg", "cgsv")
    assert set(CONTRIBUTIONS) == {"sharing_level", "data_size", "standalone_accuracy"}
    for name, stats in summary["frameworks"].items():
        assert CONTRACT_KEYS <= set(stats), name
        assert set(stats["pearson"]) == set(CONTRIBUTIONS) == set(stats["pearson_std"])
        for key in ("best_mean", "worst_mean"):
            assert 0.0 <= stats[key] <= 1.0, (name, key)
        # The different setting gives every party 100 images: data-size fairness is undefined.
        assert stats["pearson"]["data_size"] is None
    frameworks = summary["frameworks"]
    assert frameworks["standalone"]["gain_mean"] == 0.0
    assert frameworks["centralized"]["pearson"]["sharing_level"] is None  # one model for all
    assert frameworks["cgsv"]["beta"] in (0.5, 2.0)
    assert set(summary["cgsv_sweep"]) == {"0.5", "2"}
    table = (out / "summary.md").read_text()
    assert "| DPPDL (this protocol) |" in table and "CGSV (beta" in table
    for name in PLOT_FILES:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert summary["timings"]["total_seconds"] > 0


def test_seed_json_has_every_framework_per_party(tiny_run: Run) -> None:
    out, _, _ = tiny_run
    doc = _strict(seed_path(out, 0))
    assert doc["aligned"] is True and doc["config_hash"]
    sizes, levels = doc["partition"]["sizes"], doc["partition"]["levels"]
    assert sizes == [100, 100, 100] and len(set(levels)) == 3
    for name, result in doc["frameworks"].items():
        assert len(result["parties"]) == 3, name
        for row in result["parties"]:
            assert 0.0 <= row["final_accuracy"] <= 1.0
            assert len(row["accuracy_per_round"]) <= 2
    pre = doc["frameworks"]["standalone"]["pre_accuracies"]
    assert pre == [p["standalone_accuracy"] for p in doc["parties"]]


def test_dppdl_numbers_come_from_the_protocol_on_the_chain(tiny_run: Run, chain: Chain) -> None:
    out, _, _ = tiny_run
    dppdl = _strict(seed_path(out, 0))["frameworks"]["dppdl"]
    w3 = connect(chain.rpc_url)
    assert len(w3.eth.get_code(dppdl["ledger"])) > 0  # a deployed contract, not a label
    logs = w3.eth.get_logs({"address": dppdl["ledger"], "fromBlock": 0, "toBlock": "latest"})
    assert dppdl["transactions"] == len({HexBytes(log["transactionHash"]) for log in logs}) > 0
    assert dppdl["gas"] > 0 and dppdl["points_conserved"] is True
    kept = [row for row in dppdl["parties"] if not row["removed"]]
    assert kept, "every party was removed"
    for row in kept:
        assert row["accuracy_per_round"][-1] == row["final_accuracy"]
        assert row["uploads"] + row["downloads"] > 0
        # A party that bought nothing says why: fewer credible uploaders than the ledger's
        # minUploaders (at these tiny settings a peer's credibility can fall to 0).
        assert row["downloads"] > 0 or row["events"].get("request_too_small", 0) > 0
        assert [r["round"] for r in row["per_round"]] == [1, 2]
    # every delivery one party paid for is an upload another party made
    assert sum(r["downloads"] for r in kept) == sum(r["uploads"] for r in kept) > 0
    assert sum(r["points_earned"] for r in dppdl["parties"]) == sum(
        r["points_spent"] for r in dppdl["parties"])


def test_gains_are_over_the_own_equal_compute_standalone(tiny_run: Run) -> None:
    out, _, summary = tiny_run
    doc = runner.load_seed_docs(out)[0]
    alone = [r["final_accuracy"] for r in doc["frameworks"]["standalone"]["parties"]]
    gains = []
    for row in doc["frameworks"]["dppdl"]["parties"]:
        assert row["gain"] == pytest.approx(row["final_accuracy"] - alone[row["party"]], abs=1e-6)
        gains.append(row["gain"])
    stats = summary["frameworks"]["dppdl"]
    assert stats["gain_mean"] == pytest.approx(sum(gains) / len(gains), abs=1e-6)
    assert stats["gain_min"] == pytest.approx(min(gains), abs=1e-6)
    for name, result in doc["frameworks"].items():
        fairness = result["fairness"]["sharing_level"]
        assert fairness is None or (-1.0 <= fairness <= 1.0 and not math.isnan(fairness)), name


def test_a_finished_seed_is_skipped(tiny_run: Run, chain: Chain,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    out, cache, summary = tiny_run
    before = seed_path(out, 0).read_bytes()

    def refuse(*_args: Any, **_kwargs: Any) -> dict[str, Any]:
        raise AssertionError("a finished framework ran again")

    monkeypatch.setattr(runner, "run_step", refuse)
    again = run_experiment(tiny_config(), out=out, cache_dir=cache, chain=chain, rich=False)
    assert seed_path(out, 0).read_bytes() == before
    assert again["frameworks"] == summary["frameworks"]


def test_a_seed_of_another_config_is_never_overwritten(tiny_run: Run, chain: Chain) -> None:
    out, cache, _ = tiny_run
    with pytest.raises(RunFolderError, match="another config"):
        run_experiment(tiny_config(training={"lr": 0.1}), out=out, cache_dir=cache,
                       chain=chain, rich=False)


def test_another_rule_reuses_preparations_and_baselines(tiny_run: Run, tmp_path: Path) -> None:
    _, cache, _ = tiny_run
    # Only the protocol depends on the rule; without it in the run nothing is trained again.
    config = tiny_config(protocol={"aggregation": "average"}, frameworks=["standalone"])
    assert config.run_label() == "tiny-average"
    out = tmp_path / config.run_label()
    run_experiment(config, out=out, cache_dir=cache, rich=False)
    doc = json.loads(seed_path(out, 0).read_text())
    assert doc["timings"]["prepared_from_cache"] == 3
    assert set(doc["frameworks"]) == {"standalone"}
    assert doc["frameworks"]["standalone"]["cached"] is True
    assert doc["config_hash"] != runner.load_seed_docs(tiny_run[0])[0]["config_hash"]


def test_seeds_run_side_by_side_in_jobs(tiny_run: Run, tmp_path: Path) -> None:
    done, cache, _ = tiny_run
    # Seed 0 is the session's finished run (its job skips it); seed 1 runs the protocol in
    # its own process on its own Anvil: one protocol run, not two.
    out = tmp_path / "jobs"
    shutil.copytree(done, out)
    config = tiny_config(frameworks=["standalone", "dppdl"], seeds=[0, 1])
    summary = run_experiment(config, out=out, cache_dir=cache, rich=False, jobs=2)
    assert summary["seeds"] == [0, 1]
    assert seed_path(out, 0).read_bytes() == seed_path(done, 0).read_bytes()
    dppdl = json.loads(seed_path(out, 1).read_text())["frameworks"]["dppdl"]
    assert dppdl["transactions"] > 0 and dppdl["points_conserved"]
    assert summary["frameworks"]["dppdl"]["seeds"] == 2
    with pytest.raises(ExperimentConfigError, match="drop --rpc-url"):
        run_experiment(config, out=out, cache_dir=cache, rich=False, jobs=2,
                       chain=Chain("http://127.0.0.1:1", "0x" + "11" * 32))
