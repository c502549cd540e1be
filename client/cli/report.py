"""The demo's final report: a table per party, fairness and chain totals, and two PNG plots."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

#: Width of the report when stdout is not a terminal.
PIPED_WIDTH = 80


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


#: Columns of the results table: (header, cell of a row).
_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("data", lambda r: str(r["data_size"])),
    ("sharing", lambda r: "-" if r["sharing_level"] is None else f"{r['sharing_level']:.2f}"),
    ("standalone", lambda r: _pct(r["standalone_accuracy"])),
    ("final", lambda r: _pct(r["final_accuracy"])),
    ("credibility", lambda r: "-" if r["credibility_seen_by_others"] is None
     else f"{r['credibility_seen_by_others']:.3f}"),
    ("removed", lambda r: "yes" if r["removed"] else "no"),
    ("earned", lambda r: str(r["points_earned"])),
    ("spent", lambda r: str(r["points_spent"])),
    ("balance", lambda r: str(r["points_balance"])),
    ("uploads", lambda r: str(r["uploads"])),
    ("downloads", lambda r: str(r["downloads"])),
)
#: Where the table folds in two when the terminal is narrow: accuracy, then points.
_FOLD_AT = 6


def _table(title: str, rows: list[dict[str, Any]], columns: tuple[tuple[str, Any], ...]) -> Table:
    table = Table(title=title)
    table.add_column("party", justify="left", no_wrap=True, overflow="fold")
    for header, _cell in columns:
        # never wrapped or cut: a broken or cut-off number would be a wrong number
        table.add_column(header, justify="right", no_wrap=True, overflow="fold")
    for r in rows:
        table.add_row(r["name"], *(cell(r) for _header, cell in columns))
    return table


def results_tables(results: dict[str, Any], width: int) -> list[Table]:
    """Return the per-party table, folded into two tables (accuracy; points) if too wide."""
    rows = results["parties"]
    console = Console(width=width)
    whole = _table("fppdl consortium results", rows, _COLUMNS)
    natural = Measurement.get(console, console.options.update_width(10_000), whole)
    if natural.maximum <= width:
        return [whole]
    return [_table("fppdl consortium results: accuracy", rows, _COLUMNS[:_FOLD_AT]),
            _table("points and transfers", rows, _COLUMNS[_FOLD_AT:])]


def print_results(results: dict[str, Any], console: Console | None = None) -> None:
    """Print the per-party table, the fairness, removals, transactions and gas.

    The table fits the terminal (80 columns when piped): when it is too wide its columns fold
    into a second table; no cell is ever wrapped.
    """
    if console is None:
        console = Console(highlight=False, width=None if sys.stdout.isatty() else PIPED_WIDTH)
    for table in results_tables(results, console.width):
        console.print(table)
    fair = results["fairness"]
    pearson = fair.get("pearson")
    shown = "undefined" if pearson is None else f"{pearson:.4f}"
    console.print(
        f"fairness: Pearson({fair['contribution']}, final accuracy) = {shown}"
        + (f" ({fair['note']})" if fair.get("note") else "")
    )
    console.print(f"removed parties: {', '.join(results['removed']) or 'none'}")
    console.print(f"ledger {results['ledger']} on chain {results['chain_id']}:")
    console.print(
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
        if r["final_accuracy"] is None or r["sharing_level"] is None:
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
        series = [math.nan if v is None else v
                  for v in (r["standalone_accuracy"], *r["accuracy_per_round"])]
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
