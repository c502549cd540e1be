from __future__ import annotations

import numpy as np
import pytest
import torch

from trainer.config import TrainConfig
from trainer.data import Pool
from trainer.errors import TrainingConfigError
from trainer.models import build_model, get_flat
from trainer.training import evaluate, local_update, predict_labels, train_local


def _model(name: str = "mlp") -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(name, (1, 32, 32))


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_training_is_deterministic_per_seed(small_pool: Pool, name: str) -> None:
    data = small_pool.train.subset(np.arange(60))
    runs = []
    for seed in (5, 5, 6):
        model = _model(name)
        train_local(model, data, epochs=1, lr=0.15, batch_size=10, seed=seed)
        runs.append(get_flat(model))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])
    assert not np.array_equal(runs[0], get_flat(_model(name)))


def test_training_lowers_the_loss_and_predicts(small_pool: Pool) -> None:
    model = _model()
    before = evaluate(model, small_pool.train)
    train_local(model, small_pool.train, epochs=3, lr=0.15, batch_size=10, seed=0)
    after = evaluate(model, small_pool.train)
    assert after.loss < before.loss and after.accuracy > before.accuracy
    labels = predict_labels(model, small_pool.test.x)
    assert labels.dtype == np.int64 and labels.shape == (len(small_pool.test),)
    accuracy = float(np.mean(labels == small_pool.test.y))
    assert accuracy == pytest.approx(evaluate(model, small_pool.test).accuracy, abs=1e-6)


def test_lr_decay_changes_the_trajectory(small_pool: Pool) -> None:
    data = small_pool.train.subset(np.arange(40))
    a, b = _model(), _model()
    train_local(a, data, epochs=1, lr=0.1, batch_size=1, seed=0)
    train_local(b, data, epochs=1, lr=0.1, batch_size=1, seed=0, lr_decay=0.5)
    assert not np.allclose(get_flat(a), get_flat(b))


def test_config_defaults_and_validation(small_pool: Pool) -> None:
    c = TrainConfig()
    assert (c.lr, c.batch_size, c.local_epochs, c.pretrain_epochs) == (0.15, 10, 5, 10)
    p = TrainConfig.paper()
    assert (p.lr, p.batch_size, p.lr_decay) == (0.001, 1, 1e-7)
    assert c.with_(lr=0.01).lr == 0.01
    with pytest.raises(TrainingConfigError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(TrainingConfigError, match="lr"):
        train_local(_model(), small_pool.train, epochs=1, lr=0, batch_size=1, seed=0)



def test_local_update_is_the_parameter_change(small_pool: Pool) -> None:
    model = _model()
    before = get_flat(model)
    config = TrainConfig(local_epochs=1)
    delta = local_update(model, small_pool.train.subset(np.arange(50)), config, seed=3)
    assert delta.dtype == np.float32 and np.any(delta != 0)
    np.testing.assert_allclose(before + delta, get_flat(model), atol=1e-6)
