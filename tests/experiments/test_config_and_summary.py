"""The TOML schema, the hashes that key results and caches, and the summary over seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from client.experiments.config import (
    FRAMEWORK_NAMES,
    ExperimentConfigError,
    apply_overrides,
    load_config,
    parse_seeds,
)
from client.experiments.paper import TABLE3, comparison_markdown, replace_block
from client.experiments.runner import steps_of
from client.experiments.summary import assemble, cgsv_key, markdown, summarize
from client.protocol.aggregation import DEFAULT_RULE
from client.protocol.market import DEFAULT_BUDGET_POLICY
from tests.experiments.conftest import TINY, tiny_config

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def test_every_committed_config_is_valid_and_runs_every_framework() -> None:
    files = sorted(EXPERIMENTS.glob("*.toml"))
    names = {f.stem for f in files}
    for cell in ("p4-mlp-same", "p4-mlp-different", "p4-mlp-imbalanced", "p4-cnn-same",
                 "p4-cnn-different", "p4-cnn-imbalanced", "p15-mlp-different",
                 "p15-mlp-imbalanced", "p30-mlp-different", "p50-mlp-imbalanced"):
        assert cell in names
    for path in files:
        config = load_config(path)
        assert config.name == path.stem
        assert config.frameworks == FRAMEWORK_NAMES
        assert (config.rounds, config.lr, config.batch_size, config.local_epochs,
                config.pretrain_epochs) == (30, 0.15, 10, 5, 10)
        # the committed runs follow the project's default rule and budget policy
        assert (config.aggregation, config.budget_policy) == (DEFAULT_RULE,
                                                              DEFAULT_BUDGET_POLICY)
        assert config.run_label() == f"{path.stem}-{DEFAULT_RULE}"


def test_unknown_keys_and_bad_values_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ExperimentConfigError, match="unknown key"):
        tiny_config(training={"learning_rate": 0.1})
    with pytest.raises(ExperimentConfigError, match="setting must be one of"):
        tiny_config(consortium={"setting": "iid"})
    with pytest.raises(ExperimentConfigError, match="no option"):
        tiny_config(protocol={"rule_options": {"nope": 1}})
    with pytest.raises(ExperimentConfigError, match="theta_u"):
        tiny_config(dssgd={"theta_u": 2.0})
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(ExperimentConfigError, match="not valid TOML"):
        load_config(bad)


def test_overrides_and_seed_ranges() -> None:
    raw = apply_overrides(TINY, ["protocol.aggregation=average", "training.lr=0.001",
                                 "protocol.rule_options.max_step_ratio=2.0", "seeds=[3, 4]"])
    assert raw["protocol"]["aggregation"] == "average" and raw["training"]["lr"] == 0.001
    assert raw["protocol"]["rule_options"] == {"max_step_ratio": 2.0}
    assert raw["seeds"] == [3, 4] and TINY["training"].get("lr") is None
    assert parse_seeds("0-4") == (0, 1, 2, 3, 4) and parse_seeds("1,5") == (1, 5)
    with pytest.raises(ExperimentConfigError):
        parse_seeds("4-1")


def test_rule_changes_the_run_and_seed_keys_but_not_the_baseline_key() -> None:
    paper, average = tiny_config(), tiny_config(protocol={"aggregation": "average"})
    clipped = tiny_config(protocol={"rule_options": {"max_step_ratio": 2.0}})
    assert len({paper.run_label(), average.run_label(), clipped.run_label()}) == 3
    assert paper.seed_hash(0, "d") != average.seed_hash(0, "d")
    assert paper.seed_hash(0, "d") != paper.seed_hash(1, "d") != paper.seed_hash(0, "e")
    key = paper.baseline_hash(0, "d", "fedavg", {})
    assert key == average.baseline_hash(0, "d", "fedavg", {})
    assert key != tiny_config(training={"lr": 0.1}).baseline_hash(0, "d", "fedavg", {})
    # Which seeds or frameworks run does not change a seed's key.
    assert paper.seed_hash(0, "d") == tiny_config(seeds=[0, 1]).seed_hash(0, "d")
    assert steps_of(tiny_config(frameworks=["dppdl"])) == ["standalone", "dppdl"]


def _doc(seed: int, finals: dict[str, list[float]], levels: list[float]) -> dict[str, Any]:
    frameworks = {
        name: {"framework": name, "params": {}, "seconds": 1.0,
               "parties": [{"party": i, "final_accuracy": a, "accuracy_per_round": [a]}
                           for i, a in enumerate(values)]}
        for name, values in finals.items()
    }
    frameworks["standalone"]["pre_accuracies"] = [a - 0.05 for a in finals["standalone"]]
    if "dppdl" in frameworks:
        frameworks["dppdl"].update(ledger=f"0x{seed:040x}", transactions=40, gas=10**6,
                                   points_conserved=True)
    return {"seed": seed, "frameworks": frameworks, "timings": {"prepare_seconds": 2.0},
            "parties": [{"party": i, "data_size": 100, "sharing_level": lv,
                         "standalone_accuracy": finals["standalone"][i] - 0.05}
                        for i, lv in enumerate(levels)]}


def test_summary_follows_the_contract() -> None:
    config = tiny_config()
    levels = [0.1, 0.3, 0.5]
    docs = [assemble(_doc(s, {
        "standalone": [0.80, 0.82, 0.84],
        "dppdl": [0.81 + s / 100, 0.84, 0.88],
        "centralized": [0.90] * 3,
        cgsv_key(0.5): [0.85, 0.85, 0.85],
        cgsv_key(2.0): [0.83, 0.85, 0.86],
    }, levels)) for s in (0, 1)]
    summary = summarize(config, docs, run="tiny-paper")
    d = summary["frameworks"]["dppdl"]
    assert d["best_mean"] == pytest.approx(0.88)
    assert d["worst_mean"] == pytest.approx(0.815)
    # Gains over each party's own standalone model: seed 0 (+1, +2, +4), seed 1 (+2, +2, +4).
    assert d["gain_mean"] == pytest.approx((0.01 + 0.02 + 0.04 + 0.02 + 0.02 + 0.04) / 6)
    assert d["gain_worst_mean"] == pytest.approx(0.015)
    assert d["gain_min"] == pytest.approx(0.01)
    assert d["best_vs_centralized_mean"] == pytest.approx(-0.02)
    assert d["pearson"]["data_size"] is None and d["pearson"]["sharing_level"] > 0.9
    assert summary["frameworks"]["centralized"]["pearson"]["sharing_level"] is None
    pre = summary["frameworks"]["standalone_pre"]
    assert pre["gain_mean"] == pytest.approx(-0.05)
    # CGSV at the beta of best fairness: 0.5 gives everyone the same model (undefined).
    assert summary["frameworks"]["cgsv"]["beta"] == 2.0
    assert summary["cgsv_sweep"]["0.5"]["pearson"]["sharing_level"] is None
    assert summary["timings"]["total_seconds"] == pytest.approx(2 * (2.0 + 5 * 1.0))
    table = markdown(summary)
    assert "| DPPDL (this protocol) | 88.00 ± 0.00 | 81.50 ± 0.71 |" in table
    assert "CGSV (beta 2)" in table


def test_comparison_puts_the_paper_beside_ours() -> None:
    config = tiny_config(consortium={"parties": 4})
    levels = [0.1, 0.2, 0.3, 0.5]
    finals = {"standalone": [0.8, 0.8, 0.81, 0.82], "dppdl": [0.8, 0.81, 0.83, 0.85],
              "dssgd": [0.9, 0.89, 0.88, 0.87]}
    summary = summarize(config, [assemble(_doc(0, finals, levels))], run="p4-mlp-x")
    text = comparison_markdown([summary])
    row = next(line for line in text.splitlines() if line.startswith("| p4-mlp-x") and
               "0.30" in line)
    assert f"{TABLE3[('dppdl', 'mlp', 'different')][4]:.2f}" in row
    readme = "intro\n<!-- expected-results:begin -->\nold\n<!-- expected-results:end -->\nend\n"
    updated = replace_block(readme, text)
    assert "old" not in updated and text in updated and updated.endswith("end\n")
