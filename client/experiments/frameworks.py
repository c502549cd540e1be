"""The frameworks of one seed, all on the same partition, the same w0 and the same seeds.

:func:`prepare_seed` builds the pool and the parties once (through
:func:`client.consortium.plan_parties`: the standalone models and DPGAN samples come from the
composition root's cache) and the baselines' :class:`trainer.baselines.Experiment` over the
*same* partition, with the protocol parties' training seeds; :func:`check_alignment` proves
it before anything is trained. Then:

* ``dppdl`` -- :func:`run_dppdl`: the real protocol (:class:`client.consortium.Consortium` on
  Anvil, the ledger deployed through the migrations, onion encryption, a real store);
* ``standalone`` -- each party alone, pretraining + rounds x local epochs from w0 (the
  protocol party's own training without what it receives), with the pre-collaboration
  model of Algorithm 1 as ``standalone_pre``;
* ``centralized``, ``dssgd``, ``fedavg`` and ``cgsv`` -- :mod:`trainer.baselines`.

Every framework returns the same shape (:func:`party_rows`): per party the final accuracy
and the accuracy per round; the runner adds gains and fairness.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from client.errors import FppdlError
from client.experiments.config import ExperimentConfig

Say = Callable[[str], None]


class AlignmentError(FppdlError, AssertionError):
    """The frameworks of one seed would not start from the same data, w0 or seeds."""


@dataclass(frozen=True, eq=False)
class SeedSetup:
    """What every framework of one seed shares.

    Attributes
    ----------
    config : ExperimentConfig
        The experiment.
    seed : int
        The run seed.
    pool : Pool
        The normalised train/test data of this seed.
    partition : Partition
        The honest parties' indices and sharing levels (the same cut as the shards).
    plans : list of PartyPlan
        The protocol parties (honest first, then free-riders), prepared.
    experiment : Experiment
        The baselines' view of the same parties, with the protocol's training seeds.
    data_digest : str
        Digest of the pool's examples (keys results and caches by content).
    """

    config: ExperimentConfig
    seed: int
    pool: Any
    partition: Any
    plans: list[Any]
    experiment: Any
    data_digest: str

    @property
    def honest(self) -> int:
        """Return the number of honest parties."""
        return int(self.config.parties)

    def contributions(self) -> dict[str, list[float]]:
        """Return each honest party's contribution under every measure."""
        return {
            "sharing_level": [float(v) for v in self.partition.levels],
            "data_size": [float(v) for v in self.partition.sizes],
            "standalone_accuracy": [float(p.prepared.standalone_accuracy)
                                    for p in self.plans[: self.honest]],
        }


def pool_digest(pool: Any) -> str:
    """Return a digest of a pool's examples and labels (train and test)."""
    h = hashlib.sha256()
    for array in (pool.train.x, pool.train.y, pool.test.x, pool.test.y):
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()[:16]


def load_pool(config: ExperimentConfig, seed: int) -> Any:
    """Return this seed's pool (the test split is drawn with the run seed, as the demo's)."""
    from trainer.data import default_pool

    return default_pool(test_size=config.test_size, seed=seed, mnist_dir=config.mnist_dir)


def prepare_seed(config: ExperimentConfig, seed: int, *, cache_dir: Path | None,
                 say: Say) -> SeedSetup:
    """Cut the data, prepare every party (cached) and build the baselines' experiment."""
    from client.consortium import plan_parties
    from trainer.training import set_torch_threads

    set_torch_threads(config.threads)
    pool = load_pool(config, seed)
    spec = config.spec(seed)
    plans = plan_parties(spec, pool=pool, cache_dir=cache_dir, progress=say)
    experiment = baseline_experiment(spec, plans[0].settings, pool)
    setup = SeedSetup(config, seed, pool, experiment.partition, plans, experiment,
                      pool_digest(pool))
    check_alignment(setup)
    return setup


