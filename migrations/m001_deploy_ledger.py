"""Step 001: deploy the ConsortiumLedger with the given parameters."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from web3 import Web3

from client.chain.compile import load_artifact
from client.chain.deployments import Deployment, abi_hash
from client.chain.errors import LEDGER_CONTRACT
from client.chain.ledger import Ledger
from client.chain.records import LedgerParams

STEP = "001_deploy_ledger"
CONTRACT = LEDGER_CONTRACT


def apply(w3: Web3, account: LocalAccount, params: LedgerParams) -> Deployment:
    """Deploy the ledger and return its record.

    Parameters
    ----------
    w3
        A connected Web3.
    account
        Local signing account paying for the deployment.
    params
        Ledger deployment parameters.
    """
    ledger, receipt = Ledger.deploy(w3, account, params)
    # Record what the chain holds (the registration length and absolute deadline it derived),
    # so later runs compare against the deployed facts, not against what was asked.
    return Deployment(
        step=STEP,
        contract=CONTRACT,
        address=ledger.address,
        block_number=receipt.block_number,
        tx_hash=receipt.tx_hash,
        abi_hash=abi_hash(load_artifact(CONTRACT).abi),
        parameters=ledger.parameters().as_json(),
    )
