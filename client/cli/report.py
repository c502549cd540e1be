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


def _pts(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.2f} pt"


Column = tuple[str, Any]

#: Columns of the results table in groups that fold together: (header, cell of a row). The
#: equal-compute columns are shown only when the rows carry them (the demo's; not `consortium
#: up`'s).
_ACCURACY: tuple[Column, ...] = (
    ("data", lambda r: str(r["data_size"])),
    ("sharing", lambda r: "-" if r["sharing_level"] is None else f"{r['sharing_level']:.2f}"),
    ("standalone", lambda r: _pct(r["standalone_accuracy"])),
    ("alone\n(equal compute)", lambda r: _pct(r.get("alone_accuracy"))),
    ("final", lambda r: _pct(r["final_accuracy"])),
    ("gain", lambda r: _pts(r.get("gain"))),
)
_STANDING: tuple[Column, ...] = (
    ("credibility", lambda r: "-" if r["credibility_seen_by_others"] is None
     else f"{r['credibility_seen_by_others']:.3f}"),
    ("removed", lambda r: "yes" if r["removed"] else "no"),
    ("uploads", lambda r: str(r["uploads"])),
    ("downloads", lambda r: str(r["downloads"])),
)
_POINTS: tuple[Column, ...] = (
    ("earned", lambda r: str(r["points_earned"])),
    ("spent", lambda r: str(r["points_spent"])),
    ("balance", lambda r: str(r["points_balance"])),
)
_GROUPS: tuple[tuple[str, tuple[Column, ...]], ...] = (
    ("accuracy", _ACCURACY), ("credibility and transfers", _STANDING), ("points", _POINTS),
)
_EQUAL_COMPUTE = {"alone\n(equal compute)", "gain"}
TITLE = "fppdl consortium results"


def _table(title: str, rows: list[dict[str, Any]], columns: tuple[Column, ...]) -> Table:
    table = Table(title=title)
    table.add_column("party", justify="left", no_wrap=True, overflow="fold")
    for header, _cell in columns:
        # never wrapped or cut: a broken or cut-off number would be a wrong number
        table.add_column(header, justify="right", no_wrap=True, overflow="fold")
    for r in rows:
        # An attacker's row says so (its kind), whatever the columns shown.
        label = f"{r['name']} ({r['adversary']})" if r.get("adversary") else r["name"]
        table.add_row(label, *(cell(r) for _header, cell in columns))
    return table


def results_tables(results: dict[str, Any], width: int) -> list[Table]:
    """Return the per-party table, folded into several if it is wider than ``width``.

    Column groups (accuracy; credibility and transfers; points) are packed into as few
    tables as fit; a group wider than ``width`` on its own is split by column.
    """
    rows = results["parties"]
    equal_compute = any("alone_accuracy" in r for r in rows)
    groups = [(name, tuple(c for c in cols if equal_compute or c[0] not in _EQUAL_COMPUTE))
              for name, cols in _GROUPS]
    console = Console(width=width)
    wide = console.options.update_width(10_000)

    def fits(columns: tuple[Column, ...]) -> bool:
        return Measurement.get(console, wide, _table("", rows, columns)).maximum <= width

    whole = tuple(c for _name, cols in groups for c in cols)
    if fits(whole):
        return [_table(TITLE, rows, whole)]
    packed: list[tuple[list[str], tuple[Column, ...]]] = []
    for name, cols in groups:
        if packed and fits(packed[-1][1] + cols):
            packed[-1] = ([*packed[-1][0], name], packed[-1][1] + cols)
        elif fits(cols):
            packed.append(([name], cols))
        else:
            for column in cols:
                if packed and fits(packed[-1][1] + (column,)):
                    packed[-1] = (packed[-1][0], packed[-1][1] + (column,))
                else:
                    packed.append(([name], (column,)))
    titles = [f"{TITLE}: {' and '.join(names)}" if i == 0 else " and ".join(names)
              for i, (names, _cols) in enumerate(packed)]
    return [_table(title, rows, cols) for title, (_names, cols) in zip(titles, packed,
                                                                        strict=True)]


