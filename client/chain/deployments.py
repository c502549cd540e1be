"""Per-chain deployment records: deployments/<chainId>.json.

The file maps each applied migration step to what it deployed (address, block, ABI hash,
parameters). Anvil chains are ephemeral, so the folder is gitignored and a record whose
contract has no code on the chain any more is treated as not applied.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from client.chain.errors import LedgerError
from client.chain.records import LedgerParams

DEPLOYMENTS_DIR = Path(__file__).resolve().parents[2] / "deployments"


class DeploymentRecordError(LedgerError):
    """A deployments file is malformed or names no such step."""


@dataclass(frozen=True)
class Deployment:
    """One applied deployment step."""

    step: str
    contract: str
    address: str
    block_number: int
    tx_hash: str
    abi_hash: str
    parameters: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object stored under the step's name."""
        return {
            "contract": self.contract,
            "address": self.address,
            "blockNumber": self.block_number,
            "txHash": self.tx_hash,
            "abiHash": self.abi_hash,
            "parameters": self.parameters,
        }

    @classmethod
    def from_json(cls, step: str, data: dict[str, Any]) -> Deployment:
        """Parse the JSON object stored under ``step``."""
        try:
            return cls(
                step=step,
                contract=str(data["contract"]),
                address=str(data["address"]),
                block_number=int(data["blockNumber"]),
                tx_hash=str(data["txHash"]),
                abi_hash=str(data["abiHash"]),
                parameters=dict(data["parameters"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DeploymentRecordError(f"malformed record for step {step!r}: {exc}") from exc

    def ledger_params(self) -> LedgerParams:
        """Return the recorded parameters as :class:`LedgerParams`.

        Records written before a parameter existed get its default.
        """
        try:
            return LedgerParams.from_json(self.parameters)
        except (KeyError, TypeError, ValueError) as exc:
            raise DeploymentRecordError(
                f"malformed parameters for step {self.step!r}: {exc}"
            ) from exc


def abi_hash(abi: list[dict[str, Any]]) -> str:
    """SHA-256 of the canonical JSON of ``abi`` (detects interface changes between deploys)."""
    canonical = json.dumps(abi, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def deployments_file(chain_id: int, directory: Path = DEPLOYMENTS_DIR) -> Path:
    """Path of the record file of ``chain_id``."""
    return directory / f"{chain_id}.json"


def read_deployments(chain_id: int, directory: Path = DEPLOYMENTS_DIR) -> dict[str, Deployment]:
    """All recorded steps of ``chain_id`` (empty when no file exists)."""
    path = deployments_file(chain_id, directory)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DeploymentRecordError(f"{path} is not valid JSON: {exc}") from exc
    steps = data.get("steps", {})
    return {step: Deployment.from_json(step, record) for step, record in steps.items()}


def write_deployment(
    chain_id: int, deployment: Deployment, directory: Path = DEPLOYMENTS_DIR
) -> Path:
    """Record ``deployment`` for ``chain_id`` (atomic replace under a file lock)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = deployments_file(chain_id, directory)
    with FileLock(str(path) + ".lock"):
        data: dict[str, Any] = {"chainId": chain_id, "steps": {}}
        if path.is_file():
            data = json.loads(path.read_text())
        data.setdefault("steps", {})[deployment.step] = deployment.to_json()
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        tmp.replace(path)
    return path


def ledger_deployment(chain_id: int, directory: Path = DEPLOYMENTS_DIR) -> Deployment:
    """Return the most recent recorded ConsortiumLedger deployment on ``chain_id``."""
    ledgers = [d for d in read_deployments(chain_id, directory).values()
               if d.contract == "ConsortiumLedger"]
    if not ledgers:
        raise DeploymentRecordError(
            f"no ledger recorded for chain {chain_id} in {deployments_file(chain_id, directory)}; "
            "run `python -m migrations` first"
        )
    return max(ledgers, key=lambda d: d.block_number)