def baseline_experiment(spec: Any, settings: Any, pool: Any) -> Any:
    """Return the baselines' :class:`trainer.baselines.Experiment` of a consortium.

    The partition is the one :func:`client.shards.make_shards` cuts for ``spec`` from
    ``pool``, the model, w0 and training settings are the protocol parties' (``settings``,
    a :class:`client.compose.PartySettings`), and every party shuffles with its protocol
    seeds, so a baseline party trains on exactly the example order its protocol twin does.
    """
    from trainer.baselines import Experiment
    from trainer.constants import party_seed
    from trainer.partitions import make_partition

    partition = make_partition(spec.setting, pool.train, spec.parties, seed=spec.seed,
                               per_party=spec.per_party)
    seed = int(spec.seed)

    def protocol_seed(party: int, round_: int) -> int:
        # client.learner.ModelLearner pretrains with its party seed and trains round r with
        # party seed + r: the baselines shuffle the same way.
        return party_seed(seed, party) + round_

    return Experiment(settings.model, pool, partition, settings.train(),
                      rounds=int(settings.rounds), seed=seed, progress=False,
                      train_seed=protocol_seed)


def equal_compute_standalone(spec: Any, plans: list[Any], pool: Any | None = None) -> Any:
    """Train every honest party of a consortium alone at the protocol's compute.

    Runs :func:`trainer.baselines.run_standalone` on :func:`baseline_experiment`: from the
    same w0, ``pretrain_epochs`` then ``rounds`` x ``local_epochs`` on the party's own shard
    with its protocol seeds. ``curves[i][k - 1]`` is then party i alone after as many epochs
    as it trained in k rounds of the protocol.

    Parameters
    ----------
    spec : ConsortiumSpec
        The consortium (partition, seed, rounds).
    plans : list of PartyPlan
        Its prepared parties (honest first): their shards and pre-collaboration accuracies
        are checked against the baseline's.
    pool : Pool, optional
        The pool the shards were cut from (default: the spec's default pool).

    Returns
    -------
    BaselineResult
        The standalone baseline (``standalone_accuracies`` = after pretraining).

    Raises
    ------
    AlignmentError
        If a shard is not its partition cell, or the pretraining does not reproduce a
        party's prepared standalone accuracy (the two would not be the same party).
    """
    from trainer.baselines import run_standalone
    from trainer.data import default_pool

    if pool is None:
        pool = default_pool(test_size=spec.test_size, seed=spec.seed, mnist_dir=spec.mnist_dir)
    exp = baseline_experiment(spec, plans[0].settings, pool)
    for i, plan in enumerate(plans[: spec.parties]):
        data = exp.partition.party_data(pool.train, i)
        if not (np.array_equal(plan.shard.train.x, data.x)
                and np.array_equal(plan.shard.train.y, data.y)):
            raise AlignmentError(f"party {i}: its shard is not its partition cell")
    result = run_standalone(exp)
    for i, plan in enumerate(plans[: spec.parties]):
        if result.standalone_accuracies[i] != plan.prepared.standalone_accuracy:
            raise AlignmentError(
                f"party {i}: training alone from w0 gives {result.standalone_accuracies[i]:.4f}"
                f" after pretraining, its preparation {plan.prepared.standalone_accuracy:.4f}"
            )
    return result


