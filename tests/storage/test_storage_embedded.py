"""Embedded store specifics: on-disk layout, corruption, full disk, crash leftovers, processes."""

from __future__ import annotations

import multiprocessing
import os
import random
import resource
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import ContentId, EmbeddedStore, IntegrityError, StoreFull, compute_cid
from storage.embedded import STALE_TMP_SECONDS


@pytest.fixture
def embedded(tmp_path: Path) -> EmbeddedStore:
    return EmbeddedStore(tmp_path / "store")


def _object_file(store: EmbeddedStore, data: bytes) -> Path:
    name = compute_cid(data).digest.hex()
    return store.root / "objects" / name[:2] / name


def test_objects_live_in_sharded_folders(embedded: EmbeddedStore) -> None:
    data = os.urandom(100)
    embedded.put(data)
    path = _object_file(embedded, data)
    assert path.read_bytes() == data
    assert path.parent.name == path.name[:2]


def test_flipped_byte_on_disk_raises_integrity_error(embedded: EmbeddedStore) -> None:
    data = os.urandom(300_000)
    cid = embedded.put(data)
    path = _object_file(embedded, data)
    corrupted = bytearray(path.read_bytes())
    corrupted[123_456] ^= 0x01
    path.write_bytes(bytes(corrupted))
    with pytest.raises(IntegrityError, match="corrupted or truncated"):
        embedded.get(cid)


def test_truncated_file_raises_and_a_new_put_repairs_it(embedded: EmbeddedStore) -> None:
    data = os.urandom(5000)
    cid = embedded.put(data)
    path = _object_file(embedded, data)
    path.write_bytes(data[:4000])
    with pytest.raises(IntegrityError):
        embedded.get(cid)
    embedded.put(data)
    assert embedded.get(cid) == data


@pytest.fixture
def small_file_limit() -> Iterator[int]:
    """Make the OS refuse files over 64 KiB (EFBIG), as a full disk refuses writes."""
    limit = 64 * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield limit
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def test_full_disk_raises_store_full_and_leaves_nothing_visible(
    embedded: EmbeddedStore, small_file_limit: int
) -> None:
    small = os.urandom(1000)
    big = os.urandom(4 * small_file_limit)
    small_cid = embedded.put(small)
    with pytest.raises(StoreFull, match="full"):
        embedded.put(big)
    big_cid = compute_cid(big)
    assert not embedded.has(big_cid)
    assert not embedded.is_pinned(big_cid)
    assert list((embedded.root / "tmp").iterdir()) == []
    assert embedded.get(small_cid) == small


def test_gc_removes_stale_temporaries_but_not_fresh_ones(embedded: EmbeddedStore) -> None:
    stale = embedded.root / "tmp" / "crashed.tmp"
    fresh = embedded.root / "tmp" / "writing.tmp"
    stale.write_bytes(b"x" * 10)
    fresh.write_bytes(b"y" * 10)
    old = time.time() - STALE_TMP_SECONDS - 10
    os.utime(stale, (old, old))
    result = embedded.gc()
    assert result.bytes == 10 and result.objects == 0
    assert not stale.exists() and fresh.exists()


PartyResult = tuple[int, bool, list[bytes]]


def _party(root: str, seed: int, rounds: int, queue: multiprocessing.Queue[PartyResult]) -> None:
    store = EmbeddedStore(root)
    rng = random.Random(seed)
    kept = []
    for round_number in range(rounds):
        mine = store.put(rng.randbytes(rng.randrange(1, 300_000)))
        dropped = store.put(rng.randbytes(1000))
        store.unpin(dropped)
        kept.append(mine)
        if round_number % 3 == seed % 3:
            store.gc()
    ok = all(len(store.get(cid)) > 0 for cid in kept)
    queue.put((seed, ok, [c.commitment for c in kept]))


def test_several_processes_share_one_folder(tmp_path: Path) -> None:
    root = str(tmp_path / "shared")
    EmbeddedStore(root)
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[PartyResult] = context.Queue()
    workers = [context.Process(target=_party, args=(root, s, 12, queue)) for s in range(4)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    store = EmbeddedStore(root)
    store.gc()
    kept: list[ContentId] = []
    for _, ok, commitments in results:
        assert ok
        kept.extend(ContentId.from_commitment(c) for c in commitments)
    assert len(set(kept)) == 48
    for cid in kept:
        store.get(cid)  # verified read: intact after concurrent puts, unpins and gcs
    objects = [p for shard in (store.root / "objects").iterdir() for p in shard.iterdir()]
    assert len(objects) == 48  # every unpinned object collected, every pinned one kept


def _writer_forever(root: str) -> None:
    store = EmbeddedStore(root)
    while True:
        store.put(os.urandom(2 * 1024 * 1024 + 1))


def test_killed_writer_leaves_only_complete_objects(tmp_path: Path) -> None:
    root = tmp_path / "crash"
    store = EmbeddedStore(root)
    context = multiprocessing.get_context("spawn")
    writer = context.Process(target=_writer_forever, args=(str(root),))
    writer.start()
    deadline = time.monotonic() + 60
    while sum(1 for p in (root / "objects").rglob("*") if p.is_file()) < 3:
        assert time.monotonic() < deadline, "writer made no progress"
        time.sleep(0.02)
    os.kill(writer.pid or 0, signal.SIGKILL)  # mid-write, most likely
    writer.join(timeout=30)
    visible = [p for p in (root / "objects").rglob("*") if p.is_file()]
    assert len(visible) >= 3
    for path in visible:
        store.get(ContentId(bytes.fromhex(path.name)))  # complete and verified, or it raises


def test_put_repairs_an_altered_copy_of_the_same_size(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "s")
    data = os.urandom(5000)
    cid = store.put(data)
    path = next(p for p in (tmp_path / "s" / "objects").rglob("*") if p.is_file())
    flipped = bytearray(data)
    flipped[100] ^= 1
    path.write_bytes(bytes(flipped))
    with pytest.raises(IntegrityError):
        store.get(cid)
    assert store.put(data) == cid and store.get(cid) == data
