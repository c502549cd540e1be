"""The embedded on-disk store (the default): no daemon, same CIDs as ``ipfs add``.

Layout under the store folder::

    objects/<2 hex>/<64 hex>   whole object bytes, named by the CID digest (sharded folders)
    pins/<2 hex>/<64 hex>      empty marker file per pinned object
    tmp/                       objects being written (never visible under objects/)
    lock                       inter-process lock (filelock) for pin changes, commits and gc

Writes are crash-safe: bytes go to a unique file in ``tmp/``, are fsynced, and appear under
``objects/`` only through an atomic ``os.replace`` (the folder is fsynced too).  A crash or a full
disk leaves at most a stray temporary file, which :meth:`EmbeddedStore.gc` removes once stale.
Several party processes may share one folder: the rename is atomic and every change to the pin
set or the object set happens under the same file lock, so ``gc`` never deletes an object
between its commit and its pin.
"""

from __future__ import annotations

import errno
import os
import secrets
import time
from pathlib import Path

from filelock import FileLock, Timeout

from storage.base import GcResult
from storage.cid import ContentId
from storage.errors import NotFound, StorageError, StoreFull, StoreUnavailable, TooLarge
from storage.unixfs import compute_cid, verify

_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
# A temporary file this old belongs to a writer that crashed (writes take milliseconds).
STALE_TMP_SECONDS = 3600.0
LOCK_TIMEOUT_SECONDS = 60.0


class EmbeddedStore:
    """Content-addressed objects in a local folder, shareable by several processes.

    Parameters
    ----------
    root
        The store folder (created when absent).
    durable
        fsync every object and folder change (crash-safe); ``False`` only for throw-away runs.
    """

    def __init__(self, root: str | os.PathLike[str], *, durable: bool = True) -> None:
        self._root = Path(root)
        self._objects = self._root / "objects"
        self._pins = self._root / "pins"
        self._tmp = self._root / "tmp"
        self._durable = durable
        try:
            for folder in (self._objects, self._pins, self._tmp):
                folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if exc.errno in _FULL_ERRNOS:
                raise StoreFull(f"no room to create the store at {self._root}: {exc}") from exc
            raise StorageError(f"cannot create the embedded store at {self._root}: {exc}") from exc
        self._lock = FileLock(str(self._root / "lock"), timeout=LOCK_TIMEOUT_SECONDS)

    @property
    def root(self) -> Path:
        """The store folder."""
        return self._root

    def _object_path(self, cid: ContentId) -> Path:
        name = cid.digest.hex()
        return self._objects / name[:2] / name

    def _pin_path(self, cid: ContentId) -> Path:
        name = cid.digest.hex()
        return self._pins / name[:2] / name

    def _acquire(self) -> None:
        try:
            self._lock.acquire()
        except Timeout as exc:
            raise StoreUnavailable(
                f"embedded store {self._root} stayed locked for {LOCK_TIMEOUT_SECONDS:.0f} s"
            ) from exc

    def _fsync_dir(self, folder: Path) -> None:
        if not self._durable:
            return
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _write_tmp(self, data: bytes, name: str) -> Path:
        tmp = self._tmp / f"{name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
        try:
            with open(tmp, "xb") as handle:
                handle.write(data)
                handle.flush()
                if self._durable:
                    os.fsync(handle.fileno())
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if exc.errno in _FULL_ERRNOS:
                raise StoreFull(
                    f"embedded store {self._root} is full: cannot write {len(data)} bytes "
                    f"({os.strerror(exc.errno or 0)}); nothing was stored"
                ) from exc
            raise StorageError(f"cannot write to embedded store {self._root}: {exc}") from exc
        return tmp

    def _mark_pinned(self, cid: ContentId) -> None:
        marker = self._pin_path(cid)
        try:
            marker.parent.mkdir(exist_ok=True)
            marker.touch()
        except OSError as exc:
            if exc.errno in _FULL_ERRNOS:
                raise StoreFull(f"embedded store {self._root} is full: cannot pin {cid}") from exc
            raise

    def put(self, data: bytes, *, pin: bool = True) -> ContentId:
        """Store ``data`` atomically and return its content id (see :class:`ContentStore`)."""
        cid = compute_cid(data)
        data = bytes(data)
        path = self._object_path(cid)
        tmp: Path | None = None
        # A truncated or altered copy (e.g. written by a tool that bypassed us) is replaced,
        # not trusted: putting the bytes again is how an uploader answers a "missing" claim.
        if not (path.exists() and path.stat().st_size == len(data)
                and path.read_bytes() == data):
            tmp = self._write_tmp(data, path.name)
        self._acquire()
        try:
            if tmp is not None:
                path.parent.mkdir(exist_ok=True)
                os.replace(tmp, path)
                tmp = None
                self._fsync_dir(path.parent)
            if pin:
                self._mark_pinned(cid)
        finally:
            self._lock.release()
            if tmp is not None:
                tmp.unlink(missing_ok=True)
        return cid

    def get(self, cid: ContentId, *, max_size: int | None = None) -> bytes:
        """Return the verified bytes of ``cid`` (at most ``max_size`` bytes)."""
        path = self._object_path(cid)
        try:
            if max_size is not None and path.stat().st_size > max_size:
                raise TooLarge(f"{cid} is over {max_size} bytes in the embedded store {self._root}")
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"{cid} is not in the embedded store {self._root}") from None
        return verify(cid, data, f"embedded store {self._root}")

    def has(self, cid: ContentId) -> bool:
        """Whether the object file exists."""
        return self._object_path(cid).exists()

    def pin(self, cid: ContentId) -> None:
        """Pin a held object."""
        self._acquire()
        try:
            if not self._object_path(cid).exists():
                raise NotFound(f"cannot pin {cid}: it is not in the embedded store {self._root}")
            self._mark_pinned(cid)
        finally:
            self._lock.release()

    def unpin(self, cid: ContentId) -> None:
        """Unpin ``cid`` (no-op when not pinned)."""
        self._acquire()
        try:
            self._pin_path(cid).unlink(missing_ok=True)
        finally:
            self._lock.release()

    def is_pinned(self, cid: ContentId) -> bool:
        """Whether ``cid`` has a pin marker."""
        return self._pin_path(cid).exists()

    def gc(self) -> GcResult:
        """Delete unpinned objects and stale temporary files; report objects and bytes freed."""
        removed = 0
        freed = 0
        self._acquire()
        try:
            for shard in self._objects.iterdir():
                for path in shard.iterdir():
                    if (self._pins / shard.name / path.name).exists():
                        continue
                    size = path.stat().st_size
                    path.unlink()
                    removed += 1
                    freed += size
            horizon = time.time() - STALE_TMP_SECONDS
            for tmp in self._tmp.iterdir():
                stat = tmp.stat()
                if stat.st_mtime < horizon:
                    tmp.unlink(missing_ok=True)
                    freed += stat.st_size
        finally:
            self._lock.release()
        return GcResult(objects=removed, bytes=freed)

    def close(self) -> None:
        """Nothing to release: every operation opens and closes its own files."""

    def __repr__(self) -> str:
        return f"EmbeddedStore({str(self._root)!r})"
