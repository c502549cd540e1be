"""IPFS through the Kubo RPC API (``ipfshttpclient``), with bounded retries and verified reads.

Works against Kubo and against js-ipfs 0.66 (which speaks the same RPC API).  The client is
built with ``ipfshttpclient.Client(addr)`` directly, because ``ipfshttpclient.connect()`` refuses
daemons newer than 0.8.  Calls that may wait for content that is not local (``cat``, ``pin/add``,
``block/stat``) carry the RPC API's own ``timeout`` option, so an absent object yields
:class:`NotFound` instead of a hung request; every call also has a client-side HTTP timeout, and
connection failures or client timeouts are retried with exponential backoff before
:class:`StoreUnavailable` names the API address.
"""

from __future__ import annotations

import io
import time
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import ipfshttpclient
import ipfshttpclient.exceptions as ipfs_errors

from storage.base import GcResult
from storage.cid import ContentId
from storage.errors import IntegrityError, NotFound, StorageError, StoreUnavailable, TooLarge
from storage.unixfs import (
    ADD_CHUNKER,
    ADD_CID_VERSION,
    ADD_RAW_LEAVES,
    ADD_TRICKLE,
    compute_cid,
    verify,
)

# ipfshttpclient 0.7 passes urllib3's removed 'strict' argument; the warning is noise for users.
warnings.filterwarnings("ignore", message="The 'strict' parameter", category=FutureWarning)

T = TypeVar("T")

_RETRYABLE = (ipfs_errors.ConnectionError, ipfs_errors.TimeoutError, ipfs_errors.ProtocolError)


# Error texts meaning "no such content reachable": js-ipfs ("request timed out"), Kubo with
# --timeout ("context deadline exceeded") and Kubo offline ("block was not found locally").
_ABSENT_MARKERS = ("timed out", "deadline exceeded", "not found")


def _duration(seconds: float) -> str:
    # Both Go's time.ParseDuration (Kubo) and parse-duration (js-ipfs) accept "<n>ms".
    return f"{max(1, round(seconds * 1000))}ms"


