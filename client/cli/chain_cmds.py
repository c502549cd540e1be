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
from typing import IO, Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from client.access import NodeError, open_chain
from client.chain.anvil import start_anvil
from client.chain.deployments import (
    DEPLOYMENTS_DIR,
    deployments_file,
)
from client.chain.devnet import (
    DEV_KEY,
    PARTY_FUNDING_WEI,
    fund,
    is_devnet,
    set_balance,
)
from client.chain.ledger import Ledger
from client.chain.records import Admission, LedgerParams
from client.cli.output import clock
from client.cli.parser import ENV_LEDGER, ENV_RPC_URL, build_parser
from client.cli.report import finite, print_results, write_plots
from client.cli.runs import (
    CHAIN_STATE_FILE,
    folder_results,
    merge_recorded,
    open_run_folder,
    write_run,
    write_secret,
)
from client.compose import PartySettings, deploy_ledger, deployment_parameters, model_size
from client.keystore import (
    SIGNING_KEY_FILE,
    PasswordSource,
    create_keystore,
    keystore_address,
    load_identity,
)
from client.node import NodeSettings, save_settings
from client.progress import blocks_text, phase_name, seconds_per_block
from client.shards import make_shards, write_shard
from migrations.m001_deploy_ledger import STEP as LEDGER_STEP
from migrations.runner import ParametersDiffer, run_migrations
from trainer.constants import party_seed

#: The line `chain up` and `ipfs up` print once they serve (``--detach`` waits for it).
CHAIN_READY = "Ctrl-C stops the chain"
IPFS_READY = "Ctrl-C stops the daemon"
#: Blocks by which a recorded registration length may fall short of the one asked for.
REGISTRATION_SLACK = 3
#: Seconds ``--detach`` waits for the background service to be ready.
DETACH_TIMEOUT_SECONDS = 120.0
#: The flags of ``consortium up`` recorded in ``run.json`` (a resumed run keeps them).
CONSORTIUM_RECORDED = ("parties", "rounds", "setting", "per_party", "test_size", "model",
                       "local_epochs", "pretrain_epochs", "dpgan_epochs", "dpgan_width", "seed",
                       "data_dir", "block_time", "phase_blocks", "kdf_cost")


def _rpc_url(args: argparse.Namespace) -> str:
    if not args.rpc_url:
        raise NodeError(f"no RPC URL: pass --rpc-url or set {ENV_RPC_URL}")
    return str(args.rpc_url)


