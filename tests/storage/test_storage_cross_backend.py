"""The embedded CID builder must agree with real IPFS daemons, block for block."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage import ContentId, EmbeddedStore, MemoryStore, compute_cid
from storage.devdaemon import LocalDaemon
from storage.ipfs import IpfsStore
from storage.unixfs import CHUNK_SIZE, MAX_LINKS, build_dag

CROSS_SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 5 * 1024 * 1024 + 7]


def _client(daemon: LocalDaemon) -> IpfsStore:
    return IpfsStore(daemon.api, fetch_timeout=5.0, has_timeout=0.5)


@pytest.mark.parametrize("size", CROSS_SIZES)
def test_daemon_add_matches_embedded_cid(daemon: LocalDaemon, size: int) -> None:
    data = random.Random(size).randbytes(size)
    store = _client(daemon)
    try:
        # put() itself raises IntegrityError on a mismatch; compare decoded CIDs anyway.
        assert store.put(data) == compute_cid(data)
    finally:
        store.close()


def test_every_block_matches_the_daemon(daemon: LocalDaemon) -> None:
    data = os.urandom(3 * CHUNK_SIZE + 100)
    store = _client(daemon)
    try:
        root = store.put(data)
        _, nodes = build_dag(data)
        raw = store._client  # the same ipfshttpclient.Client the store uses
        for node in nodes:
            assert raw.block.get(str(node.cid)) == node.block
        assert nodes[-1].cid == root
    finally:
        store.close()


@pytest.mark.slow
def test_two_level_tree_beyond_174_chunks(daemon: LocalDaemon) -> None:
    # MAX_LINKS + 1 chunks forces a second level of the balanced tree (~45.9 MB).
    data = random.Random(7).randbytes(MAX_LINKS * CHUNK_SIZE + 1)
    store = _client(daemon)
    try:
        assert store.put(data, pin=False) == compute_cid(data)
    finally:
        store.gc()
        store.close()


def test_daemon_reports_cids_in_other_encodings_that_decode_equal(daemon: LocalDaemon) -> None:
    data = b"hello world\n"
    cid = compute_cid(data)
    store = _client(daemon)
    try:
        reply = store._client.add_bytes(data)  # daemon defaults: CIDv0, base58btc
        assert ContentId.parse(reply) == cid
        assert reply == cid.v0
    finally:
        store.close()


def test_all_backends_give_one_cid_for_the_same_bytes(daemon: LocalDaemon, tmp_path: Path) -> None:
    data = os.urandom(2 * CHUNK_SIZE + 99)
    daemon_store = _client(daemon)
    try:
        cids = {
            MemoryStore().put(data),
            EmbeddedStore(tmp_path / "embedded").put(data),
            daemon_store.put(data),
        }
    finally:
        daemon_store.close()
    assert cids == {compute_cid(data)}


@given(size=st.integers(min_value=0, max_value=4 * CHUNK_SIZE), seed=st.integers(0, 2**32))
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_random_sizes_match_the_daemon(daemon: LocalDaemon, size: int, seed: int) -> None:
    data = random.Random(seed).randbytes(size)
    store = _client(daemon)
    try:
        assert store.put(data, pin=False) == compute_cid(data)
    finally:
        store.close()
