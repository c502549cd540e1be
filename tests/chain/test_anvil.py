"""The Anvil helper and the binding's phase waiting."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from client.chain.anvil import Anvil, AnvilError, free_port, start_anvil
from client.chain.ledger import PhaseTimeout, connect
from client.chain.records import Phase


def test_context_manager_starts_and_stops(tmp_path):
    with Anvil(accounts=3, chain_id=4242) as node:
        w3 = connect(node.rpc_url)
        assert w3.eth.chain_id == 4242 and len(node.dev_private_keys) == 3
        assert node.rpc_url.startswith("http://127.0.0.1:")
        before = node.block_number()
        node.mine(5)
        assert node.block_number() == before + 5
        stamp = w3.eth.get_block("latest")["timestamp"]
        node.increase_time(3600)
        node.mine(1)
        assert w3.eth.get_block("latest")["timestamp"] >= stamp + 3600
        snap = node.snapshot()
        node.mine(3)
        node.revert(snap)
        assert node.block_number() == before + 6
    assert node.process.poll() is not None  # stopped


def test_missing_binary_is_a_named_error(tmp_path):
    with pytest.raises(AnvilError, match="npm ci"):
        start_anvil(binary=Path(tmp_path / "anvil"))


def test_busy_port_is_a_named_error(anvil):
    port = int(anvil.rpc_url.rsplit(":", 1)[1])
    with pytest.raises(AnvilError):
        start_anvil(port=port, startup_timeout=5)
    assert free_port() != port


def test_wait_for_phase_follows_the_chain(consortium):
    c = consortium(3, close=False)
    seen: list[tuple[Phase, int]] = []
    watcher = threading.Thread(
        target=lambda: seen.append(c[1].wait_for_phase(
            lambda phase, _round: phase is Phase.BENCHMARKING, timeout_s=30, poll_s=0.05)),
    )
    watcher.start()
    c[0].close_registration()
    watcher.join(timeout=30)
    assert seen == [(Phase.BENCHMARKING, 0)]
    with pytest.raises(PhaseTimeout, match="BENCHMARKING"):
        c[1].wait_for_phase(lambda phase, _round: phase is Phase.SETTLE, timeout_s=0.3)
