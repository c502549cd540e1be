"""Per-round cost of the protocol: where a round's wall time goes, for 4 and 15 parties.

Runs the real protocol (Anvil, ledger, onion encryption, memory store, MLP on MNIST) through the
in-process runner and splits each collaborative round's wall time into training, evaluation,
crypto, storage, chain and waiting (advancing the devnet). The overhead ratio is everything but
training divided by training, measured in the same run. Prints one JSON object and writes it to
benchmarks/results/round.json. Usage: python benchmarks/round_bench.py [--parties 4 15 50].
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eth_account import Account  # noqa: E402

from client.chain.anvil import start_anvil  # noqa: E402
from client.compose import PartySettings  # noqa: E402
from client.consortium import Consortium, ConsortiumSpec, plan_parties  # noqa: E402
from client.timing import CATEGORIES  # noqa: E402
from storage import MemoryStore  # noqa: E402
from trainer.data import default_pool  # noqa: E402

MNIST_DIR = ROOT.parent / "shared" / "data" / "mnist"
ROUNDS = 2


def measure(parties: int) -> dict[str, Any]:
    """Run ``parties`` parties for ``ROUNDS`` rounds; return per-round costs."""
    mnist = str(MNIST_DIR) if (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists() else None
    spec = ConsortiumSpec(
        parties=parties,
        setting="same",
        per_party=600 if parties * 600 <= (14_000 if mnist else 4_000) else 250,
        test_size=1000,
        # The DPGAN is not part of a round; a small one keeps the set-up short.
        settings=PartySettings(
            rounds=ROUNDS, eval_samples=50, local_epochs=5, pretrain_epochs=2,
            dpgan_epochs=1, dpgan_width=8, threads=1,
        ),
        mnist_dir=mnist,
    )
    pool = default_pool(test_size=spec.test_size, seed=spec.seed, mnist_dir=mnist)
    prepared = plan_parties(spec, pool=pool)
    node = start_anvil(accounts=2)
    try:
        store = MemoryStore()
        consortium = Consortium.deploy(
            spec, prepared, rpc_url=node.rpc_url, funder=Account.from_key(node.dev_private_keys[0]),
            store_for=lambda _i: store, workdir=Path(tempfile.mkdtemp(prefix="fppdl-bench-")),
        )
        start = time.perf_counter()
        consortium.run()
        total = time.perf_counter() - start
        ledger = consortium.ledger
        rounds = []
        for epoch in range(1, ROUNDS + 1):
            split = {c: 0.0 for c in CATEGORIES}
            for member in consortium.members:
                for category, seconds in member.party.timer.of(epoch).items():
                    split[category] += seconds
            split["waiting"] = consortium.wait_seconds.get(epoch, 0.0)
            wall = consortium.wall_seconds.get(epoch, 0.0)
            accounted = sum(split.values())
            split["other"] = max(0.0, wall - accounted)
            overhead = wall - split["training"]
            rounds.append(
                {
                    "round": epoch,
                    "wall_s": round(wall, 3),
                    "split_s": {k: round(v, 3) for k, v in split.items()},
                    "overhead_ratio": round(overhead / split["training"], 3)
                    if split["training"] > 0 else None,
                }
            )
        results = consortium.results()
        per_round_tx = {
            "requests": [len(ledger.download_requests(e)) for e in range(1, ROUNDS + 1)],
            "uploads": [len(ledger.uploads(e)) for e in range(1, ROUNDS + 1)],
        }
        return {
            "parties": parties,
            "per_party_examples": spec.per_party,
            "rounds": rounds,
            "mean_overhead_ratio": round(
                sum(r["overhead_ratio"] for r in rounds) / len(rounds), 3
            ),
            "run_wall_s": round(total, 2),
            "transactions_total": results["transactions"],
            "gas_total": results["gas"],
            "transactions_per_round": round(results["transactions"] / (ROUNDS + 1), 1),
            "gas_per_round": int(results["gas"] / (ROUNDS + 1)),
            "round_transactions": per_round_tx,
            "points_conserved": results["points_conserved"],
        }
    finally:
        node.stop()


def main() -> None:
    """Run the benchmark and write its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parties", type=int, nargs="+", default=[4, 15])
    args = parser.parse_args()
    report = {
        "benchmark": "round",
        "model": "mlp",
        "store": "memory",
        "goal": "overhead_ratio <= 1.0 at 4 parties, <= 2.0 at 15",
        "note": "per-round transactions/gas average over benchmarking + rounds",
        "runs": [measure(n) for n in args.parties],
    }
    text = json.dumps(report, indent=2)
    print(text)
    out = ROOT / "benchmarks" / "results" / "round.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
