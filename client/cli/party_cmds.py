"""``fppdl party init|register|run|status`` and ``fppdl data split``: one party's node."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from web3 import Web3

from client.access import NodeError, check_address, open_chain, open_ledger
from client.cli.output import Reporter
from client.cli.parser import ENV_LEDGER, ENV_RPC_URL, ENV_STORE, GIVEN
from client.compose import PartySettings
from client.keystore import (
    PasswordSource,
    create_keystore,
    keystore_address,
    keystore_exists,
    load_identity,
)
from client.node import (
    NodeSettings,
    PartyNode,
    export_model,
    load_settings,
    save_settings,
    settings_from_ledger,
    status_of,
)
from client.shards import make_shards, read_shard, write_shard
from storage import open_store


def _check_store(spec: str | None) -> None:
    if spec:
        open_store(spec).close()


def _from_env(name: str) -> str | None:
    return os.environ.get(name, "").strip() or None


def _updated_settings(folder: Path, args: argparse.Namespace) -> NodeSettings:
    """Apply ``--rpc-url``/``--ledger``/``--store``/``--confirmations``, saved once they check out.

    Flags win over the environment (``FPPDL_RPC_URL``, ``FPPDL_LEDGER``, ``FPPDL_STORE``),
    which wins over ``party.json``; only flags are saved into ``party.json``.
    """
    settings = load_settings(folder)
    _check_store(args.store)
    changed = settings.with_(rpc_url=args.rpc_url, ledger=args.ledger, store=args.store,
                             confirmations=getattr(args, "confirmations", None))
    if changed != settings:
        # A typo must not be saved: the node and the contract are probed first.
        if args.ledger:
            check_address(args.ledger)
        if args.rpc_url or args.ledger:
            w3 = open_chain(changed.rpc_url)
            if changed.ledger:
                open_ledger(w3, changed.ledger)
        save_settings(folder, changed)
    env = {"rpc_url": None if args.rpc_url else _from_env(ENV_RPC_URL),
           "ledger": None if args.ledger else _from_env(ENV_LEDGER),
           "store": None if args.store else _from_env(ENV_STORE)}
    if env["ledger"]:
        check_address(env["ledger"], f"{ENV_LEDGER}")
    if env["store"]:
        _check_store(env["store"])
    return changed.with_(**env)


def cmd_init(args: argparse.Namespace) -> int:
    """``fppdl party init``."""
    folder: Path = args.folder
    if keystore_exists(folder):
        raise NodeError(f"{folder} already holds a keystore; refusing to overwrite it")
    read_shard(args.data)  # a missing or malformed shard fails before any key is made
    args.rpc_url = args.rpc_url or _from_env(ENV_RPC_URL)
    args.ledger = args.ledger or _from_env(ENV_LEDGER)
    args.store = args.store or _from_env(ENV_STORE)
    _check_store(args.store)
    if args.ledger:
        check_address(args.ledger)
    party = PartySettings(
        model=args.model, rounds=args.rounds, local_epochs=args.local_epochs,
        pretrain_epochs=args.pretrain_epochs, eval_samples=args.eval_samples,
        aggregation=args.aggregation, dpgan_epochs=args.dpgan_epochs,
        dpgan_width=args.dpgan_width, seed=args.seed, init_seed=args.init_seed,
    )
    from_ledger = False
    if args.ledger:
        # The consortium's settings come from its ledger: an operator repeats none of them,
        # and a flag that contradicts them is refused before any key is made.
        if not args.rpc_url:
            raise NodeError(f"--ledger needs --rpc-url (or {ENV_RPC_URL}) to read the "
                            "consortium's settings from the ledger")
        ledger = open_ledger(open_chain(args.rpc_url), args.ledger)
        party = settings_from_ledger(party, ledger, getattr(args, GIVEN, set()))
        from_ledger = bool(ledger.settings())
    party.protocol()  # validates the ranges before anything is written
    settings = NodeSettings(
        name=args.name or folder.name, data=str(args.data.resolve()),
        rpc_url=args.rpc_url or "", ledger=args.ledger or "", store=args.store or "",
        poll_seconds=args.poll_seconds, confirmations=args.confirmations, party=party,
    )
    password = PasswordSource(args.password_env, args.password_file).read(confirm=True)
    identity = create_keystore(folder, password, kdf_log2_n=args.kdf_cost)
    save_settings(folder, settings)
    print(f"party {settings.name}: address {identity.address}")
    if args.ledger:
        shared = party.consortium()
        source = ("consortium settings from ledger" if from_ledger else
                  "settings checked against ledger (it stores no consortium settings)")
        print(f"{source} {args.ledger}: {shared.rounds} rounds, model {shared.model}, rule "
              f"{shared.aggregation}, {shared.eval_samples} evaluation samples, initial-model "
              f"seed {shared.init_seed}")
    print(f"keystore written to {folder} (signing-key.json, encryption-key.bin; mode 0600)")
    return 0


def _node(args: argparse.Namespace) -> PartyNode:
    folder: Path = args.folder
    settings = _updated_settings(folder, args)
    password = PasswordSource(args.password_env, args.password_file).read()
    identity = load_identity(folder, password)
    return PartyNode(folder, identity, settings, Reporter(f"{settings.name}: "))


def cmd_register(args: argparse.Namespace) -> int:
    """``fppdl party register``."""
    node = _node(args)
    with node:
        node.register()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """``fppdl party run``."""
    node = _node(args)
    with node:
        party = node.run(once=args.once)
        records = party.state.records
        last = records[-1]["accuracy"] if records else None
        removed = party.ledger.party_info(party.address).status.name == "REMOVED"
        node.say(
            f"done: {len(records)} rounds, final accuracy "
            + ("-" if last is None else f"{last:.4f}")
            + ("; removed from the credible set by the others" if removed else "")
        )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """``fppdl party status`` (needs no password)."""
    folder: Path = args.folder
    settings = _updated_settings(folder, args)
    status: dict[str, Any] = status_of(folder, settings, keystore_address(folder))
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    points = status["points"]
    print(f"party {status['name']} {status['address']} ({status['status']})")
    print(f"ledger {status['ledger']} on chain {status['chain_id']}:")
    print(f"  epoch {status['round']}, phase {status['phase']}, block {status['block']}")
    print(f"points: balance {points['balance']}, escrowed {points['escrowed']}, "
          f"releasable {points['releasable']}")
    accs = status["accuracy_per_round"]
    print("accuracy per round: " + (", ".join(f"{a:.4f}" for a in accs) or "none yet"))
    print(f"local state {status['state']}")
    print("own credibility list:" + ("" if status["credibility"] else " empty"))
    for peer, value in status["credibility"].items():
        print(f"  {peer}  {value:.4f}")
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    """``fppdl data split``."""
    shards = make_shards(parties=args.parties, setting=args.setting, per_party=args.per_party,
                         seed=args.seed, test_size=args.test_size, mnist_dir=args.data_dir)
    for i, shard in enumerate(shards):
        path = args.out / f"party{i}.npz"
        write_shard(path, shard)
        print(f"{path}: {len(shard.train)} examples, sharing level {shard.level:.2f}")
    return 0


def cmd_request(args: argparse.Namespace) -> int:
    """``fppdl party request``: a DOWNLOAD transaction with hand-picked uploaders and points."""
    if len(args.uploader) != len(args.points):
        raise NodeError("give one --points per --uploader")
    if min(args.points) < 0:
        raise NodeError("--points must be >= 0")
    node = _node(args)
    with node:
        ledger = node.ledger()
        # The contract checks the phase first; a request no balance could pay is the
        # operator's mistake whatever the phase, so name it before anything is sent.
        points = ledger.points_of(ledger.sender)
        spendable = points.balance + points.releasable
        if sum(args.points) > spendable:
            raise NodeError(
                f"InsufficientPoints: {ledger.sender} can spend {spendable} "
                f"points, the request offers {sum(args.points)}"
            )
        receipt = ledger.request_downloads(
            [Web3.to_checksum_address(u) for u in args.uploader], list(args.points)
        )
        print(f"download request sent in block {receipt.block_number} ({receipt.tx_hash})")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """``fppdl party export``: the final model, for use outside the consortium."""
    folder: Path = args.folder
    settings = _updated_settings(folder, args)
    out = args.out or folder / "export"
    written = export_model(folder, settings, out)
    if args.json:
        print(json.dumps(written, indent=2))
        return 0
    accuracy = written["accuracy"]
    shown = "-" if accuracy is None else f"{accuracy:.4f}"
    print(f"{settings.name}: {written['model']} after round {written['round']}, "
          f"test accuracy {shown} ({written['parameters']} parameters)")
    for what, path in written["files"].items():
        print(f"  {what}: {path}")
    return 0
