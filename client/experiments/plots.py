"""The run folder's PNG figures.

* ``accuracy.png`` -- Fig. 6 style: test accuracy per round of every framework (mean over
  seeds of the best party, the band from the mean worst to the mean best party);
* ``contribution.png`` -- contribution (the setting's measure) vs final accuracy, one panel
  per framework, every party of every seed;
* ``fairness.png`` -- Pearson per framework (bars: mean over seeds, dots: each seed);
* ``gain.png`` -- each party's gain over its own equal-compute standalone model, against its
  contribution, per framework.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from client.experiments.config import STANDALONE_PRE
from client.experiments.summary import FRAMEWORK_LABELS, cgsv_key

PLOT_FILES = ("accuracy.png", "contribution.png", "fairness.png", "gain.png")


def _per_seed_name(summary: Mapping[str, Any], name: str) -> str:
    if name == "cgsv":
        return cgsv_key(float(summary["frameworks"]["cgsv"]["beta"]))
    return name


def _label(summary: Mapping[str, Any], name: str) -> str:
    label = FRAMEWORK_LABELS.get(name, name)
    if name == "cgsv":
        label += f" (beta {summary['frameworks']['cgsv']['beta']:g})"
    return label


def _rows(doc: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    result = doc["frameworks"].get(key)
    if result is None:
        return []
    return [r for r in result["parties"] if not r.get("free_rider")]


def write_plots(summary: Mapping[str, Any], docs: Sequence[Mapping[str, Any]],
                folder: Path) -> list[Path]:
    """Write the four figures into ``folder``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in summary["frameworks"] if n != STANDALONE_PRE]
    measure = summary["primary_contribution"]
    colours = {n: plt.get_cmap("tab10")(i) for i, n in enumerate(names)}
    paths = []

    # Fig. 6 style: accuracy per round.
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in names:
        key = _per_seed_name(summary, name)
        best, worst = [], []
        for doc in docs:
            curves = [r["accuracy_per_round"] for r in _rows(doc, key)]
            curves = [c for c in curves if c]
            if not curves:
                continue
            length = max(len(c) for c in curves)
            # A removed party keeps its last model: carry its last accuracy forward.
            padded = np.array([c + [c[-1]] * (length - len(c)) for c in curves])
            best.append(padded.max(axis=0))
            worst.append(padded.min(axis=0))
        if not best:
            continue
        length = min(len(b) for b in best)
        hi = np.mean([b[:length] for b in best], axis=0)
        lo = np.mean([w[:length] for w in worst], axis=0)
        rounds = np.arange(1, length + 1)
        # The protocol's parties and their own standalone models can coincide: dash one.
        ax.plot(rounds, hi, label=_label(summary, name), color=colours[name],
                linestyle="--" if name == "standalone" else "-",
                linewidth=2.2 if name == "dppdl" else 1.4)
        ax.fill_between(rounds, lo, hi, color=colours[name], alpha=0.12)
    ax.set_xlabel("round")
    ax.set_ylabel("test accuracy (best party; band: worst party)")
    ax.set_title(f"{summary['run']}: accuracy per round (mean over {len(docs)} seed(s))")
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(folder / "accuracy.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    # Contribution vs final accuracy, and vs gain.
    for filename, column, ylabel in (("contribution.png", "final_accuracy", "final accuracy"),
                                     ("gain.png", "gain", "gain over own equal-compute "
                                      "standalone (points)")):
        shown = [n for n in names if not (column == "gain" and n == "standalone")]
        if not shown:
            continue  # a standalone-only run has no gain to plot
        cols = min(3, len(shown))
        nrows = (len(shown) + cols - 1) // cols
        fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 3.2 * nrows), squeeze=False)
        for ax, name in zip(axes.flat, shown, strict=False):
            key = _per_seed_name(summary, name)
            for s, doc in enumerate(docs):
                rows = _rows(doc, key)
                xs = [doc["parties"][r["party"]][measure] for r in rows]
                ys = [r[column] for r in rows]
                if column == "gain":
                    ys = [100 * y if y is not None else np.nan for y in ys]
                marks = ["x" if r.get("removed") else "o" for r in rows]
                colour = plt.get_cmap("tab10")(s % 10)
                for x, y, m in zip(xs, ys, marks, strict=True):
                    ax.scatter(x, y, marker=m, color=colour, s=18)
            if column == "gain":
                ax.axhline(0.0, color="grey", linewidth=0.8)
            pearson = summary["frameworks"][name]["pearson"][measure]
            title = _label(summary, name)
            if column == "final_accuracy":
                title += f"\nPearson {'undef.' if pearson is None else f'{pearson:.2f}'}"
            ax.set_title(title, fontsize=8)
            ax.set_xlabel(measure.replace("_", " "), fontsize=8)
            ax.set_ylabel(ylabel, fontsize=8)
            ax.tick_params(labelsize=7)
        for ax in list(axes.flat)[len(shown):]:
            ax.axis("off")
        fig.suptitle(f"{summary['run']}: one colour per seed, x = removed", fontsize=9)
        fig.tight_layout()
        paths.append(folder / filename)
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)

    # Fairness bars with the seed spread.
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, name in enumerate(names):
        key = _per_seed_name(summary, name)
        values = [doc["frameworks"][key]["fairness"][measure] for doc in docs
                  if key in doc["frameworks"]]
        defined = [v for v in values if v is not None]
        mean = summary["frameworks"][name]["pearson"][measure]
        ax.bar(i, 0.0 if mean is None else mean, color=colours[name], alpha=0.6)
        ax.scatter([i] * len(defined), defined, color="black", s=12, zorder=3)
        if mean is None:
            ax.text(i, 0.02, "undef.", ha="center", fontsize=7)
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([_label(summary, n) for n in names], rotation=25, ha="right", fontsize=7)
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel(f"Pearson({measure.replace('_', ' ')}, final accuracy)")
    ax.set_title(f"{summary['run']}: fairness (bar: mean, dots: seeds)")
    fig.tight_layout()
    paths.append(folder / "fairness.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths
