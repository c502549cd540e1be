"""The demo's final report: a table per party, fairness and chain totals, and two PNG plots."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (strict JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def print_results(results: dict[str, Any], console: Console | None = None) -> None:
    """Print the per-party table, the fairness, removals, transactions and gas."""
    if console is None:
        # Piped output gets a fixed width wide enough for every column (rich defaults to 80).
        console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
    table = Table(title="fppdl consortium results")
    for column in ("party", "data", "sharing", "standalone", "final", "earned", "spent",
                   "balance", "uploads", "downloads", "credibility", "removed"):
        # fold, never truncate: a cut-off number would be a wrong number
        table.add_column(column, justify="left" if column == "party" else "right",
                         overflow="fold")
    for r in results["parties"]:
        cred = r["credibility_seen_by_others"]
        table.add_row(
            r["name"], str(r["data_size"]), f"{r['sharing_level']:.2f}",
            _pct(r["standalone_accuracy"]), _pct(r["final_accuracy"]),
            str(r["points_earned"]), str(r["points_spent"]), str(r["points_balance"]),
            str(r["uploads"]), str(r["downloads"]), "-" if cred is None else f"{cred:.3f}",
            "yes" if r["removed"] else "no",
        )
    console.print(table)
    fair = results["fairness"]
    pearson = fair.get("pearson")
    shown = "undefined" if pearson is None else f"{pearson:.4f}"
    console.print(
        f"fairness: Pearson({fair['contribution']}, final accuracy) = {shown}"
        + (f" ({fair['note']})" if fair.get("note") else "")
    )
    console.print(f"removed parties: {', '.join(results['removed']) or 'none'}")
    console.print(
        f"ledger {results['ledger']} on chain {results['chain_id']}: "
        f"{results['transactions']} transactions, {results['gas']} gas; "
        f"points conserved: {results['points_conserved']}"
    )


def write_plots(results: dict[str, Any], folder: Path) -> list[Path]:
    """Write ``fairness.png`` and ``accuracy.png`` into ``folder``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["parties"]
    fair = results["fairness"]
    fig, ax = plt.subplots(figsize=(5, 4))
    for r in rows:
        if r["final_accuracy"] is None:
            continue
        ax.scatter(r["sharing_level"], r["final_accuracy"],
                   marker="x" if r["removed"] else "o")
        ax.annotate(r["name"], (r["sharing_level"], r["final_accuracy"]), fontsize=8,
                    xytext=(4, 2), textcoords="offset points")
    pearson = fair.get("pearson")
    ax.set_title("fairness: Pearson "
                 + ("undefined" if pearson is None else f"{pearson:.3f}"))
    ax.set_xlabel(f"contribution ({fair['contribution']})")
    ax.set_ylabel("final test accuracy")
    fig.tight_layout()
    fairness_png = folder / "fairness.png"
    fig.savefig(fairness_png, dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 4))
    for r in rows:
        series = [r["standalone_accuracy"], *r["accuracy_per_round"]]
        ax.plot(range(len(series)), series, marker="o", label=r["name"])
    ax.set_xlabel("round (0 = standalone)")
    ax.set_ylabel("test accuracy")
    ax.set_title("accuracy per round")
    ax.legend(fontsize=8)
    fig.tight_layout()
    accuracy_png = folder / "accuracy.png"
    fig.savefig(accuracy_png, dpi=100)
    plt.close(fig)
    return [fairness_png, accuracy_png]
