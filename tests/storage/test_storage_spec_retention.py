"""open_store specifications, the memory bound, and round-based retention."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from storage import (
    EmbeddedStore,
    InvalidStoreSpec,
    IpfsStore,
    MemoryStore,
    Retention,
    StoreFull,
    open_store,
)
from storage.devdaemon import LocalDaemon


def test_open_store_builds_each_backend(tmp_path: Path) -> None:
    assert isinstance(open_store("memory"), MemoryStore)
    bounded = open_store("memory:1_000")
    assert isinstance(bounded, MemoryStore)
    embedded = open_store(f"embedded:{tmp_path / 's'}")
    assert isinstance(embedded, EmbeddedStore) and (tmp_path / "s" / "objects").is_dir()
    ipfs = open_store("/ip4/127.0.0.1/tcp/5001")
    assert isinstance(ipfs, IpfsStore) and ipfs.addr == "/ip4/127.0.0.1/tcp/5001"
    http = open_store("http://localhost:5001")
    assert isinstance(http, IpfsStore) and http.addr == "/dns/localhost/tcp/5001/http"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("s3://bucket", "unknown store spec"),
        ("memory:lots", "byte count"),
        ("embedded:", "name the folder"),
        ("/ip4/300.1.2.3/tcp/5001", "not a valid multiaddr"),
        ("/ip4/127.0.0.1/tcp/notaport", "not a valid multiaddr"),
        ("/ip4/127.0.0.1/udp/5001", "does not name an IPFS RPC API"),
        ("http://localhost", "http://<host>:<port>"),
    ],
)
def test_bad_specs_raise_a_named_error(spec: str, message: str) -> None:
    with pytest.raises(InvalidStoreSpec, match=message):
        open_store(spec)


def test_daemon_spec_reaches_the_daemon(daemon: LocalDaemon) -> None:
    store = open_store(daemon.api)
    data = os.urandom(100)
    assert store.get(store.put(data)) == data
    store.close()


def test_memory_bound_refuses_overflow_until_gc() -> None:
    store = MemoryStore(max_bytes=10_000)
    first = store.put(os.urandom(6000))
    with pytest.raises(StoreFull, match="no room"):
        store.put(os.urandom(6000))
    assert store.held_bytes == 6000
    store.unpin(first)
    store.gc()
    assert store.held_bytes == 0
    store.put(os.urandom(6000))


def test_retention_keeps_the_window_and_releases_older_rounds() -> None:
    store = MemoryStore()
    retention = Retention(store, rounds=2)
    by_round = {r: store.put(os.urandom(50 + r)) for r in range(6)}
    for round_number, cid in by_round.items():
        retention.track(cid, round_number)
    released = retention.advance(current_round=5)  # keeps rounds 3, 4 and 5
    assert set(released) == {by_round[0], by_round[1], by_round[2]}
    assert retention.tracked() == {by_round[r]: r for r in (3, 4, 5)}
    result = store.gc()
    assert result.objects == 3
    assert [store.has(by_round[r]) for r in range(6)] == [False] * 3 + [True] * 3
    assert retention.advance(current_round=5) == []


def test_retention_uses_the_latest_round_an_object_is_needed_for() -> None:
    store = MemoryStore()
    retention = Retention(store, rounds=0)
    cid = store.put(b"evidence")
    retention.track(cid, 1)
    retention.track(cid, 4)
    retention.track(cid, 2)
    assert retention.release_before(4) == []
    assert retention.collect(current_round=5).objects == 1
    assert not store.has(cid)


def test_retention_rejects_negative_values() -> None:
    with pytest.raises(ValueError):
        Retention(MemoryStore(), rounds=-1)
    with pytest.raises(ValueError):
        Retention(MemoryStore(), rounds=1).track(MemoryStore().put(b"x"), -1)
