"""Per-seed gains and fairness, and ``summary.json`` over seeds (the results contract).

``summary.json``::

    {"experiment": name, "run": folder name, "config": {"parties", "setting", "model",
     "rounds", ...}, "seeds": [...],
     "frameworks": {NAME: {"best_mean", "worst_mean", "gain_mean", "gain_worst_mean",
                           "gain_min", "pearson": {measure: x}, "pearson_std": {...},
                           "removed_honest", ...}},
     "cgsv_sweep": {beta: {...}}, "primary_contribution": measure, "timings": {...}}

for NAME in dppdl, standalone (equal compute), standalone_pre (before the rounds),
centralized, dssgd, fedavg and cgsv (at the beta of best mean fairness). Accuracies and
gains are fractions; an undefined Pearson (a constant contribution or accuracy) is null.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from client.experiments.config import (
    CONTRIBUTIONS,
    STANDALONE_PRE,
    ExperimentConfig,
)

#: Frameworks of summary.json, in report order (the contract's names).
SUMMARY_FRAMEWORKS = ("dppdl", "standalone", STANDALONE_PRE, "centralized", "dssgd",
                      "fedavg", "cgsv")
CGSV_PREFIX = "cgsv-beta"


def cgsv_key(beta: float) -> str:
    """Return the per-seed framework name of CGSV at altruism degree ``beta``."""
    return f"{CGSV_PREFIX}{beta:g}"


def _pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    from trainer.fairness import pearson

    if len(x) < 2:
        return None
    value = pearson(x, y)
    return None if math.isnan(value) else round(float(value), 6)


def assemble(doc: dict[str, Any]) -> dict[str, Any]:
    """Add to a seed document every row's contribution columns and gain, and the fairness.

    The gain of a party is its final accuracy minus that of its own equal-compute standalone
    model (``standalone``); fairness is Pearson(contribution, final accuracy) over the
    honest parties (removed ones included: their final model is what they got), for each
    contribution measure.
    """
    parties = doc["parties"]
    frameworks = doc["frameworks"]
    alone = frameworks.get("standalone")
    reference = ([r["final_accuracy"] for r in alone["parties"]] if alone else None)
    if alone is not None and "pre_accuracies" in alone:
        pre = alone["pre_accuracies"]
        frameworks[STANDALONE_PRE] = {
            "framework": STANDALONE_PRE, "params": {},
            "parties": [{"party": i, "final_accuracy": float(a), "accuracy_per_round": []}
                        for i, a in enumerate(pre)],
            "seconds": 0.0,
        }
    for result in frameworks.values():
        honest = []
        for row in result["parties"]:
            i = row["party"]
            if row.get("free_rider") or i >= len(parties):
                row["gain"] = None
                continue
            info = parties[i]
            row["data_size"] = info["data_size"]
            row["sharing_level"] = info["sharing_level"]
            row["gain"] = (round(row["final_accuracy"] - reference[i], 6)
                           if reference is not None else None)
            honest.append(row)
        result["fairness"] = {
            measure: _pearson([parties[r["party"]][measure] for r in honest],
                              [r["final_accuracy"] for r in honest])
            for measure in CONTRIBUTIONS
        }
    return doc


# ---------------------------------------------------------------------- over seeds


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [float(v) for v in values if v is not None]
    return round(statistics.fmean(kept), 6) if kept else None


def _std(values: Iterable[float | None]) -> float | None:
    kept = [float(v) for v in values if v is not None]
    return round(statistics.stdev(kept), 6) if len(kept) >= 2 else None


def framework_stats(docs: Sequence[Mapping[str, Any]], name: str,
                    centralized: Mapping[int, float]) -> dict[str, Any] | None:
    """Return the contract's statistics of framework ``name`` over the seed documents."""
    present = [d for d in docs if name in d["frameworks"]]
    if not present:
        return None
    best, worst, gains, worst_gains, mean_gains, vs_central = [], [], [], [], [], []
    pearson: dict[str, list[float | None]] = {m: [] for m in CONTRIBUTIONS}
    removed = 0
    riders_removed = 0
    for doc in present:
        result = doc["frameworks"][name]
        honest = [r for r in result["parties"] if not r.get("free_rider")]
        finals = [r["final_accuracy"] for r in honest]
        best.append(max(finals))
        worst.append(min(finals))
        seed_gains = [r["gain"] for r in honest if r.get("gain") is not None]
        gains.extend(seed_gains)
        if seed_gains:
            worst_gains.append(min(seed_gains))
            mean_gains.append(statistics.fmean(seed_gains))
        if doc["seed"] in centralized:
            vs_central.append(max(finals) - centralized[doc["seed"]])
        removed += sum(1 for r in honest if r.get("removed"))
        riders_removed += sum(1 for r in result["parties"]
                              if r.get("free_rider") and r.get("removed"))
        for measure in CONTRIBUTIONS:
            pearson[measure].append(result["fairness"][measure])
    stats: dict[str, Any] = {
        "seeds": len(present),
        "best_mean": _mean(best), "best_std": _std(best),
        "worst_mean": _mean(worst), "worst_std": _std(worst),
        "gain_mean": _mean(gains), "gain_mean_std": _std(mean_gains),
        "gain_worst_mean": _mean(worst_gains), "gain_worst_std": _std(worst_gains),
        "gain_min": round(min(worst_gains), 6) if worst_gains else None,
        "best_vs_centralized_mean": _mean(vs_central),
        "pearson": {m: _mean(v) for m, v in pearson.items()},
        "pearson_std": {m: _std(v) for m, v in pearson.items()},
        "pearson_defined_seeds": {m: sum(1 for x in v if x is not None)
                                  for m, v in pearson.items()},
        "removed_honest": removed,
    }
    if name == "dppdl":
        stats["free_riders_removed"] = riders_removed
        stats["ledgers"] = [d["frameworks"][name]["ledger"] for d in present]
        stats["transactions_mean"] = _mean(d["frameworks"][name]["transactions"]
                                           for d in present)
        stats["gas_mean"] = _mean(d["frameworks"][name]["gas"] for d in present)
        stats["points_conserved"] = all(d["frameworks"][name]["points_conserved"]
                                        for d in present)
    return stats


