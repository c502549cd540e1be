"""The heavy half of ``fppdl demo``: keystores, standalone models, DPGANs, deployment, rounds.

Imported only once the cheap checks of :mod:`client.cli.demo` passed (torch loads here). The
parties are planned and composed by :mod:`client.consortium`, i.e. by the composition root.
"""

from __future__ import annotations

import argparse
import os
import secrets
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from client.access import NodeError, open_chain
from client.chain.anvil import AnvilNode
from client.chain.devnet import DEV_KEY, is_devnet
from client.cli.output import Reporter
from client.compose import PartySettings, prepare_party
from client.consortium import DEFAULT_BLOCKS, Consortium, ConsortiumSpec, PartyPlan
from client.keystore import create_keystore
from client.node import NodeSettings, save_settings
from client.protocol.state import PartyState
from client.shards import Shard
from storage import open_store

#: The demo's settings recorded in results.json (flag names).
RECORDED = ("parties", "rounds", "setting", "model", "seed", "per_party", "aggregation",
            "local_epochs", "pretrain_epochs", "dpgan_epochs", "dpgan_width")


def _funder(args: argparse.Namespace, chain_id: int, node: AnvilNode | None) -> LocalAccount:
    if node is not None:
        return Account.from_key(node.dev_private_keys[0])
    if args.funder_key_env:
        key = os.environ.get(args.funder_key_env, "").strip()
        if not key:
            raise NodeError(f"environment variable {args.funder_key_env} is unset or empty")
        return Account.from_key(key)
    if is_devnet(chain_id):
        return Account.from_key(DEV_KEY)
    raise NodeError(f"chain {chain_id} is not a devnet: give --funder-key-env VAR")


def spec_of(args: argparse.Namespace) -> ConsortiumSpec:
    """Return the consortium the demo's flags describe."""
    settings = PartySettings(
        model=args.model, rounds=args.rounds, local_epochs=args.local_epochs,
        pretrain_epochs=args.pretrain_epochs, aggregation=args.aggregation,
        dpgan_epochs=args.dpgan_epochs, dpgan_width=args.dpgan_width, threads=None,
    )
    return ConsortiumSpec(
        parties=args.parties, setting=args.setting, per_party=args.per_party,
        test_size=args.test_size, seed=args.seed, settings=settings, mnist_dir=args.data_dir,
        blocks=DEFAULT_BLOCKS,
    )


def run_consortium(
    args: argparse.Namespace,
    shards: list[Shard],
    folder: Path,
    rpc_url: str,
    node: AnvilNode | None,
    say: Reporter,
) -> dict[str, Any]:
    """Prepare, deploy and run the demo's consortium; return its results."""
    w3 = open_chain(rpc_url)
    funder = _funder(args, int(w3.eth.chain_id), node)
    spec = spec_of(args)
    say("phase 2/4: keystores, standalone models and DPGAN samples")
    password = secrets.token_urlsafe(18)
    pw_file = folder / "demo-password"
    fd = os.open(pw_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    plans: list[PartyPlan] = []
    identities = []
    for i, shard in enumerate(shards):
        name = f"party{i}"
        identities.append(create_keystore(folder / name, password.encode(),
                                          kdf_log2_n=args.kdf_cost))
        settings = spec.party_settings(i)
        plans.append(PartyPlan(prepare_party(name, shard, settings, say=say), shard, settings))
    say("phase 3/4: deploying the ledger through the migrations")
    store_spec = args.ipfs_api or f"embedded:{folder / 'store'}"
    min_uploaders = None
    if args.parties < 3:
        say("warning: with 2 parties every received sum is the other party's update: the sums "
            "hide nothing (minUploaders is set to 1)")
        min_uploaders = 1
    consortium = Consortium.deploy(
        spec, plans, rpc_url=rpc_url, funder=funder, store_for=lambda _i: open_store(store_spec),
        workdir=folder, identities=identities, min_uploaders=min_uploaders,
        state_dir_for=lambda plan: folder / plan.prepared.name / "state", progress=say,
    )
    for plan in plans:
        # party.json lets `fppdl party status <folder>` read this party while the chain lives.
        save_settings(folder / plan.prepared.name, NodeSettings(
            name=plan.prepared.name, data="", rpc_url=rpc_url,
            ledger=consortium.ledger.address, store=store_spec, party=plan.settings,
        ))
    say(f"phase 4/4: registration, benchmarking and {args.rounds} rounds")
    consortium.run(progress=say)
    results = consortium.results()
    results["settings"] = {k: getattr(args, k) for k in RECORDED}
    results["store"] = "ipfs" if args.ipfs_api else "embedded"
    results["rpc_url"] = rpc_url
    for row in results["parties"]:
        row["folder"] = str(folder / row["name"])
        state = PartyState.load(folder / row["name"] / "state")
        row["rounds_recorded"] = len(state.records)
    return results
