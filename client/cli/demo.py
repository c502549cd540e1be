"""``fppdl demo``: a whole consortium on one machine, from an empty folder to results and plots.

Anvil (or ``--rpc-url``), the ledger deployed through the migrations, N parties each with an
encrypted keystore in the run folder, real MNIST shards in a paper setting, the embedded store
(or an IPFS daemon), benchmarking and the rounds driven by :class:`client.protocol.Consortium`.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

from client.access import NodeError, open_chain
from client.chain.anvil import AnvilNode, start_anvil
from client.cli.output import Reporter
from client.cli.report import finite, print_results, write_plots
from client.shards import make_shards
from storage import open_store


def _run_folder(out: str | None) -> Path:
    if out:
        folder = Path(out)
        if folder.exists() and any(folder.iterdir()):
            raise NodeError(f"run folder {folder} is not empty; choose another --out")
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        folder = Path("runs") / f"demo-{stamp}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo; returns the exit code."""
    store_spec_probe = open_store(args.ipfs_api) if args.ipfs_api else None
    if store_spec_probe is not None:
        store_spec_probe.close()
    with Reporter() as say:
        say(f"phase 1/4: data ({args.setting} setting, {args.parties} parties x {args.per_party})")
        shards = make_shards(parties=args.parties, setting=args.setting,
                             per_party=args.per_party, seed=args.seed,
                             test_size=args.test_size, mnist_dir=args.data_dir)
        if args.rpc_url:
            open_chain(args.rpc_url)  # an unreachable node fails before the run folder exists
        folder = _run_folder(args.out)
        say(f"run folder {folder}")
        node: AnvilNode | None = None
        try:
            if args.rpc_url:
                rpc_url = args.rpc_url
            else:
                node = start_anvil()
                rpc_url = node.rpc_url
                say(f"started Anvil at {rpc_url}")
            from client.cli.demo_run import run_consortium

            results = run_consortium(args, shards, folder, rpc_url, node, say)
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
    return 0


