"""Figures of lesson 10 (pruning a language model): activation norms per input feature, the
post-training perplexity table as bars, and perplexity against kept parameters."""

import matplotlib.pyplot as plt
import numpy as np

from .style import HATCHES, LINESTYLES, MARKERS, cycled, palette


def plot_activation_norms(norms: dict, ax=None, title: str | None = None):
    """One line per layer: its input features' activation norms ‖X_j‖₂ sorted from largest to
    smallest, divided by the layer's median (log scale). ``norms``: layer name -> (in,) tensor.

    An outlier feature shows as a line that starts far above 1 (LLM.int8() reports ~100x at scale)."""
    if not norms:
        raise ValueError("norms must hold at least one layer, got an empty dict")
    ax = ax or plt.gca()
    n = len(norms)  # each layer its own colour, line style and marker: the legend never needs colour
    for colour, style, marker, (name, values) in zip(
        palette(n), cycled(LINESTYLES, n), cycled(MARKERS, n), norms.items()
    ):
        v = np.sort(np.asarray(values, dtype=float))[::-1]
        ranks = np.arange(1, len(v) + 1)
        marks = np.unique(np.geomspace(1, len(v), 6).round().astype(int) - 1)  # even on the log axis
        ax.plot(ranks, v / np.median(v), color=colour, linestyle=style, marker=marker, markevery=list(marks),
                markersize=4, label=name, linewidth=1.2)
    ax.set_yscale("log")
    ax.set_xscale("log")
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("input feature, ranked by activation norm")
    ax.set_ylabel("‖X_j‖₂ / median over the layer's features")
    ax.set_title(title or "Activation norm of each input feature, per layer")
    ax.legend(fontsize="x-small", ncol=2)
    return ax


def plot_perplexity_bars(table: dict, dense: float, ax=None, title: str | None = None):
    """Grouped bars: ``table`` maps (pattern, method) -> perplexity, e.g. ("50%", "wanda") -> 6.1;
    one group per pattern, one bar per method, and a dashed line at the dense model's perplexity."""
    if not table:
        raise ValueError("table must hold at least one (pattern, method) entry, got an empty dict")
    ax = ax or plt.gca()
    patterns = list(dict.fromkeys(p for p, _ in table))
    methods = list(dict.fromkeys(m for _, m in table))
    width = 0.8 / len(methods)
    x = np.arange(len(patterns))
    n = len(methods)  # each method its own colour and hatch
    for i, (colour, hatch, method) in enumerate(zip(palette(n), cycled(HATCHES, n), methods)):
        values = [table.get((p, method), np.nan) for p in patterns]
        ax.bar(x + (i - (n - 1) / 2) * width, values, width, color=colour, hatch=hatch, edgecolor="white",
               label=method)
    ax.axhline(dense, color="black", linestyle="--", linewidth=1, label=f"dense ({dense:.2f})")
    ax.set_xticks(x, patterns)
    ax.set_xlabel("sparsity pattern (50% of the block Linear weights removed in each)")
    ax.set_ylabel("validation perplexity (characters)")
    ax.set_title(title or "Post-training pruning without retraining")
    ax.legend(fontsize="small")
    return ax


def plot_perplexity_vs_parameters(points: dict, dense: tuple, ax=None, title: str | None = None):
    """Perplexity against the block parameters that remain: ``points`` maps a family name (e.g.
    "unstructured (Wanda)", "structured (heads + MLP)") to a list of (kept parameters, perplexity);
    ``dense`` is (parameters, perplexity) of the dense model."""
    if not points:
        raise ValueError("points must hold at least one family, got an empty dict")
    ax = ax or plt.gca()
    n = len(points)
    for colour, marker, (name, pairs) in zip(palette(n), cycled(MARKERS, n), points.items()):
        params, ppl = zip(*sorted(pairs, reverse=True))
        ax.plot((dense[0], *params), (dense[1], *ppl), marker=marker, color=colour, label=name)
    ax.scatter([dense[0]], [dense[1]], color="black", zorder=3, label="dense")
    ax.invert_xaxis()
    ax.set_xlabel("non-zero parameters in the blocks (fewer to the right)")
    ax.set_ylabel("validation perplexity (characters)")
    ax.set_title(title or "What each removed parameter costs")
    ax.legend(fontsize="small")
    return ax