def _centralized(docs: Sequence[Mapping[str, Any]]) -> dict[int, float]:
    return {d["seed"]: d["frameworks"]["centralized"]["parties"][0]["final_accuracy"]
            for d in docs if "centralized" in d["frameworks"]}


def summarize(config: ExperimentConfig, docs: Sequence[Mapping[str, Any]], *,
              run: str) -> dict[str, Any]:
    """Return ``summary.json`` for the (assembled) seed documents of one run folder."""
    docs = sorted(docs, key=lambda d: int(d["seed"]))
    central = _centralized(docs)
    frameworks: dict[str, Any] = {}
    for name in SUMMARY_FRAMEWORKS:
        if name == "cgsv":
            continue
        stats = framework_stats(docs, name, central)
        if stats is not None:
            frameworks[name] = stats
    measure = config.cgsv_measure
    sweep: dict[str, Any] = {}
    for beta in config.cgsv_betas:
        stats = framework_stats(docs, cgsv_key(beta), central)
        if stats is not None:
            sweep[f"{beta:g}"] = stats
    if sweep:
        def score(item: tuple[str, Mapping[str, Any]]) -> float:
            # A seed where every party got the same model has no fairness to speak of: it
            # counts as 0, so a beta is not preferred for being defined in fewer seeds.
            stats = item[1]
            value, defined = stats["pearson"][measure], stats["pearson_defined_seeds"][measure]
            return 0.0 if value is None else float(value) * defined / stats["seeds"]

        best, chosen = max(sweep.items(), key=score)  # first (smallest beta) on ties
        frameworks["cgsv"] = {**chosen, "beta": float(best), "beta_selected_by": measure,
                              "beta_score": round(score((best, chosen)), 6),
                              "betas_tried": [float(b) for b in sweep]}
    ordered = {n: frameworks[n] for n in SUMMARY_FRAMEWORKS if n in frameworks}
    return {
        "experiment": config.name,
        "run": run,
        "description": config.description,
        "config": config.summary_fields(),
        "seeds": [int(d["seed"]) for d in docs],
        "primary_contribution": config.primary_contribution,
        "frameworks": ordered,
        "cgsv_sweep": sweep,
        "timings": timings(docs),
    }


