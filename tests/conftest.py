"""Session-wide test configuration shared by every suite.

Fixtures for chain tests (any suite may use them):

- ``anvil``: ONE Anvil devnet for the whole session, started lazily on first use, on
  127.0.0.1 with a free port, stopped at the end. It has ``rpc_url``, ``chain_id`` and
  ``dev_private_keys`` (funded dev keys: tests only).
- ``dev_accounts``: those keys as eth-account ``LocalAccount`` objects.
- ``fresh_ledger``: a factory deploying a new ledger per call, so tests never share state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from client.chain.anvil import AnvilNode, start_anvil
from client.chain.ledger import Ledger, connect
from client.chain.records import LedgerParams

# Enough funded accounts for the largest consortium the tests build (maxParties 30 + spares).
DEV_ACCOUNTS = 40
TEST_MODEL_SIZE = 140_106  # the authors' MLP 1024-128-64-10


@pytest.fixture(scope="session")
def anvil() -> Iterator[AnvilNode]:
    """The session's Anvil devnet."""
    node = start_anvil(accounts=DEV_ACCOUNTS)
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def dev_accounts(anvil: AnvilNode) -> list[LocalAccount]:
    """Funded dev accounts of the session's Anvil (tests only)."""
    return [Account.from_key(k) for k in anvil.dev_private_keys]


LedgerFactory = Callable[..., Ledger]


@pytest.fixture
def fresh_ledger(anvil: AnvilNode, dev_accounts: list[LocalAccount]) -> LedgerFactory:
    """Factory deploying a fresh ledger; returns a Ledger signing with the deployer.

    Call as ``fresh_ledger(registration_blocks=..., deployer=0, **param_overrides)``:
    ``registration_blocks`` sets the deadline relative to the current block, the overrides
    replace fields of :class:`LedgerParams` (``model_size`` defaults to 140,106).
    Use ``ledger.with_account(dev_accounts[i])`` to act as another party.
    """
    w3 = connect(anvil.rpc_url)

    def factory(
        *, registration_blocks: int = 1_000, deployer: int = 0, **overrides: Any
    ) -> Ledger:
        fields: dict[str, Any] = {"model_size": TEST_MODEL_SIZE}
        fields.update(overrides)
        if "registration_deadline" not in overrides:
            fields["registration_deadline"] = int(w3.eth.block_number) + registration_blocks
        ledger, _ = Ledger.deploy(w3, dev_accounts[deployer], LedgerParams(**fields))
        return ledger

    return factory