def _detach(args: argparse.Namespace, ready_marker: str, what: str) -> int:
    """Run this very command again in the background and return once it is ready."""
    argv = [a for a in getattr(args, "argv", sys.argv[1:]) if a != "--detach"]
    log_path: Path = args.log
    log = log_path.open("wb")
    # Own session: the shell that started it may exit or be interrupted; `kill -INT PID`
    # stops it cleanly (its Ctrl-C path).
    proc = subprocess.Popen([sys.executable, "-m", "client.cli", *argv], stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    log.close()
    deadline = time.monotonic() + DETACH_TIMEOUT_SECONDS
    while True:
        text = log_path.read_text(errors="replace") if log_path.is_file() else ""
        if ready_marker in text:
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.kill()
            tail = [ln for ln in text.splitlines() if ln.strip()][-1:] or ["no output"]
            raise NodeError(f"the {what} did not start ({tail[0]}); see {log_path}")
        time.sleep(0.2)
    args.pid_file.write_text(f"{proc.pid}\n")
    for line in text.splitlines():
        if ready_marker not in line:
            print(line)
    print(f"{what} running in the background: pid {proc.pid} (in {args.pid_file}), "
          f"log {log_path}")
    print(f"stop it with: kill -INT $(cat {args.pid_file})", flush=True)
    return 0


def cmd_chain_up(args: argparse.Namespace) -> int:
    """``fppdl chain up``."""
    if args.detach:
        return _detach(args, CHAIN_READY, "chain")
    node = start_anvil(port=args.port, state=args.state, block_time=args.block_time)
    try:
        print(f"Anvil listening at {node.rpc_url} (chain id {node.chain_id})")
        mining = f"every {args.block_time}s" if args.block_time else "on each transaction"
        print(f"blocks mined {mining}"
              + (f"; state kept in {args.state}" if args.state else ""))
        print("funded dev accounts (public dev keys: devnet only, never on a real chain):")
        for key in node.dev_private_keys[:5]:
            print(f"  {Account.from_key(key).address}  {key}")
        print(CHAIN_READY, flush=True)
        while node.process.poll() is None:
            time.sleep(0.5)
        raise NodeError(f"anvil exited with code {node.process.returncode}")
    except KeyboardInterrupt:
        print("\nstopping Anvil" + (f" (writing {args.state})" if args.state else ""),
              flush=True)
        return 0
    finally:
        node.stop()


def cmd_ipfs_up(args: argparse.Namespace) -> int:
    """``fppdl ipfs up``: the bundled js-ipfs daemon, offline, in its own repository."""
    from storage.devdaemon import LocalDaemon, jsipfs_binary

    if args.detach:
        return _detach(args, IPFS_READY, "IPFS daemon")
    binary = jsipfs_binary()
    if binary is None:
        raise NodeError("js-ipfs is not installed (node_modules/.bin/jsipfs): run `make setup`")
    repo: Path = args.repo.resolve()
    daemon = LocalDaemon(binary, repo, api_port=args.port or None)
    try:
        api = daemon.start()
        print(f"js-ipfs daemon (offline) with repository {repo}")
        print(f"API at {api}: pass --store {api}")
        print(IPFS_READY, flush=True)
        while daemon.process is not None and daemon.process.poll() is None:
            time.sleep(0.5)
        raise NodeError(f"the IPFS daemon exited; see {daemon.log}")
    except KeyboardInterrupt:
        print("\nstopping the IPFS daemon", flush=True)
        return 0
    finally:
        daemon.stop()


def cmd_chain_fund(args: argparse.Namespace) -> int:
    """``fppdl chain fund``."""
    w3 = open_chain(_rpc_url(args))
    target = str(args.address)
    if not Web3.is_address(target) and (Path(target) / SIGNING_KEY_FILE).is_file():
        target = keystore_address(Path(target))  # a party folder: its public address
    if not Web3.is_address(target):
        raise NodeError(f"{args.address!r} is neither an Ethereum address nor a party folder")
    address = Web3.to_checksum_address(target)
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


def _flag(name: str) -> str:
    # The admission quorum is one flag, NUM/DEN, for two fields.
    name = name.removesuffix("_numerator").removesuffix("_denominator") if (
        name.startswith("admission_quorum")) else name
    return "--" + name.replace("_", "-")


def admission_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Return the admission fields of :class:`LedgerParams` that ``fppdl deploy``'s flags ask.

    Checked here so that a contradiction is one line naming the flag, not a reverted
    deployment: ``allowlist`` and ``vote`` need ``--allowlist``, ``open`` refuses it.
    """
    mode = Admission[str(args.admission).upper()]
    listed = list(args.allowlist or [])
    bad = [a for a in listed if not Web3.is_address(a)]
    if bad:
        raise NodeError(f"--allowlist {bad[0]!r} is not an Ethereum address")
    allowlist = tuple(dict.fromkeys(Web3.to_checksum_address(a) for a in listed))
    if mode is Admission.OPEN and allowlist:
        raise NodeError("--allowlist needs --admission allowlist or vote (open admits anyone)")
    if mode is not Admission.OPEN and not allowlist:
        raise NodeError(f"--admission {args.admission} needs at least one --allowlist ADDR")
    if mode is Admission.ALLOWLIST and len(allowlist) < args.min_parties:
        raise NodeError(f"--admission allowlist names {len(allowlist)} addresses but "
                        f"--min-parties is {args.min_parties}: registration could never close")
    if len(allowlist) > args.max_parties:
        raise NodeError(f"--allowlist names {len(allowlist)} addresses but --max-parties is "
                        f"{args.max_parties}")
    num, _, den = str(args.admission_quorum).partition("/")
    try:
        numerator, denominator = int(num), int(den)
    except ValueError:
        numerator = denominator = 0
    if not 0 < numerator <= denominator:
        raise NodeError(f"--admission-quorum needs NUM/DEN with 0 < NUM <= DEN, got "
                        f"{args.admission_quorum!r}")
    if args.registration_deposit < 0:
        raise NodeError("--registration-deposit cannot be negative")
    return {"admission": mode, "allowlist": allowlist,
            "admission_quorum_numerator": numerator,
            "admission_quorum_denominator": denominator,
            "registration_deposit": int(args.registration_deposit)}


def cmd_deploy(args: argparse.Namespace) -> int:
    """``fppdl deploy``: refuses a live ledger recorded with other settings unless ``--force``."""
    out = sys.stderr if args.export else sys.stdout
    rpc_url = _rpc_url(args)
    w3 = open_chain(rpc_url)
    chain_id = int(w3.eth.chain_id)
    account = _deployer(args, chain_id)
    params = LedgerParams(
        model_size=model_size(args.model), min_parties=args.min_parties,
        max_parties=args.max_parties, min_uploaders=args.min_uploaders, rounds=args.rounds,
        registration_blocks=args.registration_blocks,
        benchmark_blocks=args.benchmark_blocks, request_blocks=args.request_blocks,
        upload_blocks=args.upload_blocks, settle_blocks=args.settle_blocks,
        # What every party must share (rule, budget policy, rounds, model, w0's seed) is
        # stored on-chain: `party init` adopts it and a node configured otherwise refuses.
        settings=PartySettings(model=args.model, rounds=args.rounds,
                               aggregation=args.aggregation,
                               init_seed=args.init_seed).consortium().to_bytes(),
        **admission_settings(args),
    )
    directory = args.deployments_dir or DEPLOYMENTS_DIR
    try:
        outcomes = run_migrations(w3, account, params, directory=directory, force=args.force)
    except ParametersDiffer as err:
        # The migrations compare what a user sets (not the absolute deadline block).
        shown = ", ".join(f"{_flag(k)} {new} (recorded: {old})"
                          for k, (old, new) in sorted(err.differences.items()))
        raise NodeError(
            f"the ledger recorded for chain {chain_id} at {err.address} was deployed with "
            f"other settings: {shown}; pass --force to deploy a new one, or "
            "--deployments-dir for another record"
        ) from None
    for o in outcomes:
        note = "same settings" if o.action == "skipped" else o.note
        print(f"{o.step}: {o.action} {o.deployment.contract} at {o.deployment.address}"
              + (f" ({note})" if note else ""), file=out)
    print(f"deployments file: {deployments_file(chain_id, directory)}", file=out)
    deployment = next(o.deployment for o in outcomes if o.step == LEDGER_STEP)
    for line in deadline_lines(Ledger(w3, deployment.address), deployment.block_number):
        print(line, file=out)
    if args.export:
        print(f"export {ENV_RPC_URL}={rpc_url}")
        print(f"export {ENV_LEDGER}={deployment.address}")
    else:
        print(f"the parties' settings: --rpc-url {rpc_url} --ledger {deployment.address} "
              f"(or export {ENV_RPC_URL} and {ENV_LEDGER})")
    return 0


def deadline_lines(ledger: Ledger, deploy_block: int) -> list[str]:
    """Return what a deployment's deadlines mean: registration, and each phase's length."""
    p = ledger.parameters()
    seconds = seconds_per_block(ledger.w3)
    block = ledger.block_number()
    at = f" at {seconds:.3g} s/block" if seconds is not None else ""
    lines = [f"ledger {ledger.address} on chain {int(ledger.w3.eth.chain_id)}, deployed in "
             f"block {deploy_block}; block now {block}{at}"]
    left = p.registration_deadline - block
    lines.append(
        f"registration: {p.min_parties} to {p.max_parties} parties; closes at block "
        f"{p.registration_deadline}, in {blocks_text(max(0, left), seconds)}, or when full"
    )
    admits = {Admission.OPEN: "anyone (devnets and tests only)",
              Admission.ALLOWLIST: f"only the {len(p.allowlist)} allowlisted addresses",
              Admission.VOTE: f"the {len(p.allowlist)} allowlisted founders and whom their "
                              f"members vote in ({p.admission_quorum_numerator}/"
                              f"{p.admission_quorum_denominator} of them)"}
    deposit = (f"; a deposit of {p.registration_deposit} wei, returned after the last round "
               "to a party not removed" if p.registration_deposit else "")
    lines.append(f"admission: {p.admission.name.lower()}, {admits[p.admission]}{deposit}")
    per_round = p.request_blocks + p.upload_blocks + p.settle_blocks
    lines.append(f"benchmarking: at most {blocks_text(p.benchmark_blocks, seconds)}")
    lines.append(
        f"each round at most {blocks_text(per_round, seconds)}: request "
        f"{p.request_blocks}, upload {p.upload_blocks}, settle {p.settle_blocks} blocks "
        "(a phase ends early once every party acted)"
    )
    return lines


def _phase_blocks(text: str) -> tuple[int, int, int, int]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or min(values) < 1:
        raise NodeError(f"--phase-blocks needs four positive integers, got {text!r}")
    return (values[0], values[1], values[2], values[3])


def cmd_consortium_up(args: argparse.Namespace) -> int:
    """``fppdl consortium up``: separate processes coordinating only via chain and store.

    Given the folder of an interrupted run (``--out``), it continues that run: Anvil is
    restarted from the run's state file and every party process resumes from its folder.
    """
    default = Path("runs") / ("consortium-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S"))
    folder, run = open_run_folder(args.out, default, "consortium")
    if run is not None:
        defaults = build_parser().parse_args(["consortium", "up"])
        args = merge_recorded(args, defaults, run["args"])
    args.resume_command = f"`fppdl consortium up --out {folder}`"
    blocks = _phase_blocks(args.phase_blocks)
    if args.parties < 2:
        raise NodeError("a consortium needs at least 2 parties")
    recorded = {k: getattr(args, k) for k in CONSORTIUM_RECORDED}
    if run is None:
        run = {"kind": "consortium", "args": recorded}
        write_run(folder, run)
    shards = make_shards(parties=args.parties, setting=args.setting, per_party=args.per_party,
                         seed=args.seed, test_size=args.test_size, mnist_dir=args.data_dir)
    node = start_anvil(state=folder / CHAIN_STATE_FILE, block_time=args.block_time)
    children: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]] = []
    codes: dict[str, int] = {}
    try:
        w3 = open_chain(node.rpc_url)
        print(f"Anvil at {node.rpc_url}, a block every {args.block_time}s "
              f"(state in {folder / CHAIN_STATE_FILE})", flush=True)
        funder = Account.from_key(node.dev_private_keys[0])
        password_file = folder / "password"
        if not password_file.is_file():
            write_secret(password_file, secrets.token_urlsafe(18))
        password = password_file.read_text().strip().encode()
        store = f"embedded:{(folder / 'store').resolve()}"
        ledger_address = run.get("ledger")
        if ledger_address and is_live_address(w3, ledger_address):
            ledger = Ledger(w3, ledger_address)
            print(f"resuming run {folder}: ledger {ledger.address}, epoch "
                  f"{ledger.current_round()}, phase {phase_name(ledger.phase())}, block "
                  f"{ledger.block_number()}", flush=True)
        else:
            shared = PartySettings(model=args.model, rounds=args.rounds,
                                   init_seed=args.seed).consortium()
            if args.parties < 3:
                print("warning: with 2 parties every received sum is the other party's "
                      "update: the sums hide nothing (minUploaders is set to 1)", flush=True)
            params = deployment_parameters(
                model_size=model_size(args.model), parties=args.parties, blocks=blocks,
                settings=shared, registration_blocks=1800,
                min_uploaders=1 if args.parties < 3 else None,
            )
            ledger, deploy_block = deploy_ledger(w3, funder, params,
                                                 directory=folder / "deployments")
            run.update(ledger=ledger.address, deploy_block=deploy_block,
                       chain_id=int(w3.eth.chain_id))
            write_run(folder, run)
            print(f"ledger deployed at {ledger.address}", flush=True)
            for line in deadline_lines(ledger, deploy_block)[1:]:
                print(line, flush=True)
        addresses = []
        for i, shard in enumerate(shards):
            party_dir = folder / f"party{i}"
            shard_file = party_dir / "shard.npz"
            if not (party_dir / SIGNING_KEY_FILE).is_file():
                write_shard(shard_file, shard)
                create_keystore(party_dir, password, kdf_log2_n=args.kdf_cost)
            party = PartySettings(
                model=args.model, rounds=args.rounds, local_epochs=args.local_epochs,
                pretrain_epochs=args.pretrain_epochs, dpgan_epochs=args.dpgan_epochs,
                dpgan_width=args.dpgan_width, seed=party_seed(args.seed, i),
                init_seed=args.seed,
            )
            # The chain's port is new on every start: party.json follows it.
            save_settings(party_dir, NodeSettings(
                name=f"party{i}", data=str(shard_file.resolve()), rpc_url=node.rpc_url,
                ledger=ledger.address, store=store, party=party,
            ))
            addresses.append(keystore_address(party_dir))
        if not run.get("funded"):
            fund(w3, funder, addresses, PARTY_FUNDING_WEI)
            run["funded"] = True
            write_run(folder, run)
        for i in range(args.parties):
            party_dir = folder / f"party{i}"
            log = (party_dir / "party.log").open("ab")
            command = [sys.executable, "-m", "client.cli", "party", "run", str(party_dir),
                       "--password-file", str(password_file)]
            # Own session: a terminal Ctrl-C reaches only this supervisor, which forwards it.
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            children.append((f"party{i}", proc, log))
            print(f"party{i} ({addresses[i]}): pid {proc.pid}, log {party_dir / 'party.log'}",
                  flush=True)
        print(f"`fppdl consortium status {folder}` shows who the consortium waits on",
              flush=True)
        codes = _wait_all(children)
        deploy_block = int(run.get("deploy_block", 0))
        summary = _summary(folder, ledger, deploy_block, args.parties)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping the parties (their state is saved) and the chain",
              file=sys.stderr)
        _stop_all(children)
        raise
    finally:
        _stop_all(children)
        node.stop()
    failed = {name: code for name, code in codes.items() if code != 0}
    print_results(summary)
    plots = write_plots(summary, folder)
    print(f"\nwrote {folder / 'results.json'}, {folder / 'ledger.json'} and "
          f"{', '.join(str(p) for p in plots)}")
    if failed:
        raise NodeError(f"parties failed: {', '.join(sorted(failed))} (see their party.log)")
    print(f"consortium finished; run folder {folder}")
    return 0


def is_live_address(w3: Web3, address: str) -> bool:
    """Return whether ``address`` holds code on ``w3``'s chain."""
    return len(bytes(w3.eth.get_code(Web3.to_checksum_address(address)))) > 0


def _summary(folder: Path, ledger: Ledger, deploy_block: int, parties: int) -> dict[str, Any]:
    """Write ``ledger.json`` (the auditor's view) and ``results.json``; return the results."""
    from client.cli.inspect import snapshot

    data = snapshot(ledger)
    (folder / "ledger.json").write_text(json.dumps(data, indent=2) + "\n")
    results = finite(folder_results(ledger, deploy_block,
                                    [folder / f"party{i}" for i in range(parties)]))
    (folder / "results.json").write_text(
        json.dumps(results, indent=2, default=str, allow_nan=False) + "\n"
    )
    return results


def _wait_all(children: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]]) -> dict[str, int]:
    codes: dict[str, int] = {}
    while len(codes) < len(children):
        for name, proc, _log in children:
            if name not in codes and proc.poll() is not None:
                codes[name] = int(proc.returncode)
                print(f"{clock()} {name} finished (exit {proc.returncode})", flush=True)
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


__all__ = ["cmd_chain_fund", "cmd_chain_up", "cmd_consortium_up", "cmd_deploy", "cmd_ipfs_up",
           "deadline_lines", "model_size"]
