"""The shared ContentStore suite, run against every backend (memory, embedded, daemons)."""

from __future__ import annotations

import os

import pytest

from storage import ContentId, ContentStore, NotFound, TooLarge, compute_cid
from storage.unixfs import CHUNK_SIZE

SIZES = [0, 1, 1000, CHUNK_SIZE, CHUNK_SIZE + 1, 560_424]


def test_backend_implements_the_protocol(store: ContentStore) -> None:
    assert isinstance(store, ContentStore)


@pytest.mark.parametrize("size", SIZES)
def test_put_get_roundtrip_gives_the_canonical_cid(store: ContentStore, size: int) -> None:
    data = os.urandom(size)
    cid = store.put(data)
    assert cid == compute_cid(data)
    assert store.has(cid)
    assert store.get(cid) == data


def test_five_megabyte_object_roundtrips(store: ContentStore) -> None:
    data = os.urandom(5 * 1024 * 1024 + 3)
    cid = store.put(data)
    assert cid == compute_cid(data)
    assert store.get(cid) == data


def test_fetch_by_onchain_commitment_alone(store: ContentStore) -> None:
    data = os.urandom(3 * CHUNK_SIZE + 17)
    commitment = store.put(data).commitment
    assert isinstance(commitment, bytes) and len(commitment) == 32
    fetched = store.get(ContentId.from_commitment(commitment))
    assert fetched == data
    assert compute_cid(fetched).commitment == commitment


def test_put_is_idempotent(store: ContentStore) -> None:
    data = os.urandom(2000)
    assert store.put(data) == store.put(data)
    assert store.get(compute_cid(data)) == data


def test_absent_object_is_not_found(store: ContentStore) -> None:
    absent = compute_cid(os.urandom(64))
    assert not store.has(absent)
    with pytest.raises(NotFound):
        store.get(absent)
    with pytest.raises(NotFound):
        store.pin(absent)


def test_put_pins_by_default(store: ContentStore) -> None:
    cid = store.put(os.urandom(500))
    assert store.is_pinned(cid)
    unpinned = store.put(os.urandom(500), pin=False)
    assert not store.is_pinned(unpinned)
    assert store.has(unpinned)


def test_gc_reclaims_unpinned_and_keeps_pinned(store: ContentStore) -> None:
    kept_data = os.urandom(CHUNK_SIZE + 5)
    dropped_data = os.urandom(CHUNK_SIZE + 6)
    kept = store.put(kept_data)
    dropped = store.put(dropped_data)
    store.unpin(dropped)
    assert not store.is_pinned(dropped)
    result = store.gc()
    assert result.objects >= 1
    assert result.bytes >= len(dropped_data)
    assert not store.has(dropped)
    with pytest.raises(NotFound):
        store.get(dropped)
    assert store.get(kept) == kept_data


def test_unpin_twice_is_harmless_and_pin_again_protects(store: ContentStore) -> None:
    data = os.urandom(700)
    cid = store.put(data)
    store.unpin(cid)
    store.unpin(cid)
    store.pin(cid)
    assert store.is_pinned(cid)
    store.gc()
    assert store.get(cid) == data


def test_non_bytes_content_is_a_type_error(store: ContentStore) -> None:
    with pytest.raises(TypeError, match="must be bytes"):
        store.put("text is not bytes")  # type: ignore[arg-type]


def test_get_refuses_an_object_over_the_callers_bound(store: ContentStore) -> None:
    data = os.urandom(3 * CHUNK_SIZE + 5)
    cid = store.put(data)
    assert store.get(cid, max_size=len(data)) == data
    with pytest.raises(TooLarge):
        store.get(cid, max_size=len(data) - 1)
