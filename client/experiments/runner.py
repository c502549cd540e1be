"""Run an experiment's seeds, resumably, and write the run folder.

Run folder (``experiments/results/<name>-<rule>/`` by default)::

    config.json           the resolved config of the last invocation
    seeds/seed-<k>.json   one seed: parties, every framework per party, gains, fairness
    summary.json          over seeds: the results contract (client.experiments.summary)
    summary.md            the table
    *.png                 the plots (client.experiments.plots)

A seed file carries the hash of everything that determines it
(:meth:`ExperimentConfig.seed_hash`); it is written after every framework, so an interrupted
run resumes at the framework it stopped in, and a finished seed is skipped. A seed file of
another config is never overwritten (choose another ``--out``). The cache folder holds the
parties' preparations (standalone models and DPGAN samples, by
:func:`client.compose.preparation_key`) and the baseline results (by
:meth:`ExperimentConfig.baseline_hash`); neither depends on the protocol's rule, so a rerun
with another rule only runs ``dppdl``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from client.errors import FppdlError
from client.experiments.config import (
    STANDALONE_PRE,
    ExperimentConfig,
    ExperimentConfigError,
)
from client.experiments.frameworks import (
    Chain,
    SeedSetup,
    baseline_params,
    load_pool,
    pool_digest,
    prepare_seed,
    run_baseline,
    run_dppdl,
)
from client.experiments.progress import RunProgress
from client.experiments.summary import assemble, cgsv_key, markdown, summarize

SEEDS_DIR = "seeds"


class RunFolderError(FppdlError, ValueError):
    """A run folder holds results of another experiment or config."""


def seed_path(out: Path, seed: int) -> Path:
    """Return the file of one seed's results."""
    return out / SEEDS_DIR / f"seed-{seed}.json"


def write_json(path: Path, value: Any) -> None:
    """Write strict JSON atomically (NaN is an error, never written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value, indent=1, allow_nan=False) + "\n")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    """Read a JSON file written by :func:`write_json`."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise RunFolderError(f"{path} is not readable JSON ({err}); delete it to redo it") from None


