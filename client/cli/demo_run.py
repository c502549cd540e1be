"""The heavy half of ``fppdl demo``: keystores, standalone models, DPGANs, deployment, rounds.

Imported only once the cheap checks of :mod:`client.cli.demo` passed (torch loads here). The
parties are planned and composed by :mod:`client.consortium`, i.e. by the composition root.
Every step leaves what it made in the run folder (keystores, cached preparations, the
deployment in ``run.json``, local state), so a resumed demo redoes none of it.
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
from client.adversary import PARTY_KINDS
from client.chain.anvil import AnvilNode
from client.chain.devnet import DEV_KEY, is_devnet
from client.chain.ledger import Ledger
from client.cli.output import Reporter
from client.cli.report import add_equal_compute
from client.cli.runs import write_run, write_secret
from client.compose import PartySettings, prepare_party
from client.consortium import (
    DEFAULT_BLOCKS,
    Consortium,
    ConsortiumSpec,
    PartyPlan,
    free_rider_plan,
)
from client.experiments.frameworks import equal_compute_standalone
from client.identity import PartyIdentity
from client.keystore import SIGNING_KEY_FILE, create_keystore, load_identity
from client.node import NodeSettings, save_settings, state_dir
from client.progress import phase_name
from client.protocol.state import PartyState
from client.shards import Shard
from storage import open_store

PASSWORD_FILE = "demo-password"


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


def _identity(folder: Path, password: bytes, kdf_cost: int) -> PartyIdentity:
    if (folder / SIGNING_KEY_FILE).is_file():
        return load_identity(folder, password)
    return create_keystore(folder, password, kdf_log2_n=kdf_cost)


def run_consortium(
    args: argparse.Namespace,
    shards: list[Shard],
    folder: Path,
    rpc_url: str,
    node: AnvilNode | None,
    say: Reporter,
    run: dict[str, Any],
) -> dict[str, Any]:
    """Prepare, deploy (or find the deployment of a resumed run) and run; return results."""
    w3 = open_chain(rpc_url)
    funder = _funder(args, int(w3.eth.chain_id), node)
    spec = spec_of(args)
    say("phase 2/4: keystores, standalone models and DPGAN samples")
    pw_file = folder / PASSWORD_FILE
    if not pw_file.is_file():
        write_secret(pw_file, secrets.token_urlsafe(18))
    password = pw_file.read_text().strip().encode()
    plans: list[PartyPlan] = []
    identities = []
    for i, shard in enumerate(shards):
        name = f"party{i}"
        identities.append(_identity(folder / name, password, args.kdf_cost))
        settings = spec.party_settings(i)
        prepared = prepare_party(name, shard, settings, cache_dir=folder / name, say=say)
        plans.append(PartyPlan(prepared, shard, settings))
    honest = list(plans)
    adversary = getattr(args, "adversary", None)
    if adversary in PARTY_KINDS:
        # The attacker is one party more (the demo's parties stay honest): a free-rider has
        # no data and claims a shard's size; an uploader attacker holds a copy of the last
        # honest shard, so only what it uploads is wrong.
        name = "free-rider" if adversary == "free-rider" else "attacker"
        last = shards[-1]
        identities.append(_identity(folder / name, password, args.kdf_cost))
        if adversary == "free-rider":
            plans.append(free_rider_plan(spec, len(shards), last.test, last.normalisation,
                                         name=name, cache_dir=folder / name, say=say))
        else:
            settings = spec.party_settings(len(shards))
            prepared = prepare_party(name, last, settings, cache_dir=folder / name, say=say)
            plans.append(PartyPlan(prepared, last, settings))
    store_spec = args.ipfs_api or f"embedded:{folder / 'store'}"
    min_uploaders = None
    if args.parties < 3:
        say("warning: with 2 parties every received sum is the other party's update: the sums "
            "hide nothing (minUploaders is set to 1)")
        min_uploaders = 1

    def keyed(plan: PartyPlan, ledger: Ledger) -> Path:
        return state_dir(folder / plan.prepared.name, ledger.w3, ledger.address)

    recorded = run.get("ledger")
    if recorded and len(bytes(w3.eth.get_code(w3.to_checksum_address(recorded)))) > 0:
        ledger = Ledger(w3, recorded)
        consortium = Consortium.attach(
            plans, ledger=ledger, deploy_block=int(run["deploy_block"]),
            identities=identities, store_for=lambda _i: open_store(store_spec), workdir=folder,
            state_dir_for=lambda plan: keyed(plan, ledger), adversary=adversary,
        )
        say(f"phase 3/4: resuming on ledger {ledger.address}: epoch {ledger.current_round()}, "
            f"phase {phase_name(ledger.phase())}, block {ledger.block_number()}")
    else:
        if recorded:
            say(f"the recorded ledger {recorded} is gone from this chain: deploying anew")
        say("phase 3/4: deploying the ledger through the migrations")
        consortium = Consortium.deploy(
            spec, plans, rpc_url=rpc_url, funder=funder,
            store_for=lambda _i: open_store(store_spec), workdir=folder,
            identities=identities, state_dir_in=keyed, progress=say,
            min_uploaders=min_uploaders, adversary=adversary,
        )
        run.update(ledger=consortium.ledger.address, deploy_block=consortium.deploy_block,
                   chain_id=int(w3.eth.chain_id))
        write_run(folder, run)
    for plan in plans:
        # party.json lets `fppdl party status <folder>` read this party while the chain lives.
        save_settings(folder / plan.prepared.name, NodeSettings(
            name=plan.prepared.name, data="", rpc_url=rpc_url,
            ledger=consortium.ledger.address, store=store_spec, party=plan.settings,
        ))
    clock = "on the chain's own clock" if args.real_clock else "mining the devnet to deadlines"
    say(f"phase 4/4: registration, benchmarking and {args.rounds} rounds ({clock})")
    consortium.run(progress=say, real_clock=args.real_clock)
    results = consortium.results()
    say("alone at equal compute: each party trained alone from w0 for the epochs it trained")
    alone = equal_compute_standalone(spec, honest)
    add_equal_compute(results, [list(c) for c in alone.curves],
                      list(alone.standalone_accuracies))
    results["settings"] = {k: getattr(args, k) for k in (
        "parties", "rounds", "setting", "model", "seed", "per_party", "aggregation",
        "local_epochs", "pretrain_epochs", "dpgan_epochs", "dpgan_width", "real_clock")}
    results["store"] = "ipfs" if args.ipfs_api else "embedded"
    results["rpc_url"] = rpc_url
    for row in results["parties"]:
        row["folder"] = str(folder / row["name"])
        state = PartyState.load(state_dir(folder / row["name"], w3, consortium.ledger.address))
        row["rounds_recorded"] = len(state.records)
    return results
