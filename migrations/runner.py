"""Apply the numbered migration steps in order, skipping those already applied on a chain."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from client.chain.compile import load_artifact
from client.chain.deployments import (
    DEPLOYMENTS_DIR,
    Deployment,
    abi_hash,
    read_deployments,
    write_deployment,
)
from client.chain.errors import LedgerError
from client.chain.ledger import connect, transport
from client.chain.records import LedgerParams
from migrations import m001_deploy_ledger

# The ordered steps; each module exposes STEP and apply(w3, account, params) -> Deployment.
STEPS = (m001_deploy_ledger,)


class ParametersDiffer(LedgerError, ValueError):
    """A live deployment is recorded with other parameters; redeploying needs ``force``.

    Attributes
    ----------
    step
        The migration step.
    address
        Address of the recorded, live deployment.
    differences
        ``{field: (recorded, wanted)}`` for every user-chosen parameter that differs.
    """

    def __init__(self, step: str, address: str, differences: dict[str, tuple[Any, Any]]) -> None:
        self.step = step
        self.address = address
        self.differences = dict(differences)
        shown = ", ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in
                          ((k, *v) for k, v in sorted(self.differences.items())))
        super().__init__(
            f"{step}: the ledger recorded at {address} has other parameters ({shown}); "
            "pass --force to deploy a new one"
        )


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

    Raises
    ------
    ParametersDiffer
        A step is recorded and live with parameters that differ from ``params`` on what a
        user chooses (phase lengths, quorum, sizes, admission...; never the absolute
        registration deadline), and ``force`` is not set.
    """
    with transport(w3):
        chain_id = int(w3.eth.chain_id)
        block = int(w3.eth.block_number)
    recorded = read_deployments(chain_id, directory)
    outcomes: list[StepOutcome] = []
    wanted = params.relative_to(block)
    for module in STEPS:
        previous = recorded.get(module.STEP)
        with transport(w3):
            live = previous is not None and is_live(w3, previous)
        if previous is not None and not force and live:
            current_abi = abi_hash(load_artifact(previous.contract).abi)
            if previous.abi_hash != current_abi:
                # Another contract version: its parameters are not comparable field by field.
                raise ParametersDiffer(
                    module.STEP, previous.address, {"abi_hash": (previous.abi_hash, current_abi)}
                )
            differences = previous.ledger_params().differences(wanted)
            if differences:
                raise ParametersDiffer(module.STEP, previous.address, differences)
            outcomes.append(StepOutcome(module.STEP, "skipped", previous))
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
