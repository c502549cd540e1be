"""Fixtures of the protocol suite: parties prepared once, a fresh ledger per test.

Preparing a party (standalone training and a DPGAN) is the only expensive step; it does not
touch the chain, so the session plans 4 honest parties and 1 free-rider once, and every test
deploys its own ledger and store for them (each composition starts from the standalone model).
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
from client.compose import PartySettings
from client.consortium import Consortium, ConsortiumSpec, PartyPlan, plan_parties
from client.protocol.learner import Learner
from storage import ContentStore, MemoryStore
from trainer.data import default_pool
from trainer.dpgan import SampleRelease

#: Attackers that are members with data (composed from a prepared honest party).
PARTY_ATTACKS = ("garbage-upload", "late-upload")

SPEC = ConsortiumSpec(
    parties=4,
    free_riders=1,
    setting="different",
    # 600 examples and the full DPGAN: smaller ones release samples no better than noise, and
    # then nobody has evidence to report a free-rider (its test would test nothing).
    per_party=600,
    test_size=500,
    seed=7,
    settings=PartySettings(rounds=2, eval_samples=40, local_epochs=1, pretrain_epochs=3),
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
def prepared() -> list[PartyPlan]:
    """4 honest parties (different sharing levels) and 1 free-rider, prepared once."""
    pool = default_pool(test_size=SPEC.test_size, seed=SPEC.seed)
    return plan_parties(SPEC, pool=pool)


Deployer = Callable[..., Consortium]


@pytest.fixture
def deploy_consortium(
    anvil: AnvilNode, dev_accounts: list[LocalAccount], prepared: list[PartyPlan],
    tmp_path: Path,
) -> Iterator[Deployer]:
    """Factory: a fresh ledger for some prepared parties, each learner wrapped for recording."""

    def factory(
        *,
        free_rider: bool = False,
        store: ContentStore | None = None,
        rounds: int = 2,
        honest: int = 4,
        extra_parties: int = 0,
        adversary: str | None = None,
        **protocol: Any,
    ) -> Consortium:
        # A party-kind attacker with data (garbage or late uploader) is the next prepared party.
        attacker = prepared[honest:honest + 1] if adversary in PARTY_ATTACKS else []
        chosen: Sequence[PartyPlan] = [*prepared[:honest], *attacker,
                                       *(prepared[4:] if free_rider else [])]
        plans = [replace(p, settings=replace(p.settings, rounds=rounds, **protocol))
                 for p in chosen]
        shared = store or MemoryStore()
        return Consortium.deploy(
            SPEC, plans, rpc_url=anvil.rpc_url, funder=dev_accounts[0],
            store_for=lambda _i: shared, workdir=tmp_path / "parties",
            wrap_learner=RecordingLearner, extra_parties=extra_parties, adversary=adversary,
        )

    yield factory
