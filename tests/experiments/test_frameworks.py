"""Every framework of a seed starts from the same parties, w0 and seeds; equal compute."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import trainer.baselines.common as common
from client.experiments.frameworks import (
    AlignmentError,
    check_alignment,
    prepare_seed,
    run_baseline,
)
from tests.experiments.conftest import tiny_config
from trainer.baselines.common import pretrain_parties, w0_of
from trainer.constants import party_seed


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The tiny experiment's seed 1, prepared (cached in a module folder)."""
    cache = tmp_path_factory.mktemp("prepared")
    return prepare_seed(tiny_config(), 1, cache_dir=cache, say=lambda _m: None)


def test_baselines_see_the_protocol_parties_data_w0_and_seeds(setup: Any) -> None:
    exp = setup.experiment
    for i, plan in enumerate(setup.plans):
        data = exp.party_data(i)
        assert np.array_equal(data.x, plan.shard.train.x)
        assert np.array_equal(data.y, plan.shard.train.y)
        assert exp.partition.levels[i] == plan.shard.level
        assert [exp.seed_of(i, r) for r in range(3)] == [
            plan.settings.seed + r for r in range(3)]
        assert plan.settings.seed == party_seed(1, i)
    # Pretraining in the baselines reproduces the protocol's prepared standalone models bit
    # for bit: the same w0, data, seeds and settings.
    models, accuracies = pretrain_parties(exp, w0_of(exp))
    for model, accuracy, plan in zip(models, accuracies, setup.plans, strict=True):
        assert np.array_equal(common.get_flat(model), plan.prepared.params)
        assert accuracy == plan.prepared.standalone_accuracy


def test_misaligned_parties_are_refused(setup: Any) -> None:
    other = replace(setup.plans[1], settings=replace(setup.plans[1].settings, seed=12345))
    with pytest.raises(AlignmentError, match="seeds"):
        check_alignment(replace(setup, plans=[setup.plans[0], other, setup.plans[2]]))
    swapped = [setup.plans[1], setup.plans[0], setup.plans[2]]
    with pytest.raises(AlignmentError, match="partition cell"):
        check_alignment(replace(setup, plans=swapped))


def test_equal_compute_standalone_is_pretrain_plus_rounds_of_local_epochs(
    setup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, int, int, int]] = []
    real = common.train_local

    def counting(model: Any, data: Any, *, epochs: int, seed: int, **kw: Any) -> None:
        party = next(i for i in range(setup.honest)
                     if np.array_equal(data.y, setup.experiment.party_data(i).y)
                     and np.array_equal(data.x, setup.experiment.party_data(i).x))
        calls.append((party, len(data), epochs, seed))
        real(model, data, epochs=epochs, seed=seed, **kw)

    monkeypatch.setattr(common, "train_local", counting)
    result = run_baseline(setup, "standalone", {})
    config = setup.config
    for i, plan in enumerate(setup.plans):
        mine = [c for c in calls if c[0] == i]
        assert all(size == len(plan.shard.train) for _, size, _, _ in mine)
        assert sum(epochs for _, _, epochs, _ in mine) == (
            config.pretrain_epochs + config.rounds * config.local_epochs)
        # Pretraining with the party seed, round r with party seed + r (as its learner).
        assert [(e, s) for _, _, e, s in mine] == [(config.pretrain_epochs, plan.settings.seed)] + [
            (config.local_epochs, plan.settings.seed + r) for r in range(1, config.rounds + 1)]
    assert result["pre_accuracies"] == [round(p.prepared.standalone_accuracy, 6)
                                        for p in setup.plans]
    assert [len(r["accuracy_per_round"]) for r in result["parties"]] == [config.rounds] * 3


def test_dssgd_with_levels_uploads_each_party_its_own_rate(setup: Any, tmp_path: Path) -> None:
    from trainer.baselines import run_dssgd

    levels = tuple(setup.partition.levels)
    by_level = run_dssgd(setup.experiment, theta_u=levels)
    fixed = run_dssgd(setup.experiment, theta_u=0.1)
    assert by_level.party_accuracies != fixed.party_accuracies
    with pytest.raises(ValueError, match="one upload rate per party"):
        run_dssgd(setup.experiment, theta_u=levels[:2])
