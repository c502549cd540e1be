"""The composition root: preparation is seeded where it may be, secret where it must be."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from client.compose import PartySettings, PreparationError, PreparedParty, prepare_party
from client.shards import Shard, make_shards

SETTINGS = PartySettings(pretrain_epochs=1, dpgan_epochs=1, dpgan_width=8, seed=3)


@pytest.fixture(scope="module")
def shard() -> Shard:
    return make_shards(parties=2, setting="different", per_party=80, seed=5, test_size=100)[0]


def test_the_release_order_is_secret_but_the_model_is_reproducible(shard: Shard) -> None:
    first = prepare_party("p", shard, SETTINGS)
    second = prepare_party("p", shard, SETTINGS)
    np.testing.assert_array_equal(first.params, second.params)  # seeded standalone training
    assert first.samples.count == second.samples.count == round(shard.level * len(shard.train))
    # The class order (and noise) of a release is drawn from OS randomness: knowing the
    # party's seed does not tell anyone which class each sample was drawn for.
    assert not np.array_equal(first.samples.pixels, second.samples.pixels)


def test_a_preparation_is_cached_by_what_determines_it(shard: Shard, tmp_path: Path) -> None:
    first = prepare_party("p", shard, SETTINGS, cache_dir=tmp_path)
    cached = list(tmp_path.glob("prepared-*.npz"))
    assert len(cached) == 1 and cached[0].stat().st_mode & 0o777 == 0o600
    again = prepare_party("renamed", shard, SETTINGS.with_(aggregation="average"),
                          cache_dir=tmp_path)
    assert again.name == "renamed"  # the rule does not determine a preparation
    np.testing.assert_array_equal(again.samples.pixels, first.samples.pixels)
    prepare_party("p", shard, SETTINGS.with_(seed=4), cache_dir=tmp_path)
    assert len(list(tmp_path.glob("prepared-*.npz"))) == 2
    cached[0].write_bytes(b"not a preparation")
    with pytest.raises(PreparationError, match="delete it to redo it"):
        PreparedParty.load(cached[0])


def test_consortium_settings_round_trip_canonically_and_name_differences() -> None:
    from client.protocol.settings import ConsortiumSettings, SettingsError

    shared = SETTINGS.with_(rule_options={"max_step_ratio": 1.5}).consortium()
    data = shared.to_bytes()
    assert ConsortiumSettings.from_bytes(data) == shared
    assert b"1.5" not in data and b'"3/2"' in data  # exact fractions, never floats
    assert PartySettings(seed=9).adopt(shared).consortium() == shared
    other = SETTINGS.with_(rounds=7, rule_options={"max_step_ratio": 2.0}).consortium()
    assert [d.split(":")[0] for d in shared.differences(other)] == ["rounds", "rule_options"]
    for junk in (b"{", data.replace(b'"version":1', b'"version":2'), data + b" ", b"x" * 5000,
                 data.replace(b'"rounds":3', b'"rounds":"3"')):
        with pytest.raises(SettingsError):
            ConsortiumSettings.from_bytes(junk)
