"""Trade-off charts: what a choice costs against what it keeps, one point or line per option.
Index metadata against accuracy per granularity (lesson 02); input-dependent gates against static
channel pruning, a search under a MAC budget, and one layer's measured latency against its channels
(lesson 09)."""

import matplotlib.pyplot as plt

from ..analysis.search import Candidate, LatencyTable, SearchResult
from .style import palette


def plot_index_bits_tradeoff(index_bits_per_weight: dict, accuracy: dict, ax=None, title: str = ""):
    """One labelled point per granularity: metadata bits per weight (log x) against accuracy (%)."""
    ax = ax or plt.gca()
    for i, ((name, bits), colour) in enumerate(zip(index_bits_per_weight.items(), palette(len(accuracy)))):
        ax.scatter(bits, 100 * accuracy[name], s=70, color=colour)
        ax.annotate(name, (bits, 100 * accuracy[name]), textcoords="offset points",
                    xytext=(6, 5 if i % 2 == 0 else -13))  # alternate above/below: neighbours can be close
    ax.set_xscale("log")
    ax.margins(x=0.15, y=0.12)
    ax.set_xlabel("index metadata (bits per weight of the layer, log scale)")
    ax.set_ylabel("test accuracy after fine-tuning (%)")
    ax.set_title(title)
    return ax


def plot_gating_tradeoff(keeps, rows: list[dict], dense_macs: int, dense_accuracy: float, ax=None):
    """Accuracy against average MACs per input (as a fraction of dense), dynamic gates and static
    channel pruning, for ``recipes.gated_vs_static``'s rows at each kept fraction in ``keeps``."""
    ax = ax or plt.gca()
    for (label, marker), colour in zip((("dynamic", "o"), ("static", "s")), palette(2)):
        macs = [r[label]["macs"] / dense_macs for r in rows]
        ax.plot(macs, [100 * r[label]["accuracy"] for r in rows], marker=marker, color=colour, label=label)
    for keep, r in zip(keeps, rows):
        ax.annotate(f"k/C={keep:g}", (r["dynamic"]["macs"] / dense_macs, 100 * r["dynamic"]["accuracy"]),
                    textcoords="offset points", xytext=(4, -10), fontsize="small")
    ax.axhline(100 * dense_accuracy, color="grey", ls="--", lw=0.8, label="dense")
    ax.set_xlabel("average MACs per input (fraction of dense)")
    ax.set_ylabel("test accuracy (%), no fine-tuning")
    ax.set_title("Input-dependent gates vs static channel pruning")
    ax.legend()
    return ax


def plot_search(result: SearchResult, baseline: Candidate, ax=None, cost_label: str = "cost"):
    """Every scored candidate of a search (``cost_label`` on x, score on y), the budget, the best
    found and a ``baseline`` candidate."""
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