def code_version() -> dict[str, Any]:
    """Return the git commit of the code that computes a seed, and whether it had edits."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--", "client", "trainer",
                                 "storage", "contracts", "migrations"], cwd=root,
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "modified": None}
    return {"commit": commit, "modified": bool(status.strip())}


def steps_of(config: ExperimentConfig) -> list[str]:
    """Return the per-seed steps: frameworks, CGSV once per beta (standalone always)."""
    steps: list[str] = []
    for name in config.frameworks if "standalone" in config.frameworks else (
            "standalone", *config.frameworks):
        if name == "cgsv":
            steps.extend(cgsv_key(b) for b in config.cgsv_betas)
        else:
            steps.append(name)
    # Baselines first: they are cheap and cached, and an interrupted dppdl resumes last.
    return sorted(steps, key=lambda s: s == "dppdl")


class ChainProvider:
    """Start Anvil on first use (only a seed that runs ``dppdl`` needs it); stop it at the end."""

    def __init__(self, chain: Chain | None = None) -> None:
        self._given = chain
        self._node: Any = None

    def get(self) -> Chain:
        """Return the chain to deploy on."""
        if self._given is not None:
            return self._given
        if self._node is None:
            from client.chain.anvil import start_anvil

            self._node = start_anvil()
        return Chain(self._node.rpc_url, self._node.dev_private_keys[0])

    def close(self) -> None:
        """Stop the Anvil started here (a given chain is left alone)."""
        if self._node is not None:
            self._node.stop()
            self._node = None


def _cached_baseline(cache_dir: Path | None, key: str) -> dict[str, Any] | None:
    if cache_dir is None:
        return None
    path = cache_dir / "baselines" / f"{key}.json"
    if not path.is_file():
        return None
    try:
        value: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # a damaged cache entry is recomputed, never trusted
    return value


def run_step(setup: SeedSetup, step: str, *, cache_dir: Path | None, chains: ChainProvider,
             say: Callable[[str], None]) -> dict[str, Any]:
    """Run one framework of one seed (a baseline from the cache when it is there)."""
    config = setup.config
    if step == "dppdl":
        return run_dppdl(setup, chains.get(), say=say)
    name, params = step, baseline_params(config, step, tuple(setup.partition.levels))
    if step.startswith("cgsv"):
        name = "cgsv"
        beta = next(b for b in config.cgsv_betas if cgsv_key(b) == step)
        params = {**baseline_params(config, "cgsv", ()), "beta": beta}
    key = config.baseline_hash(setup.seed, setup.data_digest, name, params)
    cached = _cached_baseline(cache_dir, key)
    if cached is not None:
        return {**cached, "cached": True}
    result = run_baseline(setup, name, params)
    result["framework"] = step
    if cache_dir is not None:
        write_json(cache_dir / "baselines" / f"{key}.json", result)
    return result


def _prepared_files(cache_dir: Path | None) -> set[str]:
    if cache_dir is None or not cache_dir.is_dir():
        return set()
    return {p.name for p in cache_dir.glob("prepared-*.npz")}


def run_seed(
    config: ExperimentConfig,
    seed: int,
    *,
    out: Path,
    cache_dir: Path | None,
    chains: ChainProvider,
    progress: RunProgress,
) -> dict[str, Any]:
    """Run (or resume, or skip) one seed; return its assembled document."""
    steps = steps_of(config)
    progress.begin(f"seed {seed}: loading the data", counted=False)
    pool = load_pool(config, seed)
    digest = pool_digest(pool)
    key = config.seed_hash(seed, digest)
    path = seed_path(out, seed)
    doc: dict[str, Any] | None = None
    if path.is_file():
        doc = read_json(path)
        if doc.get("config_hash") != key:
            raise RunFolderError(
                f"{path} holds seed {seed} of another config (hash {doc.get('config_hash')}, "
                f"this one {key}); run with another --out, or delete it to redo the seed"
            )
    todo = [s for s in steps if doc is None or s not in doc["frameworks"]]
    if not todo:
        for step in steps:
            progress.begin(f"seed {seed}: {step}")
            progress.done("done before")
        return assemble(doc) if doc is not None else {}
    progress.begin(f"seed {seed}: preparing {config.parties + config.free_riders} parties",
                   counted=False)
    before = _prepared_files(cache_dir)
    started, cpu = time.perf_counter(), time.process_time()
    setup = prepare_seed(config, seed, cache_dir=cache_dir, say=progress.say)
    prepare_seconds = time.perf_counter() - started
    prepare_cpu = time.process_time() - cpu
    # Every honest party's preparation is cached: those not written now were reused.
    created = len(_prepared_files(cache_dir) - before)
    reused = config.parties - created if cache_dir is not None else 0
    progress.note(f"seed {seed}: parties ready in {prepare_seconds:.1f} s"
                  + (f" ({reused} preparations from the cache)" if reused else ""))
    if doc is None:
        contributions = setup.contributions()
        doc = {
            "experiment": config.name,
            "run": out.name,
            "seed": seed,
            "config_hash": key,
            "data_digest": digest,
            "config": config.as_json(),
            "code": code_version(),
            "partition": {"kind": setup.partition.kind,
                          "sizes": list(setup.partition.sizes),
                          "levels": [float(v) for v in setup.partition.levels],
                          "train_pool": len(setup.pool.train),
                          "test_size": len(setup.pool.test)},
            "parties": [
                {"party": i, "name": setup.plans[i].prepared.name,
                 "data_size": int(contributions["data_size"][i]),
                 "sharing_level": contributions["sharing_level"][i],
                 "standalone_accuracy": round(contributions["standalone_accuracy"][i], 6),
                 "dpgan_epsilon": float(setup.plans[i].prepared.dpgan_epsilon),
                 "samples_released": int(setup.plans[i].prepared.samples.count)}
                for i in range(config.parties)
            ],
            "aligned": True,
            "frameworks": {},
            "timings": {"prepare_seconds": round(prepare_seconds, 3),
                        "prepare_cpu_seconds": round(prepare_cpu, 3),
                        "prepared_from_cache": reused},
        }
    for step in steps:
        if step in doc["frameworks"]:
            progress.begin(f"seed {seed}: {step}")
            progress.done("done before")
            continue
        progress.begin(f"seed {seed}: {step}")
        result = run_step(setup, step, cache_dir=cache_dir, chains=chains, say=progress.say)
        doc["frameworks"][step] = result
        write_json(path, _without_derived(doc))
        progress.done(("cached" if result.get("cached") else f"{result['seconds']:.1f} s")
                      + _headline(result))
    return assemble(doc)


def _without_derived(doc: dict[str, Any]) -> dict[str, Any]:
    frameworks = {k: v for k, v in doc["frameworks"].items() if k != STANDALONE_PRE}
    return {**doc, "frameworks": frameworks}


def _headline(result: dict[str, Any]) -> str:
    finals = [r["final_accuracy"] for r in result["parties"] if not r.get("free_rider")]
    text = f"; final {100 * min(finals):.1f}..{100 * max(finals):.1f}%"
    if result.get("ledger"):
        text += f"; ledger {result['ledger']}, {result['transactions']} transactions"
    return text


def load_seed_docs(out: Path) -> list[dict[str, Any]]:
    """Return the assembled seed documents of a run folder (all of one config)."""
    docs = []
    for path in sorted((out / SEEDS_DIR).glob("seed-*.json")):
        docs.append(assemble(read_json(path)))
    if not docs:
        raise RunFolderError(f"{out} has no seed results ({SEEDS_DIR}/seed-*.json)")
    base = _comparable(docs[0]["config"])
    for doc in docs[1:]:
        if _comparable(doc["config"]) != base:
            raise RunFolderError(f"{out}: seed {doc['seed']} was run with another config")
    return docs


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items()
            if k not in ("seeds", "frameworks", "description", "mnist_dir")}


def write_report(out: Path, docs: Sequence[dict[str, Any]] | None = None,
                 config: ExperimentConfig | None = None) -> dict[str, Any]:
    """(Re)write ``summary.json``, ``summary.md`` and the plots of a run folder."""
    from client.experiments.plots import write_plots

    docs = list(docs) if docs is not None else load_seed_docs(out)
    if config is None:
        config = ExperimentConfig.from_json(docs[-1]["config"])
    summary = summarize(config, docs, run=out.name)
    write_json(out / "summary.json", summary)
    (out / "summary.md").write_text(markdown(summary))
    write_plots(summary, docs, out)
    return summary


def _run_seeds(config: ExperimentConfig, seeds: Sequence[int], out: Path,
               cache_dir: Path | None, chain: Chain | None, rich: bool | None) -> list[int]:
    """Run ``seeds`` one after the other with one chain; return them (a worker's job)."""
    chains = ChainProvider(chain)
    try:
        with RunProgress(len(seeds) * len(steps_of(config)), rich=rich) as progress:
            for seed in seeds:
                run_seed(config, seed, out=out, cache_dir=cache_dir, chains=chains,
                         progress=progress)
    finally:
        chains.close()
    return list(seeds)


def run_experiment(
    config: ExperimentConfig,
    *,
    out: Path,
    seeds: Sequence[int] | None = None,
    cache_dir: Path | None = None,
    chain: Chain | None = None,
    rich: bool | None = None,
    jobs: int = 1,
) -> dict[str, Any]:
    """Run every seed (resuming what is done) and write the run folder; return the summary.

    Parameters
    ----------
    config : ExperimentConfig
        The experiment.
    out : Path
        Run folder.
    seeds : sequence of int, optional
        Seeds to run (default: the config's).
    cache_dir : Path, optional
        Preparations and baseline results reused across runs and rules.
    chain : Chain, optional
        A devnet to deploy on (default: an Anvil started for this run).
    rich : bool, optional
        Force the progress bar on or off (default: on a terminal).
    jobs : int
        Processes that run seeds side by side, each single-threaded with its own Anvil (2
        on an otherwise idle 2-core machine); every seed still runs every framework.
    """
    chosen = tuple(seeds) if seeds is not None else config.seeds
    if not chosen:
        raise ExperimentConfigError("no seeds to run")
    if jobs < 1:
        raise ExperimentConfigError(f"jobs must be >= 1, got {jobs}")
    jobs = min(jobs, len(chosen))
    if jobs > 1 and chain is not None:
        # Two processes sending from one funder key would race for its nonces.
        raise ExperimentConfigError("--jobs above 1 starts one Anvil per job: drop --rpc-url")
    out.mkdir(parents=True, exist_ok=True)
    if jobs == 1:
        _run_seeds(config, chosen, out, cache_dir, chain, rich)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        shares = [chosen[k::jobs] for k in range(jobs)]
        context = multiprocessing.get_context("spawn")  # no torch or web3 state forked
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            futures = [pool.submit(_run_seeds, config, share, out, cache_dir, None, False)
                       for share in shares]
            for future in futures:
                future.result()
    write_json(out / "config.json", {**config.as_json(), "seeds": list(chosen)})
    summary = write_report(out, load_seed_docs(out), config)
    print(f"wrote {out / 'summary.json'}, {out / 'summary.md'} and the plots", flush=True)
    return summary
