from __future__ import annotations

import json

import numpy as np
import pytest

from trainer.baselines import BASELINES, Experiment, run_cgsv, run_dssgd
from trainer.baselines.__main__ import main
from trainer.baselines.cgsv import reward_shares, update_reputation
from trainer.config import TrainConfig
from trainer.data import Pool
from trainer.partitions import imbalanced, same_sharing

FAST = TrainConfig(local_epochs=1, pretrain_epochs=1)


def _experiment(pool: Pool, rounds: int = 2, seed: int = 0) -> Experiment:
    partition = imbalanced(len(pool.train), 3, total=240, seed=seed)
    return Experiment("mlp", pool, partition, FAST, rounds=rounds, seed=seed)


@pytest.mark.parametrize("name", list(BASELINES))
def test_every_baseline_returns_curves_and_is_deterministic(small_pool: Pool, name: str) -> None:
    exp = _experiment(small_pool)
    first = BASELINES[name](exp)
    again = BASELINES[name](exp)
    assert first == again
    assert first.name == name and len(first.party_accuracies) == 3
    assert all(len(curve) == 2 for curve in first.curves)
    assert all(0.0 <= a <= 1.0 for curve in first.curves for a in curve)
    assert tuple(c[-1] for c in first.curves) == first.party_accuracies
    # Even one epoch on 50-100 real digits beats chance (10%).
    assert first.best_accuracy > 0.3


def test_shared_model_baselines_give_everyone_the_same_accuracy(small_pool: Pool) -> None:
    exp = _experiment(small_pool)
    for name in ("centralized", "fedavg"):
        assert len(set(BASELINES[name](exp).party_accuracies)) == 1


def test_dssgd_upload_rate_matters(small_pool: Pool) -> None:
    exp = _experiment(small_pool)
    low = run_dssgd(exp, theta_u=0.01)
    full = run_dssgd(exp, theta_u=1.0)
    assert low.curves != full.curves
    partial = run_dssgd(exp, theta_u=0.1, theta_d=0.5)
    assert partial.curves != run_dssgd(exp, theta_u=0.1).curves


def test_cgsv_reputation_and_rewards() -> None:
    r = update_reputation(np.array([0.5, 0.5, 0.0]), np.array([0.9, 0.1, -1.0]))
    assert r.sum() == pytest.approx(1.0) and r.min() > 0
    assert r[0] > r[1] > r[2]
    q = reward_shares(r, beta=2.0)
    assert q.max() == pytest.approx(1.0) and np.all(np.diff(q) < 0)
    # Larger beta (more altruism) narrows the gap between the shares.
    assert reward_shares(r, beta=50.0).min() > q.min()


def test_cgsv_beta_changes_rewards(small_pool: Pool) -> None:
    exp = _experiment(small_pool, rounds=2)
    assert run_cgsv(exp, beta=0.5).curves != run_cgsv(exp, beta=50.0).curves


def test_cli_runs_and_prints_per_party_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--baseline", "fedavg", "--parties", "2", "--per-party", "50", "--rounds", "1",
                 "--local-epochs", "1", "--pretrain-epochs", "1", "--test-size", "200",
                 "--contribution", "size", "--json", "--no-progress"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    result = out["results"][0]
    assert result["baseline"] == "fedavg" and len(result["party_accuracies"]) == 2
    assert result["fairness"]["contribution"] == "data size"


def test_cli_help_exits_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    assert "--baseline" in capsys.readouterr().out


def test_cli_reports_user_errors_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--parties", "40", "--no-progress"]) == 2
    assert "error:" in capsys.readouterr().err
    assert main(["--mnist-dir", "/nonexistent/dir", "--no-progress"]) == 2


def test_partition_seed_is_part_of_the_experiment(small_pool: Pool) -> None:
    p = same_sharing(len(small_pool.train), 2, per_party=60, seed=0)
    exp = Experiment("mlp", small_pool, p, FAST, rounds=1, seed=1)
    assert BASELINES["standalone"](exp) != BASELINES["standalone"](
        Experiment("mlp", small_pool, p, FAST, rounds=1, seed=2))
