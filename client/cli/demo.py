"""``fppdl demo``: a whole consortium on one machine, from an empty folder to results and plots.

Anvil (or ``--rpc-url``), the ledger deployed through the migrations, N parties each with an
encrypted keystore in the run folder, real MNIST shards in a paper setting, the embedded store
(or an IPFS daemon), benchmarking and the rounds driven by :class:`client.protocol.Consortium`.

An interrupted demo resumes: ``fppdl demo --out <its run folder>`` restarts its Anvil from the
saved state (``anvil-state.json``), reuses the keystores and cached preparations, composes the
parties on the deployed ledger again and continues the rounds (see :mod:`client.cli.runs`).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

from client.access import open_chain
from client.chain.anvil import AnvilNode, start_anvil
from client.cli.output import Reporter
from client.cli.parser import build_parser
from client.cli.report import finite, print_results, write_plots
from client.cli.runs import CHAIN_STATE_FILE, merge_recorded, open_run_folder, write_run
from client.shards import make_shards
from storage import open_store

#: The demo's settings recorded in results.json and run.json (flag names).
RECORDED = ("parties", "rounds", "setting", "model", "seed", "per_party", "aggregation",
            "local_epochs", "pretrain_epochs", "dpgan_epochs", "dpgan_width", "test_size",
            "data_dir", "ipfs_api", "rpc_url", "kdf_cost", "real_clock", "block_time",
            "adversary")


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo (or continue an interrupted one); return the exit code."""
    store_spec_probe = open_store(args.ipfs_api) if args.ipfs_api else None
    if store_spec_probe is not None:
        store_spec_probe.close()
    run = None
    if args.out and Path(args.out).is_dir() and any(Path(args.out).iterdir()):
        folder, run = open_run_folder(Path(args.out), Path(args.out), "demo")
        assert run is not None  # a non-empty folder is a run to resume, or refused
        args = merge_recorded(args, build_parser().parse_args(["demo"]), run["args"])
        if (folder / "results.json").is_file():
            results = json.loads((folder / "results.json").read_text())
            print(f"run {folder} is complete; its results:")
            print_results(results)
            return 0
    with Reporter() as say:
        say(f"phase 1/4: data ({args.setting} setting, {args.parties} parties x {args.per_party})")
        shards = make_shards(parties=args.parties, setting=args.setting,
                             per_party=args.per_party, seed=args.seed,
                             test_size=args.test_size, mnist_dir=args.data_dir)
        if args.rpc_url:
            open_chain(args.rpc_url)  # an unreachable node fails before the run folder exists
        if run is None:
            stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
            folder, _none = open_run_folder(Path(args.out) if args.out else None,
                                            Path("runs") / f"demo-{stamp}", "demo")
            run = {"kind": "demo", "args": {k: getattr(args, k) for k in RECORDED}}
            write_run(folder, run)
            say(f"run folder {folder}")
        else:
            say(f"resuming run folder {folder}")
        args.resume_command = f"`fppdl demo --out {folder}`"
        node: AnvilNode | None = None
        try:
            if args.rpc_url:
                rpc_url = args.rpc_url
            else:
                node = start_anvil(state=folder / CHAIN_STATE_FILE,
                                   block_time=args.block_time if args.real_clock else 0)
                rpc_url = node.rpc_url
                say(f"started Anvil at {rpc_url}"
                    + (f", a block every {args.block_time}s" if args.real_clock else ""))
            from client.cli.demo_run import run_consortium

            results = run_consortium(args, shards, folder, rpc_url, node, say, run)
            # The audit reads the chain, so it runs before this demo's Anvil stops.
            from client.audit.run import audit_block

            say("audit: replaying the ledger from its events (fppdl audit)")
            results["audit"] = audit_block(rpc_url, run["ledger"],
                                           args.ipfs_api or f"embedded:{folder / 'store'}",
                                           int(run["deploy_block"]), folder / "audit")
        finally:
            if node is not None:
                node.stop()
    results = finite(results)
    print_results(results)
    for warning in results.get("warnings", []):
        print(f"warning: {warning}")
    (folder / "results.json").write_text(
        json.dumps(results, indent=2, default=str, allow_nan=False) + "\n"
    )
    plots = write_plots(results, folder)
    print(f"\nwrote {folder / 'results.json'} and {', '.join(str(p) for p in plots)}")
    audit = results["audit"]
    print(f"audit: {audit['verdict']}, {audit['violations']} violation(s)"
          + (f" ({audit['error']})" if audit.get("error") else "")
          + f"; report: {audit['report']}")
    return 0


