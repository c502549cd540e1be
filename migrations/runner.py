"""Apply the numbered migration steps in order, skipping those already applied on a chain."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount
from web3 import Web3

from client.chain.deployments import DEPLOYMENTS_DIR, Deployment, read_deployments, write_deployment
from client.chain.ledger import connect
from client.chain.records import LedgerParams
from migrations import m001_deploy_ledger

# The ordered steps; each module exposes STEP and apply(w3, account, params) -> Deployment.
STEPS = (m001_deploy_ledger,)


@dataclass(frozen=True)
class StepOutcome:
    """What happened to one step: ``applied`` now, or ``skipped`` (already on chain)."""

    step: str
    action: str
    deployment: Deployment
    note: str = ""


def is_live(w3: Web3, deployment: Deployment) -> bool:
    """Whether the recorded contract still has code (a restarted Anvil loses it)."""
    code = w3.eth.get_code(Web3.to_checksum_address(deployment.address))
    return len(bytes(code)) > 0


def run_migrations(
    w3: Web3,
    account: LocalAccount,
    params: LedgerParams,
    *,
    directory: Path = DEPLOYMENTS_DIR,
    force: bool = False,
) -> list[StepOutcome]:
    """Apply every step not yet live on the chain of ``w3``; record each in the file.

    Parameters
    ----------
    w3
        A connected Web3.
    account
        Local signing account.
    params
        Ledger deployment parameters (used by steps that deploy a ledger).
    directory
        Folder of the deployments/<chainId>.json files.
    force
        Re-apply every step even if it is recorded and live.
    """
    chain_id = int(w3.eth.chain_id)
    recorded = read_deployments(chain_id, directory)
    outcomes: list[StepOutcome] = []
    for module in STEPS:
        previous = recorded.get(module.STEP)
        if previous is not None and not force and is_live(w3, previous):
            note = ""
            wanted = params.as_json()
            if previous.parameters != wanted:
                changed = sorted(k for k in wanted if previous.parameters.get(k) != wanted[k])
                note = f"recorded parameters differ in {changed}; pass --force to redeploy"
            outcomes.append(StepOutcome(module.STEP, "skipped", previous, note))
            continue
        deployment = module.apply(w3, account, params)
        write_deployment(chain_id, deployment, directory)
        reason = "forced" if force else ("code gone" if previous is not None else "new")
        outcomes.append(StepOutcome(module.STEP, "applied", deployment, reason))
    return outcomes


def deploy(
    rpc_url: str,
    account: LocalAccount,
    params: LedgerParams,
    *,
    directory: Path = DEPLOYMENTS_DIR,
    force: bool = False,
) -> Deployment:
    """Run the migrations against ``rpc_url`` and return the ledger deployment.

    Parameters
    ----------
    rpc_url
        JSON-RPC endpoint of the chain.
    account
        Local signing account.
    params
        Ledger deployment parameters.
    directory
        Folder of the deployments/<chainId>.json files.
    force
        Redeploy even when a live ledger is recorded.
    """
    outcomes = run_migrations(connect(rpc_url), account, params, directory=directory, force=force)
    for outcome in outcomes:
        if outcome.note and outcome.action == "skipped":
            print(f"note: {outcome.step}: {outcome.note}", file=sys.stderr)
    return next(o.deployment for o in outcomes if o.step == m001_deploy_ledger.STEP)
