"""The heavy half of ``fppdl demo``: keystores, standalone models, DPGANs, deployment, rounds.

Imported only once the cheap checks of :mod:`client.cli.demo` passed (torch loads here).
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
from client.chain.ledger import Ledger
from client.cli.output import Reporter
from client.keystore import create_keystore
from client.node import NodeSettings, Shard, save_settings
from client.protocol.config import ProtocolConfig
from client.protocol.party import PartyIdentity
from client.protocol.runner import (
    PARTY_FUNDING_WEI,
    Consortium,
    PreparedParty,
    compose_members,
    fund,
    ledger_parameters,
    prepare_party,
)
from client.protocol.state import PartyState
from migrations.runner import run_migrations
from storage import open_store
from trainer.config import TrainConfig
from trainer.dpgan import DPGANConfig

#: Anvil's first dev key (public knowledge, from its default mnemonic): funds demos on devnets.
ANVIL_DEV_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEVNET_CHAIN_IDS = (31337,)
#: Phase lengths in blocks (benchmarking, request, upload, settle) of the demo's ledger.
DEMO_BLOCKS = (400, 200, 200, 400)


def _funder(args: argparse.Namespace, chain_id: int, node: AnvilNode | None) -> LocalAccount:
    if node is not None:
        return Account.from_key(node.dev_private_keys[0])
    if args.funder_key_env:
        key = os.environ.get(args.funder_key_env, "").strip()
        if not key:
            raise NodeError(f"environment variable {args.funder_key_env} is unset or empty")
        return Account.from_key(key)
    if chain_id in DEVNET_CHAIN_IDS:
        return Account.from_key(ANVIL_DEV_KEY_0)
    raise NodeError(f"chain {chain_id} is not a devnet: give --funder-key-env VAR")


def run_consortium(
    args: argparse.Namespace,
    shards: list[Shard],
    folder: Path,
    rpc_url: str,
    node: AnvilNode | None,
    say: Reporter,
) -> dict[str, Any]:
    w3 = open_chain(rpc_url)
    funder = _funder(args, int(w3.eth.chain_id), node)
    train = TrainConfig(local_epochs=args.local_epochs, pretrain_epochs=args.pretrain_epochs)
    protocol = ProtocolConfig(rounds=args.rounds, aggregation=args.aggregation, train=train,
                              seed=args.seed)
    say("phase 2/4: keystores, standalone models and DPGAN samples")
    password = secrets.token_urlsafe(18)
    pw_file = folder / "demo-password"
    fd = os.open(pw_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    prepared: list[PreparedParty] = []
    identities = []
    for i, shard in enumerate(shards):
        name = f"party{i}"
        identities.append(create_keystore(folder / name, password.encode(),
                                          kdf_log2_n=args.kdf_cost))
        prepared.append(prepare_party(
            name, shard.train, test=shard.test, normalisation=shard.normalisation,
            level=shard.level, model=args.model, train=train,
            dpgan=DPGANConfig(epochs=args.dpgan_epochs, width=args.dpgan_width),
            epsilon=4.0, delta=1e-5, seed=args.seed * 1000 + i, init_seed=args.seed, say=say,
        ))
    say("phase 3/4: deploying the ledger through the migrations")
    fund(w3, funder, [ident.address for ident in identities], PARTY_FUNDING_WEI)
    params = ledger_parameters(prepared, DEMO_BLOCKS, int(w3.eth.block_number))
    outcomes = run_migrations(w3, funder, params, directory=folder / "deployments", force=True)
    deployment = outcomes[-1].deployment
    say(f"ledger at {deployment.address} (block {deployment.block_number})")
    ledger = Ledger(w3, deployment.address)
    store_spec = args.ipfs_api or f"embedded:{folder / 'store'}"
    for prep in prepared:
        # party.json lets `fppdl party status <folder>` read this party while the chain lives.
        save_settings(folder / prep.name, NodeSettings(
            name=prep.name, data="", rpc_url=rpc_url, ledger=deployment.address,
            store=store_spec, model=args.model, rounds=args.rounds,
            local_epochs=args.local_epochs, pretrain_epochs=args.pretrain_epochs,
            aggregation=args.aggregation, dpgan_epochs=args.dpgan_epochs,
            dpgan_width=args.dpgan_width, seed=args.seed, init_seed=args.seed,
        ))
    members = compose_members(
        ledger, prepared,
        [PartyIdentity(ident.account, ident.keys) for ident in identities],
        config=protocol, store_for=lambda _i: open_store(store_spec),
        state_dir_for=lambda prep: folder / prep.name / "state",
    )
    consortium = Consortium(ledger, members, deployment.block_number)
    say(f"phase 4/4: registration, benchmarking and {args.rounds} rounds")
    consortium.run(progress=say)
    results = consortium.results()
    results["settings"] = {
        k: getattr(args, k) for k in ("parties", "rounds", "setting", "model", "seed",
                                      "per_party", "aggregation", "local_epochs",
                                      "pretrain_epochs", "dpgan_epochs", "dpgan_width")
    }
    results["store"] = "ipfs" if args.ipfs_api else "embedded"
    results["rpc_url"] = rpc_url
    for row in results["parties"]:
        row["folder"] = str(folder / row["name"])
        state = PartyState.load(folder / row["name"] / "state")
        row["rounds_recorded"] = len(state.records)
    return results
