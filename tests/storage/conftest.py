"""Fixtures for the storage suite: one offline IPFS daemon per session per implementation.

The shared backend suite runs over ``memory``, ``embedded``, ``jsipfs`` (the project's
node_modules js-ipfs) and ``kubo`` (only when an ``ipfs`` binary is on PATH; skipped otherwise).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import ContentStore, EmbeddedStore, IpfsStore, MemoryStore
from storage.devdaemon import LocalDaemon, jsipfs_binary, kubo_binary

DAEMON_KINDS = ("jsipfs", "kubo")
BACKENDS = ("memory", "embedded", *DAEMON_KINDS)
# Short daemon-side deadlines keep "absent object" checks fast in tests.
TEST_FETCH_TIMEOUT = 1.5


def pytest_configure(config: pytest.Config) -> None:
    # ipfshttpclient 0.7 passes urllib3's deprecated 'strict' argument on every request.
    config.addinivalue_line("filterwarnings", "ignore:The 'strict' parameter:FutureWarning")


def _start(kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalDaemon]:
    binary = jsipfs_binary() if kind == "jsipfs" else kubo_binary()
    if binary is None:
        reason = "node_modules/.bin/jsipfs missing" if kind == "jsipfs" else "no Kubo `ipfs`"
        pytest.skip(f"{kind} daemon unavailable: {reason}")
    daemon = LocalDaemon(binary, tmp_path_factory.mktemp(f"{kind}-daemon") / "repo")
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="session")
def jsipfs_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalDaemon]:
    """A js-ipfs daemon (isolated repo, offline, free ports) shared by the session."""
    yield from _start("jsipfs", tmp_path_factory)


@pytest.fixture(scope="session")
def kubo_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalDaemon]:
    """A Kubo daemon, when an ``ipfs`` binary is on PATH."""
    yield from _start("kubo", tmp_path_factory)


def daemon_store(daemon: LocalDaemon) -> IpfsStore:
    """A client of ``daemon`` with test-sized deadlines."""
    return IpfsStore(daemon.api, fetch_timeout=TEST_FETCH_TIMEOUT, has_timeout=0.5, timeout=60)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ContentStore]:
    """Each backend in turn, fresh for memory/embedded, a new client for daemons."""
    kind = request.param
    opened: ContentStore
    if kind == "memory":
        opened = MemoryStore()
    elif kind == "embedded":
        opened = EmbeddedStore(tmp_path / "store")
    else:
        request.applymarker(pytest.mark.daemon)
        opened = daemon_store(request.getfixturevalue(f"{kind}_daemon"))
    yield opened
    opened.close()


@pytest.fixture(params=DAEMON_KINDS)
def daemon(request: pytest.FixtureRequest) -> LocalDaemon:
    """Each available daemon implementation."""
    request.applymarker(pytest.mark.daemon)
    found: LocalDaemon = request.getfixturevalue(f"{request.param}_daemon")
    return found
