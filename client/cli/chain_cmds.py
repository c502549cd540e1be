"""``fppdl chain up|fund``, ``fppdl deploy`` and ``fppdl consortium up``."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from client.access import NodeError, open_chain
from client.chain.anvil import start_anvil
from client.chain.deployments import DEPLOYMENTS_DIR, deployments_file
from client.chain.devnet import (
    DEV_KEY,
    PARTY_FUNDING_WEI,
    fund,
    is_devnet,
    set_balance,
    set_interval_mining,
)
from client.chain.ledger import Ledger
from client.chain.records import LedgerParams
from client.compose import PartySettings, deploy_ledger, deployment_parameters, model_size
from client.keystore import (
    SIGNING_KEY_FILE,
    PasswordSource,
    create_keystore,
    keystore_address,
    load_identity,
)
from client.node import STATE_DIR, NodeSettings, save_settings
from client.protocol.state import PartyState
from client.shards import make_shards, write_shard
from migrations.runner import run_migrations
from trainer.constants import party_seed


def cmd_chain_up(args: argparse.Namespace) -> int:
    """``fppdl chain up``."""
    node = start_anvil(port=args.port)
    try:
        set_interval_mining(node.web3(), args.block_time)
        print(f"Anvil listening at {node.rpc_url} (chain id {node.chain_id})")
        mining = f"every {args.block_time}s" if args.block_time else "on each transaction"
        print(f"blocks mined {mining}")
        print("funded dev accounts (public dev keys: devnet only, never on a real chain):")
        for key in node.dev_private_keys[:5]:
            print(f"  {Account.from_key(key).address}  {key}")
        print("Ctrl-C stops the chain", flush=True)
        while node.process.poll() is None:
            time.sleep(0.5)
        raise NodeError(f"anvil exited with code {node.process.returncode}")
    except KeyboardInterrupt:
        print("\nstopping Anvil")
        return 0
    finally:
        node.stop()


def cmd_chain_fund(args: argparse.Namespace) -> int:
    """``fppdl chain fund``."""
    w3 = open_chain(args.rpc_url)
    if not Web3.is_address(args.address):
        raise NodeError(f"{args.address!r} is not an Ethereum address")
    address = Web3.to_checksum_address(args.address)
    set_balance(w3, address, args.ether * 10**18)
    print(f"{address} now holds {args.ether} ether on chain {int(w3.eth.chain_id)}")
    return 0


def _deployer(args: argparse.Namespace, chain_id: int) -> LocalAccount:
    if args.keystore:
        password = PasswordSource(args.password_env, args.password_file).read()
        return load_identity(args.keystore, password).account
    if args.private_key_env:
        key = os.environ.get(args.private_key_env, "").strip()
        if not key:
            raise NodeError(f"environment variable {args.private_key_env} is unset or empty")
        try:
            account: LocalAccount = Account.from_key(key)
        except (ValueError, TypeError):
            raise NodeError(f"{args.private_key_env} does not hold a valid private key") from None
        return account
    if not is_devnet(chain_id):
        raise NodeError(f"--dev uses a public dev key; chain {chain_id} is not a devnet")
    return Account.from_key(DEV_KEY)


def cmd_deploy(args: argparse.Namespace) -> int:
    """``fppdl deploy``."""
    w3 = open_chain(args.rpc_url)
    chain_id = int(w3.eth.chain_id)
    account = _deployer(args, chain_id)
    params = LedgerParams(
        model_size=model_size(args.model), min_parties=args.min_parties,
        max_parties=args.max_parties, min_uploaders=args.min_uploaders, rounds=args.rounds,
        registration_blocks=args.registration_blocks,
        benchmark_blocks=args.benchmark_blocks, request_blocks=args.request_blocks,
        upload_blocks=args.upload_blocks, settle_blocks=args.settle_blocks,
    )
    directory = args.deployments_dir or DEPLOYMENTS_DIR
    outcomes = run_migrations(w3, account, params, directory=directory,
                              force=args.force)
    for o in outcomes:
        print(f"{o.step}: {o.action} {o.deployment.contract} at {o.deployment.address}"
              + (f" ({o.note})" if o.note else ""))
    print(f"deployments file: {deployments_file(chain_id, directory)}")
    return 0


def _phase_blocks(text: str) -> tuple[int, int, int, int]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or min(values) < 1:
        raise NodeError(f"--phase-blocks needs four positive integers, got {text!r}")
    return (values[0], values[1], values[2], values[3])


def cmd_consortium_up(args: argparse.Namespace) -> int:
    """``fppdl consortium up``: separate processes coordinating only via chain and store."""
    blocks = _phase_blocks(args.phase_blocks)
    if args.parties < 2:
        raise NodeError("a consortium needs at least 2 parties")
    folder: Path = args.out or Path("runs") / (
        "consortium-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    )
    if folder.exists() and any(folder.iterdir()):
        raise NodeError(f"run folder {folder} is not empty; choose another --out")
    folder.mkdir(parents=True, exist_ok=True)
    shards = make_shards(parties=args.parties, setting=args.setting, per_party=args.per_party,
                         seed=args.seed, test_size=args.test_size, mnist_dir=args.data_dir)
    node = start_anvil()
    children: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]] = []
    try:
        w3 = open_chain(node.rpc_url)
        set_interval_mining(w3, args.block_time)
        print(f"Anvil at {node.rpc_url}, a block every {args.block_time}s", flush=True)
        funder = Account.from_key(node.dev_private_keys[0])
        shared = PartySettings(model=args.model, rounds=args.rounds,
                               init_seed=args.seed).consortium()
        if args.parties < 3:
            print("warning: with 2 parties every received sum is the other party's update: "
                  "the sums hide nothing (minUploaders is set to 1)", flush=True)
        params = deployment_parameters(
            model_size=model_size(args.model), parties=args.parties, blocks=blocks,
            settings=shared, registration_blocks=1800,
            min_uploaders=1 if args.parties < 3 else None,
        )
        ledger, _block = deploy_ledger(w3, funder, params, directory=folder / "deployments")
        print(f"ledger deployed at {ledger.address}", flush=True)
        password_file = folder / "password"
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(18) + "\n")
        password = password_file.read_text().strip().encode()
        store = f"embedded:{(folder / 'store').resolve()}"
        addresses = []
        for i, shard in enumerate(shards):
            party_dir = folder / f"party{i}"
            shard_file = party_dir / "shard.npz"
            write_shard(shard_file, shard)
            identity = create_keystore(party_dir, password, kdf_log2_n=args.kdf_cost)
            party = PartySettings(
                model=args.model, rounds=args.rounds, local_epochs=args.local_epochs,
                pretrain_epochs=args.pretrain_epochs, dpgan_epochs=args.dpgan_epochs,
                dpgan_width=args.dpgan_width, seed=party_seed(args.seed, i),
                init_seed=args.seed,
            )
            save_settings(party_dir, NodeSettings(
                name=f"party{i}", data=str(shard_file.resolve()), rpc_url=node.rpc_url,
                ledger=ledger.address, store=store, party=party,
            ))
            addresses.append(identity.address)
        fund(w3, funder, addresses, PARTY_FUNDING_WEI)
        for i in range(args.parties):
            party_dir = folder / f"party{i}"
            log = (party_dir / "party.log").open("wb")
            command = [sys.executable, "-m", "client.cli", "party", "run", str(party_dir),
                       "--password-file", str(password_file)]
            # Own session: a terminal Ctrl-C reaches only this supervisor, which forwards it.
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            children.append((f"party{i}", proc, log))
            print(f"party{i} ({addresses[i]}): pid {proc.pid}, log {party_dir / 'party.log'}",
                  flush=True)
        codes = _wait_all(children)
        summary = _summary(folder, w3, ledger.address)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping the parties (their state is saved)", file=sys.stderr)
        _stop_all(children)
        raise
    finally:
        _stop_all(children)
        node.stop()
    failed = {name: code for name, code in codes.items() if code != 0}
    for line in summary:
        print(line)
    if failed:
        raise NodeError(f"parties failed: {', '.join(sorted(failed))} (see their party.log)")
    print(f"consortium finished; run folder {folder}")
    return 0


def _summary(folder: Path, w3: Web3, ledger_address: str) -> list[str]:
    """Write the ledger as an auditor sees it to ``ledger.json``; one line per party."""
    from client.cli.inspect import snapshot

    data = snapshot(Ledger(w3, ledger_address))
    (folder / "ledger.json").write_text(json.dumps(data, indent=2) + "\n")
    lines = []
    for row in data["parties"]:
        name = next(
            (d.name for d in sorted(folder.glob("party*"))
             if (d / SIGNING_KEY_FILE).is_file() and keystore_address(d) == row["address"]),
            row["address"],
        )
        state = PartyState.load(folder / name / STATE_DIR)
        accuracy = [f"{r['accuracy']:.4f}" for r in state.records]
        lines.append(f"{name}: {row['status']}, points {row['points']['balance']}, "
                     f"accuracy per round {', '.join(accuracy) or '-'}")
    lines.append(f"ledger state written to {folder / 'ledger.json'}")
    return lines


def _wait_all(children: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]]) -> dict[str, int]:
    codes: dict[str, int] = {}
    while len(codes) < len(children):
        for name, proc, _log in children:
            if name not in codes and proc.poll() is not None:
                codes[name] = int(proc.returncode)
                print(f"{name} finished (exit {proc.returncode})", flush=True)
        time.sleep(0.5)
    return codes


def _stop_all(children: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]]) -> None:
    for _name, proc, _log in children:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 15
    for _name, proc, log in children:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


__all__ = ["cmd_chain_fund", "cmd_chain_up", "cmd_consortium_up", "cmd_deploy", "model_size"]
