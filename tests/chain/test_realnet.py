"""The ledger's send path on chains that mine on their own clock, as a real network does.

A Hardhat node and an Anvil node, each switched to interval mining (one block a second, no
automine), run a small piece of the protocol (deployment, two registrations, closing
registration, both votes that close the benchmarking epoch) with two confirmations per
transaction, while the harness injects the faults of a real network into the party's
transactions: a base-fee rise that leaves a sent transaction unincludable (the client must
bump and replace it, and the replacement counts as sent), a transaction dropped from the
node's pool (the client must send it again), and the nonce taken by another transaction of
the same key (the client must build the call again on a fresh nonce). The harness uses the
devnet-only methods (``*_setNextBlockBaseFeePerGas``, ``*_dropTransaction``,
``evm_setIntervalMining``) to inject them; the client code under test uses none.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from hexbytes import HexBytes
from web3 import HTTPProvider, Web3
from web3.types import RPCEndpoint

from client.chain.anvil import free_port, start_anvil
from client.chain.devnet import (
    DevnetError,
    drop_transaction,
    node_kind,
    set_interval_mining,
    set_next_base_fee,
)
from client.chain.ledger import Ledger, TransactionFailed, TxPolicy, TxPolicyError, suggest_fees
from client.chain.records import LedgerParams, Phase, Receipt

REPO = Path(__file__).resolve().parents[2]
HARDHAT = REPO / "node_modules" / ".bin" / "hardhat"
KEY = bytes(range(32))
#: Two confirmations, and a stuck transaction replaced after 2 s (blocks come every second).
POLICY = TxPolicy(confirmations=2, replace_after_s=2.0, inclusion_timeout_s=60.0, poll_s=0.1)


class RecordingProvider(HTTPProvider):
    """An HTTP provider that remembers the hash of every raw transaction it sends."""

    def __init__(self, url: str) -> None:
        super().__init__(url, request_kwargs={"timeout": 30})
        self.sent: list[str] = []
        self._lock = threading.Lock()

    def make_request(self, method: RPCEndpoint, params: Any) -> Any:  # noqa: D102
        response = super().make_request(method, params)
        if method == "eth_sendRawTransaction" and "error" not in response:
            with self._lock:  # recorded once the node holds it
                self.sent.append("0x" + keccak(HexBytes(params[0])).hex())
        return response

    def wait_sent(self, count: int, timeout: float = 20.0) -> str:
        """Wait until ``count`` raw transactions were sent; return the last one's hash."""
        deadline = time.monotonic() + timeout
        while len(self.sent) < count:
            assert time.monotonic() < deadline, f"only {len(self.sent)} transactions sent"
            time.sleep(0.02)
        return self.sent[count - 1]


class Node:
    """A devnet switched to interval mining, with the harness's fault injections."""

    def __init__(self, url: str, keys: list[str]) -> None:
        self.provider = RecordingProvider(url)
        self.w3 = Web3(self.provider)
        self.accounts = [Account.from_key(k) for k in keys]
        self.kind = node_kind(self.w3)

    def rpc(self, method: str, *params: Any) -> Any:
        response = self.w3.provider.make_request(RPCEndpoint(method), list(params))
        assert "error" not in response, response
        return response.get("result")

    def pause(self) -> None:
        """Stop mining (the harness holds a sent transaction in the pool)."""
        self.rpc("evm_setIntervalMining", 0)

    def resume(self) -> None:
        set_interval_mining(self.w3, 1)

    def in_background(self, call: Callable[[], Receipt]) -> Callable[[], Receipt]:
        """Run ``call`` in a thread; return a function that joins it and returns its result."""
        out: dict[str, Any] = {}

        def target() -> None:
            try:
                out["receipt"] = call()
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                out["error"] = exc

        thread = threading.Thread(target=target, daemon=True)
        thread.start()

        def join() -> Receipt:
            thread.join(timeout=90)
            assert not thread.is_alive(), "the transaction never became final"
            if "error" in out:
                raise out["error"]
            return out["receipt"]  # type: ignore[no-any-return]

        return join


def _start_hardhat(log: Path) -> tuple[subprocess.Popen[bytes], str, list[str]]:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(HARDHAT), "node", "--hostname", "127.0.0.1", "--port", str(port)], cwd=REPO,
            env={**os.environ, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true"}, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        keys = re.findall(r"Private Key: (0x[0-9a-f]{64})", log.read_text(errors="replace"))
        if len(keys) >= 4 and _answers(url):
            return proc, url, keys[:4]
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.3)


def _answers(url: str) -> bool:
    try:
        return bool(Web3(HTTPProvider(url, request_kwargs={"timeout": 2})).eth.chain_id)
    except Exception:  # noqa: BLE001 - not listening yet
        return False