def timings(docs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Return the compute time of the run: per seed and framework, and the total.

    ``total_seconds`` adds the wall time of every part of every seed as it was computed
    (preparation with its DPGANs, each framework), ``total_cpu_seconds`` the CPU time of
    this process in them (the run is single-threaded, so on an idle machine the wall time
    approaches it; on a loaded one the wall time is longer); ``from_cache`` lists parts
    that were reused from a cache, whose time counts as when they were computed.
    """
    per_seed = []
    total = cpu_total = 0.0
    cached: list[str] = []
    for doc in docs:
        t = doc.get("timings", {})
        parts = {"prepare": float(t.get("prepare_seconds", 0.0))}
        cpu = float(t.get("prepare_cpu_seconds", 0.0))
        for name, result in doc["frameworks"].items():
            if name == STANDALONE_PRE:
                continue
            parts[name] = float(result.get("seconds", 0.0))
            cpu += float(result.get("cpu_seconds", 0.0))
            if result.get("cached"):
                cached.append(f"seed {doc['seed']}: {name}")
        if t.get("prepared_from_cache"):
            cached.append(f"seed {doc['seed']}: {t['prepared_from_cache']} preparations")
        seed_total = sum(parts.values())
        total += seed_total
        cpu_total += cpu
        per_seed.append({"seed": doc["seed"], "seconds": round(seed_total, 1),
                         "cpu_seconds": round(cpu, 1),
                         "parts": {k: round(v, 1) for k, v in parts.items()}})
    return {"total_seconds": round(total, 1), "total_minutes": round(total / 60, 1),
            "total_cpu_seconds": round(cpu_total, 1),
            "total_cpu_minutes": round(cpu_total / 60, 1),
            "per_seed": per_seed, "from_cache": cached}


# ---------------------------------------------------------------------- markdown


def pct(value: float | None, std: float | None = None, *, signed: bool = False) -> str:
    """Format a fraction as percent (``91.2``, ``+1.3 +- 0.4``); ``-`` for None."""
    if value is None:
        return "-"
    text = f"{100 * value:+.2f}" if signed else f"{100 * value:.2f}"
    return text if std is None else f"{text} ± {100 * std:.2f}"


def corr(value: float | None, std: float | None = None, defined: int | None = None,
         seeds: int | None = None) -> str:
    """Format a Pearson coefficient (``0.84 ± 0.10``); ``undef.`` for None.

    With ``defined`` < ``seeds`` the number of seeds it was defined in follows, e.g.
    ``0.35 (1 of 5 seeds)``.
    """
    if value is None:
        return "undef."
    text = f"{value:.2f}" if std is None else f"{value:.2f} ± {std:.2f}"
    if defined is not None and seeds is not None and defined < seeds:
        text += f" ({defined} of {seeds} seeds)"
    return text


def fairness_cell(stats: Mapping[str, Any], measure: str) -> str:
    """Format a framework's mean fairness for ``measure`` with its spread and coverage."""
    return corr(stats["pearson"][measure], stats["pearson_std"][measure],
                stats["pearson_defined_seeds"][measure], stats["seeds"])


FRAMEWORK_LABELS = {
    "dppdl": "DPPDL (this protocol)",
    "standalone": "standalone, equal compute",
    STANDALONE_PRE: "standalone, before the rounds",
    "centralized": "centralized",
    "dssgd": "DSSGD (distributed)",
    "fedavg": "FedAvg",
    "cgsv": "CGSV",
}


def markdown(summary: Mapping[str, Any]) -> str:
    """Return the run's table (accuracies in percent, gains in points) as markdown."""
    cfg = summary["config"]
    seeds = summary["seeds"]
    primary = summary["primary_contribution"]
    lines = [
        f"# {summary['run']}",
        "",
        f"{summary.get('description') or summary['experiment']}",
        "",
        f"{cfg['parties']} parties, {cfg['setting']} setting, {cfg['model']}, "
        f"{cfg['rounds']} rounds x {cfg['local_epochs']} local epochs after "
        f"{cfg['pretrain_epochs']} pretraining epochs, lr {cfg['lr']}, batch "
        f"{cfg['batch_size']}; rule `{cfg['aggregation']}`"
        + (f" {cfg['rule_options']}" if cfg["rule_options"] else "")
        + f", budget `{cfg['budget_policy']}`; {len(seeds)} seed(s) {seeds}.",
        "",
        "Accuracies in %, gains in points over each party's own equal-compute standalone "
        "model, mean ± std over seeds. Fairness = Pearson(contribution, final accuracy); "
        f"this setting varies **{primary.replace('_', ' ')}**.",
        "",
        "| framework | best | worst | mean gain | worst gain | min gain | best - centralized "
        "| fairness (sharing level) | fairness (data size) | fairness (standalone acc.) "
        "| removed honest |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, s in summary["frameworks"].items():
        label = FRAMEWORK_LABELS.get(name, name)
        if name == "cgsv":
            label += f" (beta {s['beta']:g})"
        lines.append(
            f"| {label} | {pct(s['best_mean'], s['best_std'])} | "
            f"{pct(s['worst_mean'], s['worst_std'])} | "
            f"{pct(s['gain_mean'], s['gain_mean_std'], signed=True)} | "
            f"{pct(s['gain_worst_mean'], s['gain_worst_std'], signed=True)} | "
            f"{pct(s['gain_min'], signed=True)} | "
            f"{pct(s['best_vs_centralized_mean'], signed=True)} | "
            + " | ".join(fairness_cell(s, m) for m in CONTRIBUTIONS)
            + f" | {s['removed_honest']} |"
        )
    sweep = summary.get("cgsv_sweep") or {}
    if sweep:
        lines += ["", f"CGSV altruism degrees tried (fairness by {primary.replace('_', ' ')} "
                  "picks the reported one; a seed where every party ends with the same model "
                  "counts as 0 in that choice):", "",
                  "| beta | best | mean gain | fairness |", "| --- | --- | --- | --- |"]
        for beta, s in sweep.items():
            lines.append(f"| {beta} | {pct(s['best_mean'])} | "
                         f"{pct(s['gain_mean'], signed=True)} | "
                         f"{fairness_cell(s, primary)} |")
    dppdl = summary["frameworks"].get("dppdl")
    if dppdl:
        lines += ["", f"DPPDL ran on {dppdl['seeds']} fresh ledger(s) on Anvil "
                  f"({dppdl['transactions_mean']:.0f} transactions and "
                  f"{dppdl['gas_mean']:.0f} gas per run on average; points conserved: "
                  f"{'yes' if dppdl['points_conserved'] else 'NO'})."]
    t = summary["timings"]
    walls = ", ".join(f"{s['seconds']} s" for s in t["per_seed"])
    lines += ["", f"Compute: {t['total_minutes']} min wall, {t['total_cpu_minutes']} min CPU "
              f"in all (wall per seed: {walls})"
              + (f"; reused from the cache: {len(t['from_cache'])} part(s)" if t["from_cache"]
                 else "") + "."]
    return "\n".join(lines) + "\n"
