"""Fixtures of the protocol suite: parties prepared once, a fresh ledger per test.

Preparing a party (standalone training and a DPGAN) is the only expensive step; it does not
touch the chain, so the session prepares 4 honest parties and 1 free-rider once, and every test
deploys its own ledger and store for them (learners are reset to their standalone parameters).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from eth_account.signers.local import LocalAccount

from client.chain.anvil import AnvilNode
from client.protocol.config import ProtocolConfig
from client.protocol.learner import Learner
from client.protocol.runner import Consortium, ConsortiumSpec, PreparedParty, prepare_parties
from storage import ContentStore, MemoryStore
from trainer.config import TrainConfig
from trainer.data import default_pool
from trainer.dpgan import DPGANConfig, SampleRelease

SPEC = ConsortiumSpec(
    parties=4,
    free_riders=1,
    setting="different",
    per_party=200,
    test_size=500,
    seed=7,
    dpgan=DPGANConfig(epochs=1, width=8),
    protocol=ProtocolConfig(
        rounds=2, eval_samples=40, train=TrainConfig(local_epochs=1, pretrain_epochs=3, threads=1)
    ),
    blocks=(60, 40, 40, 60),
)


class RecordingLearner:
    """Wraps a learner and records every local update and parameter replacement."""

    def __init__(self, inner: Learner) -> None:
        self.inner = inner
        self.updates: dict[int, tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]] = {}
        self.replaced: list[tuple[int, npt.NDArray[np.float32]]] = []
        self._round = 0

    @property
    def data_size(self) -> int:
        return self.inner.data_size

    def params(self) -> npt.NDArray[np.float32]:
        return self.inner.params()

    def set_params(self, params: npt.NDArray[np.float32]) -> None:
        self.replaced.append((self._round, params.copy()))
        self.inner.set_params(params)

    def local_update(self, round_number: int) -> npt.NDArray[np.float32]:
        self._round = round_number
        before = self.inner.params()
        delta = self.inner.local_update(round_number)
        self.updates[round_number] = (before, delta)
        return delta

    def label(self, samples: SampleRelease) -> npt.NDArray[np.int64]:
        return self.inner.label(samples)

    def accuracy(self) -> float:
        return self.inner.accuracy()


@pytest.fixture(scope="session")
def prepared() -> list[PreparedParty]:
    """4 honest parties (different sharing levels) and 1 free-rider, prepared once."""
    pool = default_pool(test_size=SPEC.test_size, seed=SPEC.seed)
    return prepare_parties(SPEC, pool=pool)


Deployer = Callable[..., Consortium]


@pytest.fixture
def deploy_consortium(
    anvil: AnvilNode, dev_accounts: list[LocalAccount], prepared: list[PreparedParty],
    tmp_path: Path,
) -> Iterator[Deployer]:
    """Factory: a fresh ledger for some prepared parties, each learner wrapped for recording."""

    def factory(
        *,
        free_rider: bool = False,
        store: ContentStore | None = None,
        rounds: int = 2,
        **protocol: Any,
    ) -> Consortium:
        chosen: Sequence[PreparedParty] = prepared if free_rider else prepared[:4]
        wrapped = [replace(p, learner=RecordingLearner(p.learner)) for p in chosen]
        shared = store or MemoryStore()
        spec = replace(SPEC, protocol=replace(SPEC.protocol, rounds=rounds, **protocol))
        return Consortium.deploy(
            spec, wrapped, rpc_url=anvil.rpc_url, funder=dev_accounts[0],
            store_for=lambda _i: shared, workdir=tmp_path / "parties",
        )

    yield factory
