"""Start and stop a local Anvil devnet (Foundry), and move its chain forward in tests.

The binary comes from the npm package ``@foundry-rs/anvil`` (node_modules). Anvil listens on
127.0.0.1 on a free port. Its funded dev accounts are for tests and local demos only.

A devnet can outlive its process: with ``state=PATH`` Anvil loads the chain (blocks, receipts,
logs, the genesis hash) from ``PATH`` when it exists and writes it back when it stops, which is
how an interrupted demo or ``consortium up`` resumes on the same chain.
"""

from __future__ import annotations

import ctypes
import json
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from web3 import HTTPProvider, Web3
from web3.types import RPCEndpoint

from client.errors import FppdlError

_PR_SET_PDEATHSIG = 1

REPO_ROOT = Path(__file__).resolve().parents[2]
ANVIL_BINARY = REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
DEFAULT_CHAIN_ID = 31337
# Matches the contracts' evmVersion; newer forks would also run the code.
DEFAULT_HARDFORK = "cancun"


class AnvilError(FppdlError, OSError):
    """Anvil could not be started or did not answer."""


def _die_with_parent() -> None:
    # Runs in the child before exec: the kernel sends SIGTERM (on which Anvil writes its state
    # file) when the process that started it dies, so a killed run leaves no orphan behind.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class AnvilNode:
    """A running Anvil process.

    Attributes
    ----------
    rpc_url
        HTTP JSON-RPC endpoint.
    chain_id
        Chain id of the devnet.
    dev_private_keys
        Hex private keys of the funded dev accounts (tests and local demos only).
    """

    rpc_url: str
    chain_id: int
    dev_private_keys: tuple[str, ...]
    process: subprocess.Popen[bytes] = field(repr=False)

    def web3(self) -> Web3:
        """Return a new Web3 connected to this node."""
        return Web3(HTTPProvider(self.rpc_url, request_kwargs={"timeout": 60}))

    def mine(self, blocks: int = 1) -> None:
        """Mine ``blocks`` empty blocks."""
        self.web3().provider.make_request(RPCEndpoint("anvil_mine"), [hex(blocks)])

    def increase_time(self, seconds: int) -> None:
        """Advance the timestamp of the next block by ``seconds``."""
        self.web3().provider.make_request(RPCEndpoint("evm_increaseTime"), [seconds])

    def snapshot(self) -> str:
        """Take an EVM snapshot; return its id for :meth:`revert`."""
        response = self.web3().provider.make_request(RPCEndpoint("evm_snapshot"), [])
        return str(response["result"])

    def revert(self, snapshot_id: str) -> None:
        """Revert the chain to ``snapshot_id`` (which is consumed)."""
        response = self.web3().provider.make_request(RPCEndpoint("evm_revert"), [snapshot_id])
        if not response.get("result"):
            raise AnvilError(f"evm_revert({snapshot_id}) failed: {response}")

    def block_number(self) -> int:
        """Return the latest block number."""
        return int(self.web3().eth.block_number)

    def stop(self, timeout: float = 30.0) -> None:
        """Terminate the process and wait for it (it writes its state file, if any)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_anvil(
    *,
    port: int | None = None,
    chain_id: int = DEFAULT_CHAIN_ID,
    accounts: int = 20,
    hardfork: str = DEFAULT_HARDFORK,
    binary: Path = ANVIL_BINARY,
    startup_timeout: float = 20.0,
    state: Path | None = None,
    block_time: int = 0,
) -> AnvilNode:
    """Start Anvil on 127.0.0.1 and wait until it answers JSON-RPC.

    Parameters
    ----------
    port
        TCP port; a free one is chosen when omitted.
    chain_id
        Chain id of the devnet.
    accounts
        Number of funded dev accounts.
    hardfork
        EVM hardfork name.
    binary
        Path of the anvil executable.
    startup_timeout
        Seconds to wait for the first successful ``eth_chainId``.
    state
        State file: loaded when it exists, written when Anvil stops (``anvil --state``). Anvil
        then runs in a session of its own, so a terminal's Ctrl-C reaches only the caller,
        which stops it (and so writes the state) after whatever used the chain.
    block_time
        Mine a block every ``block_time`` seconds (interval mining; 0: on each transaction).
    """
    if not binary.is_file():
        raise AnvilError(f"anvil binary not found at {binary}: run `npm ci` (make setup)")
    chosen = port if port is not None else free_port()
    config_dir = Path(tempfile.mkdtemp(prefix="fppdl-anvil-"))
    config_out = config_dir / "anvil.json"
    command = [
        str(binary),
        "--host", "127.0.0.1",
        "--port", str(chosen),
        "--chain-id", str(chain_id),
        "--accounts", str(accounts),
        "--hardfork", hardfork,
        "--config-out", str(config_out),
        "--silent",
    ]
    if state is not None:
        command += ["--state", str(state)]
    if block_time > 0:
        command += ["--block-time", str(block_time)]
    log = (config_dir / "anvil.log").open("wb")
    if state is not None:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, preexec_fn=_die_with_parent)
    else:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    rpc_url = f"http://127.0.0.1:{chosen}"
    deadline = time.monotonic() + startup_timeout
    w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": 2}))
    while True:
        if process.poll() is not None:
            raise AnvilError(
                f"anvil exited with {process.returncode}: {(config_dir / 'anvil.log').read_text()}"
            )
        try:
            if w3.eth.chain_id == chain_id and config_out.is_file():
                keys = json.loads(config_out.read_text())["private_keys"]
                break
        except Exception:  # noqa: BLE001 - not listening yet, or config half-written
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise AnvilError(f"anvil did not answer on {rpc_url} within {startup_timeout}s")
        time.sleep(0.05)
    return AnvilNode(rpc_url, chain_id, tuple(keys), process)


class Anvil:
    """Context manager running Anvil for the duration of a ``with`` block."""

    def __init__(self, **kwargs: object) -> None:
        self._kwargs = kwargs
        self._node: AnvilNode | None = None

    def __enter__(self) -> AnvilNode:
        self._node = start_anvil(**self._kwargs)  # type: ignore[arg-type]
        return self._node

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._node is not None:
            self._node.stop()
