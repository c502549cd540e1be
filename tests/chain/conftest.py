"""Helpers for the ledger suite: consortia built on a fresh ledger."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from client.chain.anvil import AnvilNode
from client.chain.ledger import Ledger

KEY = bytes(range(32))
DIGEST = b"\x11" * 32


def digest(i: int) -> bytes:
    """A distinct nonzero 32-byte digest."""
    return (i + 1).to_bytes(32, "big")


@dataclass
class Consortium:
    """A deployed ledger and one signing handle per party."""

    ledgers: list[Ledger]
    accounts: list[LocalAccount]
    node: AnvilNode

    @property
    def addresses(self) -> list[str]:
        return [a.address for a in self.accounts]

    def others(self, i: int) -> list[str]:
        return [a for j, a in enumerate(self.addresses) if j != i]

    def __getitem__(self, i: int) -> Ledger:
        return self.ledgers[i]

    def start_round(self) -> None:
        """Everyone votes to close the current epoch, so the next round opens."""
        for ledger in self.ledgers:
            ledger.close_round()

    def full_round(self, amount: int = 10) -> None:
        """Every party requests `amount` from every other party and serves every request."""
        for i, ledger in enumerate(self.ledgers):
            ledger.request_downloads(self.others(i), [amount] * (len(self.ledgers) - 1))
        for i, ledger in enumerate(self.ledgers):
            digests = [digest(j) for j in range(len(self.ledgers) - 1)]
            ledger.upload_ciphertexts(self.others(i), digests)


ConsortiumFactory = Callable[..., Consortium]


@pytest.fixture
def consortium(
    fresh_ledger: Callable[..., Ledger], dev_accounts: list[LocalAccount], anvil: AnvilNode
) -> ConsortiumFactory:
    node = anvil
    """Factory: deploy, register ``n`` parties with ``sizes``/``released``, optionally close."""

    def factory(
        n: int = 4,
        *,
        sizes: list[int] | None = None,
        released: list[int] | None = None,
        close: bool = True,
        start: bool = False,
        first_account: int = 1,
        **overrides: Any,
    ) -> Consortium:
        overrides.setdefault("min_parties", 2)
        overrides.setdefault("max_parties", max(n, 2))
        # Short registration, so a consortium below maxParties can close after mining a little.
        overrides.setdefault("registration_blocks", 2 * n + 2)
        base = fresh_ledger(**overrides)
        accounts = dev_accounts[first_account : first_account + n]
        ledgers = [base.with_account(a) for a in accounts]
        sizes = sizes or [1000 * (i + 1) for i in range(n)]
        released = released or [100 * (i + 1) for i in range(n)]
        for i, ledger in enumerate(ledgers):
            ledger.register(KEY, sizes[i], released[i], digest(i))
        c = Consortium(ledgers, list(accounts), anvil)
        if close:
            if n < base.parameters().max_parties:
                node.mine(max(0, base.parameters().registration_deadline - base.block_number()))
            ledgers[0].close_registration()
        if start:
            c.start_round()
        return c

    return factory