def add_equal_compute(results: dict[str, Any], curves: list[list[float]],
                      pretrained: list[float]) -> None:
    """Add each party's equal-compute standalone accuracy and gain, and their fairness.

    Party i's ``alone_accuracy`` is its accuracy trained alone from w0 for as many epochs as
    it trained in the rounds it finished (``curves[i][k - 1]`` after k rounds,
    ``pretrained[i]`` after none); ``gain`` is its final accuracy minus that. Parties
    without a standalone twin (free-riders, attackers) get ``null`` for both.
    ``fairness["pearson_gain"]`` is Pearson(contribution, gain) over the parties the
    fairness of the final accuracy is computed on.

    Parameters
    ----------
    results : dict
        A consortium's results (:meth:`client.consortium.Consortium.results`), changed in
        place.
    curves : list of list of float
        Per honest party (in ``results["parties"]`` order), accuracy alone after each round.
    pretrained : list of float
        Per honest party, accuracy alone after pretraining.
    """
    from trainer.fairness import pearson

    for i, row in enumerate(results["parties"]):
        alone = None
        if i < len(curves) and not row.get("free_rider") and not row.get("adversary"):
            taken = len(row["accuracy_per_round"])
            alone = float(curves[i][taken - 1]) if taken else float(pretrained[i])
        row["alone_accuracy"] = None if alone is None else round(alone, 6)
        final = row["final_accuracy"]
        row["gain"] = None if alone is None or final is None else round(final - alone, 6)
    kept = [r for r in results["parties"] if not r["removed"] and r["gain"] is not None]
    fairness = results["fairness"]
    fairness["pearson_gain"] = None
    if len(kept) >= 2:
        try:
            fairness["pearson_gain"] = pearson([r["sharing_level"] for r in kept],
                                               [r["gain"] for r in kept])
        except ValueError as err:
            fairness["gain_note"] = str(err)


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
    if "pearson_gain" in fair:
        by_gain = fair["pearson_gain"]
        console.print(
            f"          Pearson({fair['contribution']}, gain) = "
            + ("undefined" if by_gain is None else f"{by_gain:.4f}")
            + (f" ({fair['gain_note']})" if fair.get("gain_note") else "")
        )
    gains = [r["gain"] for r in results["parties"] if r.get("gain") is not None]
    if gains:
        console.print(f"gain over alone at equal compute: mean {_pts(sum(gains) / len(gains))}"
                      f", worst {_pts(min(gains))}")
    console.print(f"removed parties: {', '.join(results['removed']) or 'none'}")
    console.print(f"ledger {results['ledger']} on chain {results['chain_id']}:")
    console.print(
        f"{results['transactions']} transactions, {results['gas']} gas; "
        f"points conserved: {results['points_conserved']}"
    )


def write_plots(results: dict[str, Any], folder: Path) -> list[Path]:
    """Write ``fairness.png`` and ``accuracy.png`` into ``folder``; return their paths.

    ``fairness.png`` plots contribution against final accuracy and, when the results carry
    gains (the demo's), contribution against gain over alone at equal compute.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["parties"]
    fair = results["fairness"]
    panels = [("final_accuracy", "final test accuracy", fair.get("pearson"))]
    if any(r.get("gain") is not None for r in rows):
        panels.append(("gain", "gain over alone at equal compute", fair.get("pearson_gain")))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (key, label, pearson) in zip(axes[0], panels, strict=True):
        for r in rows:
            if r.get(key) is None or r["sharing_level"] is None:
                continue
            ax.scatter(r["sharing_level"], r[key], marker="x" if r["removed"] else "o")
            ax.annotate(r["name"], (r["sharing_level"], r[key]), fontsize=8,
                        xytext=(4, 2), textcoords="offset points")
        if key == "gain":
            ax.axhline(0.0, color="grey", linewidth=0.8, linestyle="--")
        ax.set_title(f"{label}: Pearson "
                     + ("undefined" if pearson is None else f"{pearson:.3f}"), fontsize=10)
        ax.set_xlabel(f"contribution ({fair['contribution']})")
        ax.set_ylabel(label)
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
