"""Everything that only makes sense on a local devnet (Anvil or Hardhat), in one place.

The dev key, funding party accounts, mining blocks on demand and switching to interval mining.
The protocol never imports this module: a party on a real network only signs transactions and
waits for blocks. The in-process scheduler, the demo and the tests use it to run a consortium
on a devnet faster than real time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import RPCEndpoint

from client.errors import FppdlError

#: Anvil's (and Hardhat's) first dev key, derived from their public default mnemonic. Anyone
#: knows it: it funds demos and tests on devnets and must never hold value anywhere else.
DEV_KEY: Final = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
#: Chain ids on which the dev key and the dev-only RPC methods below may be used.
DEVNET_CHAIN_IDS: Final[tuple[int, ...]] = (31337,)
#: Gas money each party account gets from the devnet funder (far more than a run spends).
PARTY_FUNDING_WEI: Final = 10**20


class DevnetError(FppdlError, RuntimeError):
    """The node refused a devnet-only request (it is not Anvil or Hardhat)."""


def is_devnet(chain_id: int) -> bool:
    """Return whether ``chain_id`` is a local devnet's."""
    return chain_id in DEVNET_CHAIN_IDS


def fund(w3: Web3, funder: LocalAccount, recipients: Sequence[str], wei: int) -> None:
    """Send ``wei`` from ``funder`` to each recipient (signed locally) and wait for them."""
    nonce = w3.eth.get_transaction_count(funder.address, "pending")
    chain_id = int(w3.eth.chain_id)
    fee = 2 * int(w3.eth.gas_price) + 1
    hashes = []
    for offset, address in enumerate(recipients):
        tx: dict[str, Any] = {
            "to": address,
            "value": wei,
            "gas": 21_000,
            "nonce": nonce + offset,
            "chainId": chain_id,
            "maxFeePerGas": fee,
            "maxPriorityFeePerGas": 1,
        }
        signed = funder.sign_transaction(tx)
        hashes.append(w3.eth.send_raw_transaction(signed.raw_transaction))
    for tx_hash in hashes:
        w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)


def set_balance(w3: Web3, address: str, wei: int) -> None:
    """Set ``address``'s ether balance (``anvil_setBalance`` / ``hardhat_setBalance``)."""
    checksummed = Web3.to_checksum_address(address)
    for method in ("anvil_setBalance", "hardhat_setBalance"):
        response = w3.provider.make_request(RPCEndpoint(method), [checksummed, hex(wei)])
        if "error" not in response:
            return
    raise DevnetError("the node is not an Anvil or Hardhat devnet (setBalance refused)")


def mine(w3: Web3, blocks: int) -> None:
    """Mine ``blocks`` empty blocks on a devnet (Anvil or Hardhat)."""
    if blocks <= 0:
        return
    for method in ("anvil_mine", "hardhat_mine"):
        response = w3.provider.make_request(RPCEndpoint(method), [hex(blocks)])
        if "error" not in response:
            return
    for _ in range(blocks):
        w3.provider.make_request(RPCEndpoint("evm_mine"), [])


def node_kind(w3: Web3) -> str:
    """Return ``"hardhat"``, ``"anvil"`` or ``"other"`` from the node's ``web3_clientVersion``."""
    response = w3.provider.make_request(RPCEndpoint("web3_clientVersion"), [])
    version = str(response.get("result", "")).lower()
    if version.startswith("hardhatnetwork"):
        return "hardhat"
    if version.startswith("anvil"):
        return "anvil"
    return "other"


def _request(w3: Web3, method: str, params: list[Any], what: str) -> Any:
    response = w3.provider.make_request(RPCEndpoint(method), params)
    if "error" in response:
        raise DevnetError(f"the node refused {what} ({method}): {response['error']}")
    return response.get("result")


def set_interval_mining(w3: Web3, seconds: int) -> None:
    """Mine a block every ``seconds`` and no longer on each transaction (``seconds`` > 0).

    ``evm_setIntervalMining`` takes milliseconds on Hardhat and seconds on Anvil (as viem's
    ``setIntervalMining`` converts it); both stop automining only when told to.
    """
    if seconds <= 0:
        raise DevnetError(f"interval mining needs a positive interval, got {seconds}")
    kind = node_kind(w3)
    interval = seconds * 1000 if kind == "hardhat" else seconds
    _request(w3, "evm_setAutomine", [False], "switching off automining")
    _request(w3, "evm_setIntervalMining", [interval], "interval mining")


def set_next_base_fee(w3: Web3, wei: int) -> None:
    """Set the base fee of the next block (``hardhat_`` / ``anvil_setNextBlockBaseFeePerGas``)."""
    for method in ("hardhat_setNextBlockBaseFeePerGas", "anvil_setNextBlockBaseFeePerGas"):
        response = w3.provider.make_request(RPCEndpoint(method), [hex(wei)])
        if "error" not in response:
            return
    raise DevnetError("the node is not an Anvil or Hardhat devnet (setNextBlockBaseFee refused)")


def drop_transaction(w3: Web3, tx_hash: str) -> bool:
    """Remove a pending transaction from the node's pool; return whether it was there."""
    for method in ("hardhat_dropTransaction", "anvil_dropTransaction"):
        response = w3.provider.make_request(RPCEndpoint(method), [tx_hash])
        if "error" not in response:
            return bool(response.get("result"))
    raise DevnetError("the node is not an Anvil or Hardhat devnet (dropTransaction refused)")
