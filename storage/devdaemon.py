"""Start an isolated, offline IPFS daemon (js-ipfs from node_modules, or Kubo) for tests/benches.

The daemon gets its own repository in a given folder, the ``test`` profile, no swarm addresses
and no bootstrap peers (js-ipfs never becomes ready otherwise), and its API on a free port of
127.0.0.1.  It is not meant for production: a party points at its own long-running daemon.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from storage.errors import StoreUnavailable

_PROJECT_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_SECONDS = 90.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the child before exec: on Linux, ask the kernel to SIGTERM the daemon when the
    # process that started it dies, so a killed test run leaves no orphaned daemon behind.
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def jsipfs_binary() -> Path | None:
    """Return the js-ipfs CLI (``node_modules/.bin/jsipfs``), or ``None`` if not installed."""
    override = os.environ.get("FPPDL_JSIPFS")
    path = Path(override) if override else _PROJECT_ROOT / "node_modules" / ".bin" / "jsipfs"
    return path if path.exists() else None


def kubo_binary() -> Path | None:
    """Return a Kubo ``ipfs`` binary on PATH, or ``None``."""
    found = shutil.which("ipfs")
    return Path(found) if found else None


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalDaemon:
    """An offline IPFS daemon in an isolated repository; use as a context manager.

    Parameters
    ----------
    binary
        ``jsipfs`` or Kubo ``ipfs`` executable.
    repo
        Folder for the repository (created when absent; an existing one is reused, so a
        restarted daemon keeps what it stored).
    api_port
        TCP port of the RPC API on 127.0.0.1 (default: a free one).
    """

    def __init__(self, binary: Path, repo: Path, api_port: int | None = None) -> None:
        self._binary = binary
        self._repo = Path(repo)
        self._process: subprocess.Popen[bytes] | None = None
        self._log = self._repo.parent / f"{self._repo.name}.daemon.log"
        self._wanted_port = api_port
        self.api_port = 0

    @property
    def repo(self) -> Path:
        """The daemon's repository folder."""
        return self._repo

    @property
    def log(self) -> Path:
        """The daemon's log file (beside the repository)."""
        return self._log

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The running daemon process, if any."""
        return self._process

    @property
    def api(self) -> str:
        """The RPC API multiaddr."""
        return f"/ip4/127.0.0.1/tcp/{self.api_port}/http"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["IPFS_PATH"] = str(self._repo)
        return env

    def _configure(self) -> None:
        config_path = self._repo / "config"
        config = json.loads(config_path.read_text())
        addresses = config.setdefault("Addresses", {})
        self.api_port = self._wanted_port or free_port()
        addresses["API"] = f"/ip4/127.0.0.1/tcp/{self.api_port}"
        addresses["Gateway"] = f"/ip4/127.0.0.1/tcp/{free_port()}"
        addresses["Swarm"] = []
        if "RPC" in addresses:  # js-ipfs only: its gRPC-over-websocket endpoint
            addresses["RPC"] = f"/ip4/127.0.0.1/tcp/{free_port()}"
        config["Bootstrap"] = []
        config_path.write_text(json.dumps(config, indent=2))

    def _ready(self) -> bool:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.api_port}/api/v0/id", method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=2.0) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def start(self) -> str:
        """Initialise the repository, start the daemon and wait until its API answers.

        Returns
        -------
        str
            The RPC API multiaddr.
        """
        self._repo.parent.mkdir(parents=True, exist_ok=True)
        if not (self._repo / "config").is_file():
            subprocess.run(
                [str(self._binary), "init", "--profile", "test"],
                env=self._env(),
                check=True,
                capture_output=True,
                timeout=120,
            )
        self._configure()
        with open(self._log, "wb") as log:
            self._process = subprocess.Popen(
                [str(self._binary), "daemon", "--offline"],
                env=self._env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if self._ready():
                return self.api
            time.sleep(0.2)
        tail = self._log.read_text(errors="replace")[-2000:]
        self.stop()
        raise StoreUnavailable(f"{self._binary.name} daemon did not become ready:\n{tail}")

    def stop(self) -> None:
        """Stop the daemon (SIGINT, then SIGKILL after 15 s)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def __enter__(self) -> LocalDaemon:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
