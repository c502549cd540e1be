"""``fppdl experiment run|list|report``: experiments as TOML files, results as run folders.

Light at import (the parser registers the flags from here): the runner, torch and web3 load
only when a command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

#: Where the experiment files and their committed results live (relative to the repository).
EXPERIMENTS_DIR = Path("experiments")
RESULTS_DIR = EXPERIMENTS_DIR / "results"
#: Preparations (standalone models, DPGAN samples) and baseline results, reused across runs.
DEFAULT_CACHE = Path("cache") / "experiments"


def add_experiment_commands(sub: Any) -> None:
    """Register ``experiment run``, ``experiment list`` and ``experiment report``."""
    exp = sub.add_parser("experiment", help="run a TOML experiment: the protocol beside the "
                         "baselines, per-seed JSON, summary table and plots")
    esub = exp.add_subparsers(dest="experiment_command", metavar="ACTION", required=True)

    p = esub.add_parser("run", help="run (or resume) an experiment's seeds")
    p.add_argument("config", type=Path, help="experiment file, e.g. experiments/p4-mlp-same.toml")
    p.add_argument("--seeds", default=None,
                   help="seeds to run, e.g. 0-4 or 0,3 (none: the file's seeds)")
    p.add_argument("--out", type=Path, default=None,
                   help="run folder (none: experiments/results/<name>-<rule>)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="SECTION.KEY=VALUE",
                   help="override a key of the file, e.g. protocol.aggregation=average "
                   "(repeatable; the value is read as TOML)")
    p.add_argument("--frameworks", default=None,
                   help="comma-separated subset, e.g. dppdl,standalone (standalone always runs; "
                   "none: the file's frameworks)")
    p.add_argument("--data-dir", default=None,
                   help="MNIST IDX folder (overrides [data] mnist_dir; full MNIST for P30/P50)")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                   help="cached preparations (standalone models, DPGAN samples) and baseline "
                   "results, reused across runs and rules")
    p.add_argument("--no-cache", action="store_true", help="compute everything afresh")
    p.add_argument("--rpc-url", default=None,
                   help="deploy on this devnet (Anvil dev key) instead of a fresh Anvil")
    p.add_argument("--no-progress", action="store_true",
                   help="plain lines instead of a progress bar")
    p.add_argument("--jobs", type=int, default=1,
                   help="seeds run side by side in this many processes, one torch thread and "
                   "one Anvil each (2 on an idle 2-core machine)")
    p.set_defaults(func="client.cli.experiment:cmd_run")

    p = esub.add_parser("list", help="the experiment files and how far their runs are")
    p.add_argument("--dir", type=Path, default=EXPERIMENTS_DIR,
                   help="folder of the experiment files (*.toml) to list")
    p.add_argument("--results", type=Path, default=None,
                   help="folder of their run folders (none: <dir>/results)")
    p.set_defaults(func="client.cli.experiment:cmd_list")

    p = esub.add_parser("report", help="rewrite a run folder's summary, table and plots, or "
                        "compare a folder of runs with the paper")
    p.add_argument("folder", type=Path, help="a run folder, or a folder of run folders")
    p.add_argument("--readme", type=Path, default=None,
                   help="with a folder of runs: write the comparison into this file's "
                   "expected-results block")
    p.set_defaults(func="client.cli.experiment:cmd_report")


def _resolve_data_dir(value: str | None) -> str | None:
    from client.experiments.config import ExperimentConfigError

    if value is None:
        return None
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise ExperimentConfigError(
            f"data folder {value} not found (the experiments read the official MNIST IDX "
            "files there; give --data-dir FOLDER)"
        )
    return str(folder)


def cmd_run(args: argparse.Namespace) -> int:
    """Run ``fppdl experiment run``."""
    from dataclasses import replace

    from client.chain.devnet import DEV_KEY
    from client.experiments.config import load_config, parse_seeds
    from client.experiments.frameworks import Chain
    from client.experiments.runner import run_experiment

    overrides = list(args.overrides)
    if args.frameworks:
        names = [n.strip() for n in args.frameworks.split(",") if n.strip()]
        overrides.append("frameworks=[" + ", ".join(f'"{n}"' for n in names) + "]")
    config = load_config(args.config, overrides)
    mnist_dir = _resolve_data_dir(args.data_dir if args.data_dir else config.mnist_dir)
    config = replace(config, mnist_dir=mnist_dir)
    seeds = parse_seeds(args.seeds) if args.seeds else config.seeds
    out = args.out or args.config.parent / "results" / config.run_label()
    chain = Chain(args.rpc_url, DEV_KEY) if args.rpc_url else None
    summary = run_experiment(
        config, out=out, seeds=seeds, cache_dir=None if args.no_cache else args.cache_dir,
        chain=chain, rich=False if args.no_progress else None, jobs=args.jobs,
    )
    print((out / "summary.md").read_text())
    print(f"{len(summary['seeds'])} seed(s) in {out}; "
          f"compute {summary['timings']['total_minutes']} min")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """Run ``fppdl experiment list``."""
    from client.experiments.config import ExperimentConfigError, load_config

    results = args.results or args.dir / "results"
    files = sorted(args.dir.glob("*.toml"), key=lambda f: (len(f.stem.split("-")[0]), f.stem))
    if not files:
        print(f"no experiment files in {args.dir}", file=sys.stderr)
        return 1
    print(f"{'file':<34} {'parties':>7} {'setting':<11} {'model':<5} {'rounds':>6} "
          f"{'seeds':>5}  results")
    for path in files:
        try:
            config = load_config(path)
        except ExperimentConfigError as err:
            print(f"{path.name:<34} invalid: {err}")
            continue
        folder = results / config.run_label()
        done = len(list((folder / "seeds").glob("seed-*.json"))) if folder.is_dir() else 0
        state = f"{folder} ({done}/{len(config.seeds)} seeds)" if done else "not run"
        print(f"{path.name:<34} {config.parties:>7} {config.setting:<11} {config.model:<5} "
              f"{config.rounds:>6} {len(config.seeds):>5}  {state}")
        if config.description:
            print(f"{'':<34} {config.description}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Run ``fppdl experiment report``."""
    import json

    from client.experiments.paper import comparison_markdown, replace_block
    from client.experiments.runner import RunFolderError, write_report

    folder: Path = args.folder
    if (folder / "seeds").is_dir():
        write_report(folder)
        print((folder / "summary.md").read_text())
        return 0
    runs = sorted(p for p in folder.iterdir() if (p / "seeds").is_dir()) if folder.is_dir() else []
    if not runs:
        raise RunFolderError(f"{folder} is neither a run folder nor a folder of run folders")
    summaries = []
    for run in runs:
        write_report(run)
        summaries.append(json.loads((run / "summary.json").read_text()))
    text = comparison_markdown(summaries)
    if args.readme is not None:
        args.readme.write_text(replace_block(args.readme.read_text(), text))
        print(f"updated {args.readme} from {len(runs)} run(s)")
    else:
        print(text)
    return 0