def check_alignment(setup: SeedSetup) -> None:
    """Raise :class:`AlignmentError` unless every framework starts from the same point.

    Checks that each honest party's shard is exactly its partition cell, that the protocol's
    learner and the baselines build the same w0, that both use the same training seeds and
    settings, and that the pre-collaboration standalone model is what the baselines'
    pretraining reproduces (a cached preparation included).
    """
    from client.learner import ModelLearner
    from trainer.baselines.common import pretrain_parties, w0_of

    exp = setup.experiment
    part = setup.partition
    for i, plan in enumerate(setup.plans[: setup.honest]):
        data = part.party_data(setup.pool.train, i)
        if not (np.array_equal(plan.shard.train.x, data.x)
                and np.array_equal(plan.shard.train.y, data.y)):
            raise AlignmentError(f"party {i}: its shard is not its partition cell")
        if abs(plan.shard.level - part.levels[i]) > 0 or plan.prepared.level != part.levels[i]:
            raise AlignmentError(f"party {i}: sharing level differs between frameworks")
        if plan.settings.seed != exp.seed_of(i, 0) or plan.settings.init_seed != setup.seed:
            raise AlignmentError(f"party {i}: training seeds differ between frameworks")
        if plan.settings.train() != exp.config:
            raise AlignmentError(f"party {i}: training settings differ between frameworks")
    first = setup.plans[0]
    learner = ModelLearner(
        model_name=first.settings.model, data=first.shard.train, test=first.shard.test,
        train=first.settings.train(), normalisation=first.shard.normalisation,
        seed=first.settings.seed, init_seed=first.settings.init_seed,
    )
    if not np.array_equal(learner.params(), w0_of(exp)):
        raise AlignmentError("the protocol's learners and the baselines start from different w0")
    _, accuracies = pretrain_parties(exp, w0_of(exp))
    for i, plan in enumerate(setup.plans[: setup.honest]):
        if accuracies[i] != plan.prepared.standalone_accuracy:
            raise AlignmentError(
                f"party {i}: pretraining gives {accuracies[i]:.4f} in the baselines but "
                f"{plan.prepared.standalone_accuracy:.4f} in the protocol's preparation"
            )


def party_rows(finals: list[float], curves: list[list[float]], **extra: list[Any]) -> list[
        dict[str, Any]]:
    """Return one row per party: final accuracy, accuracy per round and any extra columns."""
    rows = []
    for i, (final, curve) in enumerate(zip(finals, curves, strict=True)):
        row: dict[str, Any] = {"party": i, "final_accuracy": _acc(final),
                               "accuracy_per_round": [_acc(a) for a in curve]}
        for key, values in extra.items():
            row[key] = values[i]
        rows.append(row)
    return rows


# ---------------------------------------------------------------------- baselines


def baseline_params(config: ExperimentConfig, name: str, levels: tuple[float, ...]) -> dict[
        str, Any]:
    """Return the options a baseline runs with (what keys its cache besides the data)."""
    if name == "dssgd":
        theta_u: Any = (list(levels) if config.dssgd_theta_u == "levels"
                        else config.dssgd_theta_u)
        return {"theta_u": theta_u, "theta_d": config.dssgd_theta_d}
    if name == "cgsv":
        return {"gamma": config.cgsv_gamma}
    return {}