@pytest.fixture(scope="module", params=["hardhat", "anvil"])
def node(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    """A Hardhat or an Anvil devnet mining one block a second on its own clock."""
    if request.param == "hardhat":
        proc, url, keys = _start_hardhat(tmp_path_factory.mktemp("hardhat") / "node.log")
        try:
            devnet = Node(url, keys)
            devnet.resume()
            yield devnet
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    else:
        anvil = start_anvil(accounts=4)
        try:
            devnet = Node(anvil.rpc_url, list(anvil.dev_private_keys))
            devnet.resume()
            yield devnet
        finally:
            anvil.stop()


def test_interval_mining_makes_a_block_a_second(node: Node) -> None:
    # evm_setIntervalMining takes milliseconds on Hardhat and seconds on Anvil: one block a
    # second either way (1 ms would make hundreds, 1,000 s none).
    start = int(node.w3.eth.block_number)
    time.sleep(3.5)
    made = int(node.w3.eth.block_number) - start
    assert 2 <= made <= 5, f"{made} blocks in 3.5 s on {node.kind}"
    with pytest.raises(DevnetError):
        set_interval_mining(node.w3, 0)


def test_fees_come_from_the_node(node: Node) -> None:
    fees = suggest_fees(node.w3)
    base = int(node.w3.eth.get_block("latest")["baseFeePerGas"])
    assert fees["maxFeePerGas"] >= base + fees["maxPriorityFeePerGas"]
    assert fees["maxPriorityFeePerGas"] > 0
    capped = suggest_fees(node.w3, TxPolicy(max_fee_wei=7))
    assert capped["maxFeePerGas"] == 7 and capped["maxPriorityFeePerGas"] <= 7
    with pytest.raises(TxPolicyError, match="confirmations"):
        TxPolicy(confirmations=-1)


def test_protocol_piece_survives_fee_rise_drop_and_taken_nonce(node: Node) -> None:
    deployer, alice, bob = node.accounts[:3]
    w3 = node.w3
    params = LedgerParams(model_size=100, max_parties=2, min_parties=2, min_uploaders=1,
                          registration_blocks=200, benchmark_blocks=200)
    ledger, receipt = Ledger.deploy(w3, deployer, params, policy=POLICY)
    assert int(w3.eth.block_number) >= receipt.block_number + 2  # confirmed before returning
    a, b = ledger.with_account(alice), ledger.with_account(bob)

    # 1. A base-fee rise after sending: alice's registration cannot be included at its fees;
    # the client reads the fees again, replaces it, and the replacement counts as sent.
    node.pause()
    before = len(node.provider.sent)
    join = node.in_background(lambda: a.register(KEY, 10, 5, b"\x01" * 32))
    first = node.provider.wait_sent(before + 1)
    base = int(w3.eth.get_block("latest")["baseFeePerGas"])
    set_next_base_fee(w3, 50 * base)  # > twice the base fee the first version was priced at
    node.resume()
    registered = join()
    assert registered.tx_hash != first, "the underpriced first version cannot have landed"
    assert registered.tx_hash in node.provider.sent[before + 1:]
    assert int(w3.eth.get_block(registered.block_number)["baseFeePerGas"]) > 2 * base
    assert int(w3.eth.block_number) >= registered.block_number + 2

    # 2. A dropped transaction: bob's registration leaves the pool; the client sends it again.
    node.pause()
    before = len(node.provider.sent)
    join = node.in_background(lambda: b.register(KEY, 10, 5, b"\x02" * 32))
    dropped = node.provider.wait_sent(before + 1)
    assert drop_transaction(w3, dropped)
    node.provider.wait_sent(before + 2)  # sent again once the client saw it gone
    node.resume()
    assert join().tx_hash == dropped  # the very same signed bytes, now included
    assert set(ledger.parties()) == {alice.address, bob.address}

    # 3. The nonce taken by another program using alice's key: the call is built again.
    node.pause()
    before = len(node.provider.sent)
    join = node.in_background(a.close_registration)
    first = node.provider.wait_sent(before + 1)
    pending = w3.eth.get_transaction(HexBytes(first))
    other = alice.sign_transaction({
        "to": alice.address, "value": 0, "gas": 21_000, "nonce": pending["nonce"],
        "chainId": int(w3.eth.chain_id), "maxFeePerGas": 3 * pending["maxFeePerGas"],
        "maxPriorityFeePerGas": 3 * pending["maxPriorityFeePerGas"],
    })
    w3.eth.send_raw_transaction(other.raw_transaction)
    node.resume()
    closed = join()
    assert closed.tx_hash != first
    assert w3.eth.get_transaction(HexBytes(closed.tx_hash))["nonce"] == pending["nonce"] + 1
    assert ledger.phase() is Phase.BENCHMARKING

    # Both vote to close the benchmarking epoch; the chain's own clock confirms them.
    for party in (a, b):
        voted = party.close_round()
        assert int(w3.eth.block_number) >= voted.block_number + 2
    assert ledger.current_round() == 1 and ledger.phase() is Phase.REQUEST


def test_no_new_blocks_is_a_one_line_error(node: Node) -> None:
    account = node.accounts[3]
    params = LedgerParams(model_size=100, max_parties=2, min_parties=2, min_uploaders=1,
                          registration_blocks=200)
    ledger, _ = Ledger.deploy(node.w3, account, params)
    node.pause()
    try:
        stuck = ledger.with_policy(TxPolicy(inclusion_timeout_s=1.5, replace_after_s=0.5,
                                            max_replacements=1, poll_s=0.1))
        with pytest.raises(TransactionFailed) as info:
            stuck.register(KEY, 10, 5, b"\x03" * 32)
        message = str(info.value)
        assert "\n" not in message and "was not included within 2s after 1 fee bumps" in message
    finally:
        node.resume()
    # the pool still holds it, so it lands on the chain's clock after all
    deadline = time.monotonic() + 30
    while account.address not in ledger.parties():
        assert time.monotonic() < deadline, "the timed-out transaction was lost"
        time.sleep(0.2)
