"""Compiler toolchains: the solc launcher, idempotent builds, Hardhat parity, Hardhat devnet."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import solcx
from eth_account import Account

from client.chain import compile as chain_compile
from client.chain.anvil import free_port
from client.chain.ledger import Ledger, connect
from client.chain.records import LedgerParams, Phase

REPO = Path(__file__).resolve().parents[2]
HARDHAT = REPO / "node_modules" / ".bin" / "hardhat"
HARDHAT_ENV = {**os.environ, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true"}


def test_launcher_speaks_native_solc(tmp_path):
    wrapper = chain_compile.write_npm_launcher(tmp_path)
    version = subprocess.run([str(wrapper), "--version"], capture_output=True, text=True,
                             check=True).stdout
    assert re.search(r"Version: 0\.8\.30\+commit\.[0-9a-f]+", version)
    assert str(solcx.wrapper.get_solc_version(wrapper)) == "0.8.30"
    source = "// SPDX-License-Identifier: MIT\npragma solidity 0.8.30;\ncontract T { }\n"
    out = solcx.compile_standard(
        chain_compile.standard_input({"T.sol": source}), solc_binary=wrapper
    )
    assert out["contracts"]["T.sol"]["T"]["evm"]["bytecode"]["object"]
    bad = subprocess.run([str(wrapper), "--bin"], capture_output=True, text=True)
    assert bad.returncode == 2 and "only --version and --standard-json" in bad.stderr


def test_compile_errors_are_reported(tmp_path, monkeypatch):
    wrapper = chain_compile.write_npm_launcher(tmp_path)
    broken = "pragma solidity 0.8.30;\ncontract B { function f() { } }\n"
    with pytest.raises(solcx.exceptions.SolcError):
        solcx.compile_standard(chain_compile.standard_input({"B.sol": broken}),
                               solc_binary=wrapper)


def test_build_is_idempotent_and_complete():
    chain_compile.compile_contracts()
    artifact_file = chain_compile.ARTIFACTS_DIR / "ConsortiumLedger.json"
    stamp = artifact_file.stat().st_mtime_ns
    started = time.monotonic()
    artifacts = chain_compile.compile_contracts()
    assert time.monotonic() - started < 1.0
    assert artifact_file.stat().st_mtime_ns == stamp  # nothing was rewritten
    ledger = artifacts["ConsortiumLedger"]
    assert ledger.compiler.startswith("0.8.30")
    assert ledger.bytecode.startswith("0x6") and len(ledger.deployed_bytecode) > 1000
    assert artifacts["IConsortiumLedger"].bytecode == "0x"
    data = json.loads(artifact_file.read_text())
    assert {"abi", "bytecode", "deployedBytecode", "storageLayout"} <= set(data)


def test_deployed_code_fits_the_eip170_limit():
    for name in ("ConsortiumLedger", "ClaimsModule"):
        code = chain_compile.load_artifact(name).deployed_bytecode
        assert (len(code) - 2) // 2 <= 24_576, name  # public networks refuse larger contracts
    # EIP-3860: the ledger's init code (which creates the module) stays under 49,152 bytes.
    assert (len(chain_compile.load_artifact("ConsortiumLedger").bytecode) - 2) // 2 <= 49_152


def _layout(name: str) -> list[tuple[str, str, int, str]]:
    layout = chain_compile.load_artifact(name).storage_layout
    types = layout["types"]
    return [(v["label"], v["slot"], v["offset"], types[v["type"]]["label"])
            for v in layout["storage"]]


def test_claims_module_shares_the_ledger_storage_layout():
    # The module runs by delegatecall on the ledger's storage: both must see the same slots.
    ledger, module = _layout("ConsortiumLedger"), _layout("ClaimsModule")
    assert ledger == module and len(ledger) > 20
    assert ("_accounts", "2", 0, "mapping(address => struct LedgerBase.Account)") in ledger


def test_hot_party_state_is_packed_in_one_slot():
    layout = chain_compile.load_artifact("ConsortiumLedger").storage_layout
    types = layout["types"]
    for struct in ("Account", "Membership"):
        label = f"struct LedgerBase.{struct}"
        (key,) = [k for k, v in types.items() if v.get("label") == label]
        assert types[key]["numberOfBytes"] == "32", struct
        assert {m["slot"] for m in types[key]["members"]} == {"0"}


@pytest.fixture(scope="module")
def hardhat_build() -> Path:
    subprocess.run([str(HARDHAT), "compile", "--quiet"], cwd=REPO, env=HARDHAT_ENV, check=True,
                   capture_output=True, timeout=180)
    return REPO / "build" / "hardhat" / "artifacts" / "contracts"


def test_hardhat_and_solcx_give_identical_bytecode(hardhat_build):
    chain_compile.compile_contracts()
    ours = chain_compile.load_artifact("ConsortiumLedger")
    path = hardhat_build / "ConsortiumLedger.sol" / "ConsortiumLedger.json"
    theirs = json.loads(path.read_text())
    # Same compiler, settings and source unit names: even the metadata hash matches.
    assert theirs["bytecode"] == ours.bytecode
    assert theirs["deployedBytecode"] == ours.deployed_bytecode
    assert theirs["abi"] == ours.abi


def test_ledger_runs_on_hardhat_node():
    port = free_port()
    proc = subprocess.Popen(
        [str(HARDHAT), "node", "--hostname", "127.0.0.1", "--port", str(port)],
        cwd=REPO, env=HARDHAT_ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        keys: list[str] = []
        deadline = time.monotonic() + 60
        assert proc.stdout is not None
        while len(keys) < 3 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            keys += re.findall(r"Private Key: (0x[0-9a-f]{64})", line)
        assert len(keys) == 3, "hardhat node did not print its dev keys"
        w3 = connect(f"http://127.0.0.1:{port}")
        accounts = [Account.from_key(k) for k in keys]
        params = LedgerParams(model_size=100, max_parties=2, min_parties=2, min_uploaders=1,
                              registration_deadline=int(w3.eth.block_number) + 50)
        ledger, _ = Ledger.deploy(w3, accounts[0], params)
        for i, account in enumerate(accounts[1:]):
            ledger.with_account(account).register(b"k" * 32, 10, 5, bytes([i + 1]) * 32)
        ledger.close_registration()
        assert ledger.phase() is Phase.BENCHMARKING
        assert ledger.points_of(accounts[1].address).balance == 5 * 100 * 1 // 10
    finally:
        proc.terminate()
        proc.wait(timeout=20)
