"""Opening a chain and a ledger for the CLI, with errors that name what is wrong.

Light on purpose (web3 only): the auditor's ``fppdl inspect`` needs nothing else.
"""

from __future__ import annotations

from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3

from client.chain.ledger import Ledger, connect
from client.errors import FppdlError


class NodeError(FppdlError, RuntimeError):
    """A party node cannot do what was asked (the message says what to fix)."""


class ChainUnavailable(NodeError):
    """No JSON-RPC node answers at the given URL."""


class NoContract(NodeError):
    """The given address holds no contract on the chain."""


class NotALedgerContract(NodeError):
    """The contract at the given address does not answer as a ConsortiumLedger."""


def check_address(address: str, what: str = "ledger address") -> ChecksumAddress:
    """Return ``address`` checksummed, or raise a one-line error naming ``what``."""
    if not Web3.is_address(address):
        raise NodeError(f"{what} {address!r} is not an Ethereum address (0x + 40 hex digits)")
    return Web3.to_checksum_address(address)


def open_chain(rpc_url: str) -> Web3:
    """Connect to ``rpc_url`` and check that a node answers there."""
    if not rpc_url:
        raise NodeError("no RPC URL configured: pass --rpc-url")
    w3 = connect(rpc_url, timeout_s=30)
    try:
        w3.eth.chain_id  # noqa: B018 - the probe
    except Exception:  # noqa: BLE001 - any transport failure means the same to the user
        raise ChainUnavailable(f"no JSON-RPC node answers at {rpc_url}") from None
    return w3


def open_ledger(w3: Web3, address: str, account: Any = None) -> Ledger:
    """Return a handle on the ledger at ``address``, after checking a contract lives there."""
    if not address:
        raise NodeError("no ledger address configured: pass --ledger ADDRESS")
    checksummed = check_address(address)
    chain_id = int(w3.eth.chain_id)
    if len(bytes(w3.eth.get_code(checksummed))) == 0:
        raise NoContract(f"no contract at {checksummed} on chain {chain_id}")
    ledger = Ledger(w3, checksummed, account)
    try:
        ledger.parameters()
    except Exception:  # noqa: BLE001 - any failure of the probe means the same to the user
        raise NotALedgerContract(
            f"the contract at {checksummed} on chain {chain_id} is not a ConsortiumLedger"
        ) from None
    return ledger