class IpfsStore:
    """A :class:`storage.ContentStore` backed by an IPFS daemon's RPC API.

    Parameters
    ----------
    addr
        Multiaddr of the RPC API, e.g. ``/ip4/127.0.0.1/tcp/5001`` (optionally ending ``/http``).
    timeout
        Client-side seconds allowed for one HTTP call to complete.
    fetch_timeout
        Seconds the daemon may spend fetching content that is not local (``get``, ``pin``)
        before the object is reported :class:`NotFound`.
    has_timeout
        Seconds the daemon may spend on a local-presence check (js-ipfs ignores ``offline``
        and waits for absent blocks, so absence is detected by this deadline).
    attempts
        Tries per call on connection failures and client timeouts.
    backoff
        First retry delay in seconds; doubled on each further retry.
    """

    def __init__(
        self,
        addr: str,
        *,
        timeout: float = 60.0,
        fetch_timeout: float = 30.0,
        has_timeout: float = 1.0,
        attempts: int = 3,
        backoff: float = 0.2,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {attempts}")
        self._addr = addr
        self._timeout = timeout
        self._fetch_timeout = fetch_timeout
        self._has_timeout = has_timeout
        self._attempts = attempts
        self._backoff = backoff
        # Connecting is bounded separately so a dead host fails fast.
        self._client = ipfshttpclient.Client(addr, timeout=(min(5.0, timeout), timeout))

    @property
    def addr(self) -> str:
        """The RPC API multiaddr."""
        return self._addr

    def _call(self, what: str, func: Callable[[], T]) -> T:
        last: Exception | None = None
        for attempt in range(self._attempts):
            if attempt:
                time.sleep(self._backoff * 2 ** (attempt - 1))
            try:
                return func()
            except _RETRYABLE as exc:
                last = exc
            except ipfs_errors.ErrorResponse:
                raise
            except ipfs_errors.StatusError as exc:
                raise StorageError(f"IPFS API at {self._addr} failed {what}: {exc}") from exc
        raise StoreUnavailable(
            f"IPFS API at {self._addr} did not answer {what} after {self._attempts} attempts "
            f"(last error: {type(last).__name__}: {str(last)[:160]}); is the daemon running?"
        ) from last

    def _request(self, path: str, cid: ContentId, opts: dict[str, str], decoder: str) -> Any:
        # The public ipfshttpclient methods do not forward RPC options such as 'timeout';
        # its request layer does, over the same connection settings.
        return self._client._client.request(path, (str(cid),), opts=opts, decoder=decoder)

    def put(self, data: bytes, *, pin: bool = True) -> ContentId:
        """Add ``data`` with the fixed add options and check the daemon's CID against ours."""
        expected = compute_cid(data)
        data = bytes(data)

        def add() -> Any:
            return self._client.add(
                io.BytesIO(data),
                pin=pin,
                cid_version=ADD_CID_VERSION,
                raw_leaves=ADD_RAW_LEAVES,
                chunker=ADD_CHUNKER,
                trickle=ADD_TRICKLE,
            )

        try:
            reply = self._call("add", add)
        except ipfs_errors.ErrorResponse as exc:
            raise StorageError(f"IPFS API at {self._addr} refused add: {exc}") from exc
        actual = ContentId.parse(reply["Hash"])
        if actual != expected:
            raise IntegrityError(
                f"IPFS API at {self._addr} stored the object as {actual}, expected {expected}: "
                "the daemon ignored the add options (cid-version 1, raw-leaves false, "
                f"chunker {ADD_CHUNKER}, balanced layout)"
            )
        return actual

    def get(self, cid: ContentId, *, max_size: int | None = None) -> bytes:
        """Fetch ``cid`` (``cat``) and return the bytes only if they hash to ``cid``.

        With ``max_size`` the daemon is asked for at most ``max_size + 1`` bytes, so an
        oversized object costs no more than that to refuse.
        """
        opts = {"timeout": _duration(self._fetch_timeout)}
        if max_size is not None:
            opts["length"] = str(max_size + 1)
        try:
            data = self._call("cat", lambda: self._request("/cat", cid, opts, "none"))
        except ipfs_errors.ErrorResponse as exc:
            if any(marker in str(exc) for marker in _ABSENT_MARKERS):
                raise NotFound(
                    f"{cid} was not retrievable through the IPFS API at {self._addr} "
                    f"within {self._fetch_timeout:g} s"
                ) from exc
            raise StorageError(f"IPFS API at {self._addr} failed to cat {cid}: {exc}") from exc
        if max_size is not None and len(data) > max_size:
            raise TooLarge(f"{cid} is over {max_size} bytes (IPFS API at {self._addr})")
        return verify(cid, bytes(data), f"IPFS API at {self._addr}")

    def has(self, cid: ContentId) -> bool:
        """Whether the daemon holds the root block of ``cid`` locally."""
        opts = {"offline": "true", "timeout": _duration(self._has_timeout)}
        try:
            self._call("block/stat", lambda: self._request("/block/stat", cid, opts, "json"))
        except ipfs_errors.ErrorResponse:
            return False
        return True

    def pin(self, cid: ContentId) -> None:
        """Pin ``cid`` recursively."""
        opts = {"timeout": _duration(self._fetch_timeout)}
        try:
            self._call("pin/add", lambda: self._request("/pin/add", cid, opts, "json"))
        except ipfs_errors.ErrorResponse as exc:
            raise NotFound(f"cannot pin {cid} through the IPFS API at {self._addr}: {exc}") from exc

    def unpin(self, cid: ContentId) -> None:
        """Remove the recursive pin of ``cid`` (no-op when not pinned)."""
        try:
            self._call("pin/rm", lambda: self._request("/pin/rm", cid, {}, "json"))
        except ipfs_errors.ErrorResponse as exc:
            if "not pinned" in str(exc):
                return
            raise StorageError(f"IPFS API at {self._addr} failed to unpin {cid}: {exc}") from exc

    def is_pinned(self, cid: ContentId) -> bool:
        """Whether ``cid`` is pinned recursively."""
        opts = {"type": "recursive", "timeout": _duration(self._has_timeout)}
        try:
            self._call("pin/ls", lambda: self._request("/pin/ls", cid, opts, "json"))
        except ipfs_errors.ErrorResponse:
            return False
        return True

    def _repo_size(self) -> int:
        stat = self._call("repo/stat", lambda: self._client.repo.stat())
        return int(stat["RepoSize"])

    def gc(self) -> GcResult:
        """Run the daemon's repo gc; report removed blocks and the drop in repo size."""
        before = self._repo_size()
        try:
            removed = self._call("repo/gc", lambda: self._client.repo.gc())
        except ipfs_errors.ErrorResponse as exc:
            raise StorageError(f"IPFS API at {self._addr} failed repo gc: {exc}") from exc
        after = self._repo_size()
        count = sum(1 for item in removed if not item.get("Error"))
        return GcResult(objects=count, bytes=max(0, before - after))

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def __repr__(self) -> str:
        return f"IpfsStore({self._addr!r})"
