"""Helpers for the ledger suite: consortia built on a fresh ledger."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from client.chain.anvil import AnvilNode
from client.chain.ledger import Ledger

# A valid X25519 public key (not of small order) and a hybrid X25519 || ML-KEM-768 one.
KEY = bytes(range(32))
HYBRID_KEY = KEY + bytes(range(256)) * 4 + bytes(160)
DIGEST = b"\x11" * 32
assert len(HYBRID_KEY) == 1216


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

    def held(self) -> int:
        """Sum over parties of every points bucket (equals totalPoints once minted)."""
        return sum(self[0].points_of(a).total for a in self.addresses)

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
        # Most tests exercise single-uploader requests; tests of the rule set it themselves.
        overrides.setdefault("min_uploaders", 1)
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


# Test-only contracts, compiled by the pinned solc (through the same launcher) per session:
# a party that is itself a contract, to reach the deposit-refund revert paths.
HELPER_SOURCE = """
// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

interface ILedger {
    function register(bytes calldata k, uint64 d, uint64 u, bytes32 s) external payable;
    function withdrawDeposit() external;
}

/// A party contract: refuses ETH (mode 0), or re-enters withdrawDeposit once (mode 1).
contract ContractParty {
    uint8 public mode;
    uint256 public reentryFailures;
    constructor(uint8 m) { mode = m; }
    function join(address ledger, bytes calldata key, uint64 d, uint64 u) external payable {
        ILedger(ledger).register{value: msg.value}(key, d, u, bytes32(uint256(1)));
    }
    function leave(address ledger) external { ILedger(ledger).withdrawDeposit(); }
    receive() external payable {
        if (mode == 0) revert("no thanks");
        try ILedger(msg.sender).withdrawDeposit() { } catch { reentryFailures += 1; }
    }
}

/// Answers every call with empty return data, like an account that is not a ledger.
contract Silent {
    fallback() external payable { }
}
"""


@dataclass(frozen=True)
class HelperContracts:
    """ABIs and bytecode of the test-only contracts."""

    artifacts: dict[str, tuple[list[Any], str]]

    def deploy(self, w3: Any, account: LocalAccount, name: str, *args: Any) -> Any:
        """Deploy ``name`` signed by ``account``; return a web3 contract handle."""
        abi, bytecode = self.artifacts[name]
        factory = w3.eth.contract(abi=abi, bytecode=bytecode)
        tx = factory.constructor(*args).build_transaction(
            {"from": account.address,
             "nonce": w3.eth.get_transaction_count(account.address, "pending")}
        )
        tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
        return w3.eth.contract(address=receipt["contractAddress"], abi=abi)


@pytest.fixture(scope="session")
def helper_contracts(tmp_path_factory: pytest.TempPathFactory) -> HelperContracts:
    """Compile the test-only helper contracts once per session."""
    import solcx

    from client.chain import compile as chain_compile

    wrapper = chain_compile.write_npm_launcher(tmp_path_factory.mktemp("solc"))
    out = solcx.compile_standard(
        chain_compile.standard_input({"Helpers.sol": HELPER_SOURCE}), solc_binary=wrapper
    )
    contracts = out["contracts"]["Helpers.sol"]
    return HelperContracts({
        name: (data["abi"], "0x" + data["evm"]["bytecode"]["object"])
        for name, data in contracts.items()
    })


def send(w3: Any, account: LocalAccount, fn: Any, value: int = 0) -> Any:
    """Sign and send a call of a helper contract; return its receipt."""
    tx = fn.build_transaction(
        {"from": account.address, "value": value, "gas": 1_000_000,
         "nonce": w3.eth.get_transaction_count(account.address, "pending")}
    )
    tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    return w3.eth.wait_for_transaction_receipt(tx_hash)
