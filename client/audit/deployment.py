"""Check a ``deployments/<chainId>.json`` record against the chain.

Checked: address, transaction, block, code, ABI and parameters.

The record is untrusted input like everything else. The deployed code is compared with the
build's artifact byte for byte outside the immutables (the zero ``PUSH32`` placeholders of the
artifact's runtime code, where the compiler writes each immutable at deployment), and each
immutable must hold a value the deployment explains: a parameter, the allowlist length, the
settings digest or the claims module's address.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from eth_utils import keccak, to_checksum_address

from client.audit.model import Violation, ViolationKind
from client.audit.replay import Replay
from client.chain.compile import load_artifact
from client.chain.deployments import Deployment, DeploymentRecordError, abi_hash
from client.chain.errors import LEDGER_CONTRACT, ChainUnavailable
from client.chain.ledger import Ledger, transport
from client.chain.records import LedgerParams

#: Largest deployments file read.
MAX_RECORD_BYTES = 1 << 20
_PUSH1, _PUSH32 = 0x60, 0x7F
MODULE_CONTRACT = "ClaimsModule"


def immutable_slots(code: bytes) -> list[int]:
    """Return the offsets of the 32-byte zero immediates of ``PUSH32`` in runtime ``code``."""
    out: list[int] = []
    i = 0
    while i < len(code):
        op = code[i]
        if _PUSH1 <= op <= _PUSH32:
            width = op - _PUSH1 + 1
            if op == _PUSH32 and code[i + 1 : i + 33] == bytes(32):
                out.append(i + 1)
            i += 1 + width
        else:
            i += 1
    return out


def code_problem(chain: bytes, artifact: bytes, allowed: set[int]) -> str:
    """Return how deployed code differs from the artifact beyond its immutables (``""``: no)."""
    if len(chain) != len(artifact):
        return f"{len(chain)} bytes of code, the build's runtime code has {len(artifact)}"
    slots = immutable_slots(artifact)
    covered = bytearray(len(artifact))
    for start in slots:
        covered[start : start + 32] = b"\x01" * 32
    for i, (a, b) in enumerate(zip(chain, artifact, strict=True)):
        if a != b and not covered[i]:
            return f"code differs from the build at byte {i}"
    odd = sorted({int.from_bytes(chain[s : s + 32], "big") for s in slots} - allowed)
    if odd:
        return f"{len(odd)} immutables hold values no parameter explains (first 0x{odd[0]:x})"
    return ""


def _values(params: LedgerParams, extra: Iterable[int]) -> set[int]:
    return {int(v) for v in params.as_tuple()} | set(extra) | {0}


def _code(ledger: Ledger, address: str, block: int) -> bytes:
    with transport(ledger.w3, address):
        return bytes(ledger.w3.eth.get_code(to_checksum_address(address), block))


def _read_record(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_RECORD_BYTES:
            raise DeploymentRecordError(f"{path} is larger than {MAX_RECORD_BYTES} bytes")
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise DeploymentRecordError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise DeploymentRecordError(f"{path} is not a JSON object")
    return data


def check_deployment(
    ledger: Ledger, path: Path, replay: Replay, block: int
) -> tuple[dict[str, Any], list[Violation]]:
    """Check the record file ``path`` against the chain; return facts found and violations."""
    kind = ViolationKind.DEPLOYMENT_RECORD_MISMATCH
    out: list[Violation] = []
    facts: dict[str, Any] = {"file": str(path)}

    def bad(detail: str) -> None:
        out.append(Violation(kind, f"{path.name}: {detail}", block, "", (ledger.address,)))

    try:
        data = _read_record(path)
        chain_id = int(ledger.w3.eth.chain_id)
        if data.get("chainId") != chain_id:
            bad(f"chainId {data.get('chainId')!r}, the node is chain {chain_id}")
        steps = data.get("steps")
        if not isinstance(steps, dict):
            raise DeploymentRecordError("no 'steps' object")
        records = [Deployment.from_json(str(step), dict(rec)) for step, rec in steps.items()
                   if isinstance(rec, dict) and rec.get("contract") == LEDGER_CONTRACT]
    except (DeploymentRecordError, TypeError, ValueError) as exc:
        bad(f"malformed record ({str(exc)[:200]})")
        return facts, out
    if not records:
        bad("records no ConsortiumLedger deployment")
        return facts, out
    record = next((r for r in records if r.address.lower() == ledger.address.lower()),
                  max(records, key=lambda r: r.block_number))
    facts.update(step=record.step, address=record.address, block=record.block_number,
                 tx=record.tx_hash)
    if record.address.lower() != ledger.address.lower():
        bad(f"records the ledger at {record.address}, the audited ledger is {ledger.address}")
        return facts, out
    _check_transaction(ledger, record, replay, bad)
    artifact = load_artifact(LEDGER_CONTRACT)
    if record.abi_hash != abi_hash(artifact.abi):
        bad(f"abiHash {record.abi_hash[:16]}... is not the build's {abi_hash(artifact.abi)[:16]}"
            "...")
    _check_code(ledger, record, block, facts, bad)
    try:
        recorded = LedgerParams.from_json(record.parameters).as_json()
    except (KeyError, TypeError, ValueError) as exc:
        bad(f"malformed parameters ({str(exc)[:200]})")
        return facts, out
    try:
        on_chain = ledger.parameters().as_json()
    except ChainUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - a ledger that cannot say is a mismatch
        bad(f"parameters() cannot be read: {type(exc).__name__}")
        return facts, out
    for name in sorted(set(recorded) | set(on_chain)):
        mine, theirs = recorded.get(name), on_chain.get(name)
        if name == "allowlist" and isinstance(mine, list) and isinstance(theirs, list):
            mine, theirs = [a.lower() for a in mine], [a.lower() for a in theirs]
        if mine != theirs:
            bad(f"parameter {name} recorded as {mine!r}, the chain has {theirs!r}")
    return facts, out


def _check_transaction(ledger: Ledger, record: Deployment, replay: Replay, bad: Any) -> None:
    try:
        with transport(ledger.w3, ledger.address):
            receipt = ledger.w3.eth.get_transaction_receipt(record.tx_hash)  # type: ignore[arg-type]
    except ChainUnavailable:
        raise
    except Exception:  # noqa: BLE001 - an unknown or malformed hash
        bad(f"txHash {record.tx_hash} is no transaction of this chain")
        return
    created = receipt.get("contractAddress")
    if int(receipt.get("status", 0)) != 1 or created is None or (
            str(created).lower() != record.address.lower()):
        bad(f"transaction {record.tx_hash} did not create {record.address}")
    if int(receipt.get("blockNumber", -1)) != record.block_number:
        bad(f"blockNumber {record.block_number}, the deployment was mined in block "
            f"{receipt.get('blockNumber')}")
    if replay.deploy_block is not None and (replay.deploy_block != record.block_number
                                            or replay.deploy_tx != record.tx_hash.lower()):
        bad(f"the ledger's LedgerDeployed event is in block {replay.deploy_block}, "
            f"transaction {replay.deploy_tx}")


def _check_code(
    ledger: Ledger, record: Deployment, block: int, facts: dict[str, Any], bad: Any
) -> None:
    try:
        params = ledger.parameters()
        module = ledger.claims_module()
        digest = int.from_bytes(ledger.settings_digest(), "big")
        code = _code(ledger, record.address, block)
        module_code = _code(ledger, module, block)
    except ChainUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - not readable: not the ledger the record says
        bad(f"the ledger's code or views cannot be read: {type(exc).__name__}")
        return
    facts.update(code_hash="0x" + keccak(code).hex(), code_size=len(code),
                 claims_module=module, claims_module_code_hash="0x" + keccak(module_code).hex())
    if not code:
        bad(f"no code at {record.address}")
        return
    module_int = int(module, 16)
    allowed = _values(params, (len(params.allowlist), digest, module_int))
    ledger_art = bytes.fromhex(load_artifact(LEDGER_CONTRACT).deployed_bytecode.removeprefix("0x"))
    problem = code_problem(code, ledger_art, allowed)
    if problem:
        bad(f"ledger code: {problem}")
    module_art = bytes.fromhex(load_artifact(MODULE_CONTRACT).deployed_bytecode.removeprefix("0x"))
    problem = code_problem(module_code, module_art, _values(params, (module_int,)))
    if problem:
        bad(f"claims module code: {problem}")
