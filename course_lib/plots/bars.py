"""Bar charts that set a few named results side by side: the 45 nm energy of one operation (lesson
00), accuracy one-shot and after fine-tuning per granularity (02), N:M patterns against unstructured
pruning (03), methods over seeds (05), what each pruning method buys (09), and the histogram of a
model's weights behind the sparsity slider (00, ``course_lib.widgets``)."""

import matplotlib.pyplot as plt
import numpy as np
import torch

from .style import palette, panels

CHART = {"gzip": "bytes on disk (gzip)", "nonzero": "non-zero params", "latency_ms": "CPU latency",
         "energy_dense_uj": "energy, dense HW", "energy_sparse_uj": "energy, sparse HW"}  # fmt: skip


def plot_energy_table(table: dict[str, float], ax=None,
                      title: str = "Energy of one operation, 45 nm (Horowitz, ISSCC 2014)"):
    """Horizontal bars, log scale, one per operation of ``table`` (name -> pJ, e.g.
    ``hardware.HOROWITZ_45NM_PJ``), cheapest at the bottom."""
    ax = ax or plt.gca()
    names, costs = zip(*sorted(table.items(), key=lambda kv: kv[1]))
    bars = ax.barh(names, costs, color=palette(len(names)))
    ax.set_xscale("log")
    ax.bar_label(bars, labels=[f"{c:g} pJ" for c in costs], padding=3)
    ax.set_xlabel("energy per operation (pJ, log scale)")
    ax.set_title(title)
    ax.set_xlim(right=max(costs) * 20)
    return ax


def plot_before_after(before: dict, after: dict, ax=None, title: str = "", labels=("one-shot", "fine-tuned")):
    """Paired bars per key (e.g. per granularity): accuracy before and after fine-tuning, in %."""
    ax = ax or plt.gca()
    names = list(before)
    positions = np.arange(len(names), dtype=float)
    for offset, values, label, colour in zip((-0.2, 0.2), (before, after), labels, palette(2)):
        heights = [100 * values[n] for n in names]
        bars = ax.bar(positions + offset, heights, width=0.4, label=label, color=colour)
        ax.bar_label(bars, fmt="%.0f", fontsize="small")
    ax.set_xticks(positions, names)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 122)
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper center", ncol=2)
    return ax


SEED_BARS_TITLE = "Mean over seeds (bars), each seed (dots)"


def plot_seed_bars(results: dict[str, list[float]], ax=None, title: str = SEED_BARS_TITLE,
                   xlabel: str = "accuracy (%)", target: float | None = None):
    """One horizontal bar per method at its mean over seeds, each seed's value a black dot on it
    (fractions, drawn in %), and an optional dashed vertical line at ``target``."""
    ax = ax or plt.gca()
    names = list(results)
    means = [100 * sum(values) / len(values) for values in results.values()]
    ax.barh(names, means, color=palette(len(names)))
    for row, values in enumerate(results.values()):
        ax.plot([100 * v for v in values], [row] * len(values), "k.", label="one seed" if row == 0 else None)
    if target is not None:
        ax.axvline(100 * target, color="black", ls="--", lw=1, label=f"target {100 * target:g}%")
    lowest = min(min(values) for values in results.values())
    ax.set(title=title, xlabel=xlabel, xlim=(max(0.0, 100 * lowest - 10), 100))
    ax.legend(loc="lower left", fontsize="small")
    return ax


def plot_pattern_comparison(rows: list[dict], axes=None):
    """Two panels of bars from ``analysis.nm_vs_unstructured`` rows: kept magnitude and one-shot
    accuracy per pattern, N:M dark and unstructured light. Returns the two axes."""
    labels = [row["pattern"].replace("unstructured ", "unstr. ") for row in rows]
    cmap = plt.get_cmap("cividis")
    colors = [cmap(0.85 if row["pattern"].startswith("unstructured") else 0.2) for row in rows]
    axes = panels(axes, 2, 5.5, 3.8)
    for ax, key, title in zip(axes, ("kept_fraction", "accuracy"),
                              ("kept magnitude (fraction of |w|)", "one-shot test accuracy")):
        percent = [100 * row[key] for row in rows]
        ax.bar(labels, percent, color=colors)
        ax.set_title(title)
        ax.set_ylabel("percent (%)")
        ax.set_xlabel("pattern (dark: N:M, light: unstructured at the same sparsity)")
        ax.set_ylim(max(0.0, min(percent) - 10), 100)
    return axes


def plot_benefits(rows: list[dict], ax=None):
    """Grouped bars: each cost (``CHART``) of each model as a fraction of the first row's (the dense
    model), rows as from ``hardware.benefits_table``."""
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


def plot_weight_histogram(weights: torch.Tensor, ax=None, bins: int = 80, label: str | None = None,
                          color=None, title: str = "Weight values"):
    """Histogram of ``weights`` (any shape, e.g. ``recipes.flat_weights(model)``), exact zeros
    excluded; the x-range is ±max|w|, so a magnitude-pruned copy shares its dense model's range."""
    ax = ax or plt.gca()
    weights = weights.detach().flatten()
    nonzero = weights[weights != 0].numpy()
    limit = (float(weights.abs().max()) if weights.numel() else 0.0) or 1.0
    ax.hist(nonzero, bins=bins, range=(-limit, limit), alpha=0.7, label=label, color=color)
    ax.set_xlabel("weight value")
    ax.set_ylabel("number of weights")
    ax.set_title(title)
    return ax
