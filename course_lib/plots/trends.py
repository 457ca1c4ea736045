"""TODO docstring."""


import matplotlib.pyplot as plt
import numpy as np

from ..analysis.search import Candidate, LatencyTable, SearchResult
from .style import palette

CHART = {"gzip": "bytes on disk (gzip)", "nonzero": "non-zero params", "latency_ms": "CPU latency",
         "energy_dense_uj": "energy, dense HW", "energy_sparse_uj": "energy, sparse HW"}  # fmt: skip


def plot_benefits(rows: list[dict], ax=None):
    """Grouped bars: each cost of each model as a fraction of the first row's (the dense model)."""
    ax = ax or plt.gca()
    base = rows[0]
    width = 0.8 / len(rows)
    colours = palette(len(rows))
    positions = np.arange(len(CHART))
    for i, row in enumerate(rows):
        values = [row[k] / base[k] for k in CHART]
        ax.bar(positions + (i - (len(rows) - 1) / 2) * width, values, width,
               label=f"{row['model']} ({row['accuracy']:.1%})", color=colours[i])
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xticks(positions, list(CHART.values()), rotation=15)
    ax.set_ylabel("fraction of the dense model's cost")
    ax.set_title("What each pruning method buys (lower is better; test accuracy in the legend)")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


def plot_gating_tradeoff(keeps, rows: list[dict], dense_macs: int, dense_accuracy: float, ax=None):
    """Accuracy against average MACs per input (as a fraction of dense) for ``compare``'s rows."""

    ax = ax or plt.gca()
    for (label, marker), colour in zip((("dynamic", "o"), ("static", "s")), palette(2)):
        macs = [r[label]["macs"] / dense_macs for r in rows]
        ax.plot(macs, [r[label]["accuracy"] for r in rows], marker=marker, color=colour, label=label)
    for keep, r in zip(keeps, rows):
        ax.annotate(f"k/C={keep:g}", (r["dynamic"]["macs"] / dense_macs, r["dynamic"]["accuracy"]),
                    textcoords="offset points", xytext=(4, -10), fontsize="small")
    ax.axhline(dense_accuracy, color="grey", ls="--", lw=0.8, label="dense")
    ax.set_xlabel("average MACs per input (fraction of dense)")
    ax.set_ylabel("test accuracy, no fine-tuning")
    ax.set_title("Input-dependent gates vs static channel pruning")
    ax.legend()
    return ax


def plot_search(result: SearchResult, baseline: Candidate, cost_label: str, ax=None):
    """Every scored candidate (cost vs score), the budget, the best found and a baseline."""

    ax = ax or plt.gca()
    dots, best, base = palette(3)
    costs, scores = [c.cost for c in result.history], [c.score for c in result.history]
    ax.scatter(costs, scores, s=18, color=dots, alpha=0.6, label="candidates scored")
    ax.scatter([result.best.cost], [result.best.score], s=120, marker="*", color=best, label="best found")
    ax.scatter([baseline.cost], [baseline.score], s=70, marker="s", color=base, label="uniform ratio")
    ax.axvline(result.budget, color="grey", ls="--", lw=0.8, label="budget")
    ax.set_xlabel(cost_label)
    ax.set_ylabel("quick score: accuracy on held-out training images")
    ax.set_title("Search under a budget")
    ax.legend(fontsize="small")
    return ax


def plot_layer_latency(table: LatencyTable, layer: str, ax=None):
    """One layer's measured latency against its kept output channels (all inputs kept), beside the
    line MACs would predict (proportional to the output channels, through the full layer's time)."""

    ax = ax or plt.gca()
    entries = table.entries[layer]
    k_in = max(ki for ki, _ in entries)
    outs = sorted(ko for ki, ko in entries if ki == k_in)
    ms = [entries[(k_in, ko)] for ko in outs]
    measured, predicted = palette(2)
    ax.plot(outs, ms, marker="o", color=measured, label="measured (fastest run)")
    proportional = [ms[-1] * ko / outs[-1] for ko in outs]
    ax.plot(outs, proportional, ls="--", color=predicted, label="proportional to MACs")
    ax.set_xlabel(f"output channels kept in {layer}")
    ax.set_ylabel(f"latency of {layer} alone, batch {table.batch_size} (ms)")
    ax.set_title(f"{layer}: CPU latency vs channels")
    ax.set_ylim(bottom=0)
    ax.legend()
    return ax
