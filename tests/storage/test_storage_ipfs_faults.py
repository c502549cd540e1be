"""IPFS backend faults: daemon down or slow, corrupted blocks, a lying daemon."""

from __future__ import annotations

import base64
import http.server
import json
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from storage import IntegrityError, IpfsStore, StoreUnavailable, compute_cid
from storage.devdaemon import LocalDaemon, free_port
from storage.unixfs import build_dag


def test_daemon_down_gives_store_unavailable_naming_the_address() -> None:
    addr = f"/ip4/127.0.0.1/tcp/{free_port()}"
    store = IpfsStore(addr, attempts=3, backoff=0.05)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=addr) as info:
        store.put(b"payload")
    assert "3 attempts" in str(info.value)
    assert time.monotonic() - started < 10
    with pytest.raises(StoreUnavailable):
        store.get(compute_cid(b"payload"))


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never answers (a hung daemon)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_slow_daemon_times_out_with_bounded_retries(silent_server: int) -> None:
    addr = f"/ip4/127.0.0.1/tcp/{silent_server}"
    store = IpfsStore(addr, timeout=0.3, attempts=2, backoff=0.05)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=addr):
        store.get(compute_cid(b"x"))
    assert time.monotonic() - started < 5


class _LyingHandler(http.server.BaseHTTPRequestHandler):
    """Answers `cat` with truncated bytes and `add` with a CID of other bytes."""

    payload = b""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path.startswith("/api/v0/cat"):
            body = self.payload[:-1]
            content_type = "text/plain"
        else:
            reply = {"Name": "x", "Hash": str(compute_cid(b"other")), "Size": "1"}
            body = json.dumps(reply).encode()
            content_type = "application/json"
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def lying_daemon() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _LyingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"/ip4/127.0.0.1/tcp/{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_truncated_bytes_from_a_daemon_raise_integrity_error(lying_daemon: str) -> None:
    data = os.urandom(1000)
    _LyingHandler.payload = data
    store = IpfsStore(lying_daemon, attempts=1)
    with pytest.raises(IntegrityError, match="corrupted or truncated"):
        store.get(compute_cid(data))


def test_daemon_cid_that_differs_from_ours_is_refused(lying_daemon: str) -> None:
    store = IpfsStore(lying_daemon, attempts=1)
    with pytest.raises(IntegrityError, match="add options"):
        store.put(b"payload")


def test_corrupted_block_in_a_real_daemon_repo_is_detected(daemon: LocalDaemon) -> None:
    data = os.urandom(2 * 262_144 + 10)
    store = IpfsStore(daemon.api, fetch_timeout=5.0)
    cid = store.put(data)
    # Both js-ipfs and Kubo keep blocks in flatfs, named by the base32 multihash.
    leaf = build_dag(data)[1][0]
    key = base64.b32encode(bytes((0x12, 0x20)) + leaf.cid.digest).decode().rstrip("=")
    (block_file,) = daemon.repo.glob(f"blocks/*/{key}.data")
    corrupted = bytearray(block_file.read_bytes())
    corrupted[-100] ^= 0xFF
    block_file.write_bytes(bytes(corrupted))
    try:
        with pytest.raises(IntegrityError):
            store.get(cid)
    finally:
        block_file.write_bytes(leaf.block)
    assert store.get(cid) == data
    store.close()