def run_baseline(setup: SeedSetup, name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Run one baseline of :mod:`trainer.baselines` on the seed's experiment."""
    from trainer.baselines import BASELINES, run_cgsv, run_dssgd

    exp = setup.experiment
    started = time.process_time()
    wall = time.perf_counter()
    if name == "dssgd":
        result = run_dssgd(exp, theta_u=params["theta_u"], theta_d=params["theta_d"])
    elif name == "cgsv":
        # CGSV never trains the standalone models it reports beside its result: give it the
        # prepared ones rather than pretraining every party again for every beta.
        result = run_cgsv(exp, beta=params["beta"], gamma=params["gamma"],
                          standalone=[p.prepared.standalone_accuracy
                                      for p in setup.plans[: setup.honest]])
    else:
        result = BASELINES[name](exp)
    out: dict[str, Any] = {
        "framework": name, "params": dict(params),
        "parties": party_rows(list(result.party_accuracies), [list(c) for c in result.curves]),
        "seconds": round(time.perf_counter() - wall, 3),
        "cpu_seconds": round(time.process_time() - started, 3),
    }
    if name == "standalone":
        out["pre_accuracies"] = [_acc(a) for a in result.standalone_accuracies]
    return out


# ---------------------------------------------------------------------- dppdl


@dataclass(frozen=True)
class Chain:
    """Where the ``dppdl`` framework deploys: a devnet's RPC URL and a funded key."""

    rpc_url: str
    funder_key: str


_EPOCH = re.compile(r"^epoch (\d+): (\w+)")


def run_dppdl(setup: SeedSetup, chain: Chain, *, say: Say) -> dict[str, Any]:
    """Run the consortium through the real protocol; return per-party rows and chain totals.

    A fresh ledger is deployed through the migrations for this seed, every party is
    composed by :mod:`client.compose`, and the rounds run on the chain until the last one;
    every number comes from the parties' records and the chain
    (:meth:`client.consortium.Consortium.results`).
    """
    from eth_account import Account

    from client.consortium import Consortium
    from storage import MemoryStore, open_store

    config = setup.config
    started = time.process_time()
    wall = time.perf_counter()
    last_epoch = [-1]

    def progress(message: str) -> None:
        match = _EPOCH.match(message)
        if match is None:
            say(message)
        elif int(match.group(1)) != last_epoch[0]:
            last_epoch[0] = int(match.group(1))
            epoch = last_epoch[0]
            if epoch <= config.rounds:
                say("benchmarking" if epoch == 0 else f"round {epoch}/{config.rounds}")

    with tempfile.TemporaryDirectory(prefix="fppdl-experiment-") as tmp:
        workdir = Path(tmp)
        shared = MemoryStore() if config.store == "memory" else None
        store_spec = f"embedded:{workdir / 'store'}"

        def store_for(_index: int) -> Any:
            return shared if shared is not None else open_store(store_spec)

        consortium = Consortium.deploy(
            config.spec(setup.seed), setup.plans, rpc_url=chain.rpc_url,
            funder=Account.from_key(chain.funder_key), store_for=store_for, workdir=workdir,
            progress=progress,
        )
        consortium.run(progress=progress)
        results = consortium.results()
        records = [m.party.state.records for m in consortium.members]
    rows = []
    for i, row in enumerate(results["parties"]):
        final = row["final_accuracy"]
        rows.append({
            "party": i,
            "name": row["name"],
            "free_rider": bool(row["free_rider"]),
            # A party removed before its first round keeps its pre-collaboration model.
            "final_accuracy": _acc(final if final is not None else row["standalone_accuracy"]),
            "accuracy_per_round": [_acc(a) for a in row["accuracy_per_round"]],
            "removed": bool(row["removed"]),
            "rounds_taken": len(row["accuracy_per_round"]),
            "points_earned": int(row["points_earned"]),
            "points_spent": int(row["points_spent"]),
            "points_balance": int(row["points_balance"]),
            "uploads": int(row["uploads"]),
            "downloads": int(row["downloads"]),
            "samples_released": int(row["samples_released"]),
            "dpgan_epsilon": row["dpgan_epsilon"],
            "credibility_seen_by_others": row["credibility_seen_by_others"],
            "events": _event_counts(row["events"]),
            "per_round": [
                {"round": int(r["round"]), "senders": int(r.get("senders", 0)),
                 "positions_updated": int(r.get("positions_updated", 0)),
                 "clipped": bool(r.get("clipped", False)),
                 "rejected": bool(r.get("rejected", False))}
                for r in records[i]
            ],
        })
    return {
        "framework": "dppdl",
        "params": {"aggregation": config.aggregation, "rule_options": dict(config.rule_options),
                   "budget_policy": config.budget_policy,
                   "budget_fraction": config.budget_fraction, "store": config.store},
        "parties": rows,
        "ledger": results["ledger"],
        "chain_id": results["chain_id"],
        "transactions": results["transactions"],
        "gas": results["gas"],
        "total_points": results["total_points"],
        "points_conserved": results["points_conserved"],
        "removed": results["removed"],
        "seconds": round(time.perf_counter() - wall, 3),
        "cpu_seconds": round(time.process_time() - started, 3),
        "chain_wait_seconds": round(sum(consortium.wait_seconds.values()), 3),
    }


def _acc(value: Any) -> float:
    # Accuracies are float32 fractions of the test set: six decimals hold them exactly enough.
    return round(float(value), 6)


def _event_counts(events: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in events if isinstance(events, list) else []:
        kind = str(event.get("kind", "?")) if isinstance(event, dict) else "?"
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))
