"""Slider panels: thin wiring from ipywidgets to the library's pure, tested functions."""

import ipywidgets as widgets
import matplotlib.pyplot as plt

from .analysis.latency import compare_costs
from .analysis.metrics import count_nonzero, count_params
from .analysis.sweeps import pruned_copy
from .plots.bars import plot_weight_histogram
from .plots.style import palette
from .recipes.l0 import flat_weights
from .structured.surgery import prune_channels
from .train import evaluate


def sparsity_explorer(model, loader, initial: float = 0.5):
    """A sparsity slider that re-prunes a copy of ``model`` (global magnitude) from its dense weights
    and shows the copy's test accuracy and weight histogram. ``model`` itself is never changed."""
    dense_accuracy = evaluate(model, loader)
    dense_color, pruned_color = palette(2)

    def show(sparsity):
        pruned = pruned_copy(model, sparsity)
        accuracy = evaluate(pruned, loader)
        print(
            f"sparsity {sparsity:.0%}: test accuracy {accuracy:.2%} (dense {dense_accuracy:.2%}); "
            f"{count_nonzero(pruned):,} of {count_params(pruned):,} parameters are non-zero"
        )
        fig, ax = plt.subplots(figsize=(7, 3))
        plot_weight_histogram(flat_weights(model), ax, label="dense", color=dense_color)
        plot_weight_histogram(flat_weights(pruned), ax, label=f"pruned to {sparsity:.0%}", color=pruned_color)
        ax.set_title("Weights that survive magnitude pruning")
        ax.legend()
        plt.show()

    slider = widgets.FloatSlider(
        value=initial, min=0.0, max=0.99, step=0.01, description="sparsity",
        continuous_update=False, readout_format=".0%",
    )
    return widgets.interactive(show, sparsity=slider)


def channel_ratio_table(model, example_input, ratios, evaluate_fn, batch_sizes=(1, 64), rounds: int = 3,
                        repeats: int = 3) -> list[dict]:
    """Measure, once, everything the channel-ratio slider shows: one row per ratio (0 = the dense
    model itself, always included), sorted by ratio.

    Each row holds ``ratio``, ``params``, ``macs`` (per example), ``bytes``, ``latency_ms`` ({batch
    size: fastest timed run}, from one interleaved ``compare_costs`` so that all copies see the same
    machine load) and ``accuracy`` = ``evaluate_fn(copy)``, for a copy with ``ratio`` of the channels
    of every group removed (``prune_channels``). ``model`` itself is never changed.
    """
    ratios = sorted({0.0, *(float(r) for r in ratios)})
    copies = {r: model if r == 0 else prune_channels(model, r, example_input) for r in ratios}
    costs = compare_costs(copies, tuple(example_input.shape[1:]), batch_sizes, rounds, repeats)
    return [
        {"ratio": r, "params": costs[r]["params"], "macs": costs[r]["macs"], "bytes": costs[r]["bytes"],
         "latency_ms": dict(costs[r]["latency_ms"]["min"]), "accuracy": evaluate_fn(copies[r])}
        for r in ratios
    ]


def ratio_row(table: list[dict], ratio: float) -> dict:
    """The row of ``channel_ratio_table``'s ``table`` measured nearest to ``ratio`` (ties: the lower)."""
    if not table:
        raise ValueError("table must hold at least one row from channel_ratio_table, got an empty list")
    return min(table, key=lambda row: (abs(row["ratio"] - ratio), row["ratio"]))


def draw_ratio_row(table: list[dict], ratio: float, bars_ax, curve_ax):
    """Draw ``table``'s row nearest ``ratio``: on ``bars_ax`` its parameters, MACs and latency as % of
    dense; on ``curve_ax`` every row's accuracy and MACs against the ratio, this row marked. Returns
    the row drawn. Only looks up and draws: nothing is pruned or timed."""
    row, dense = ratio_row(table, ratio), ratio_row(table, 0.0)
    batch_sizes = list(row["latency_ms"])
    labels = ["params", "MACs"] + [f"latency\nbatch {b}" for b in batch_sizes]
    kept = [row["params"] / dense["params"], row["macs"] / dense["macs"]]
    kept += [row["latency_ms"][b] / dense["latency_ms"][b] for b in batch_sizes]
    colours = palette(len(labels))
    bars_ax.bar(labels, [100 * k for k in kept], color=colours)
    for i, k in enumerate(kept):
        bars_ax.annotate(f"{k:.0%}", (i, 100 * k), ha="center", va="bottom")
    bars_ax.axhline(100, color="0.5", linestyle="--", linewidth=1)
    bars_ax.set(title=f"{row['ratio']:.0%} of the channels removed: what is left",
                ylabel="% of the dense model (lower is cheaper)", ylim=(0, 125))
    ratios = [r["ratio"] * 100 for r in table]
    curve_ax.plot(ratios, [100 * r["accuracy"] for r in table], "o-", color=colours[0], label="accuracy")
    curve_ax.plot(ratios, [100 * r["macs"] / dense["macs"] for r in table], "s--", color=colours[-1],
                  label="MACs kept")
    curve_ax.axvline(100 * row["ratio"], color="0.3", linewidth=1)
    curve_ax.set(title=f"accuracy {row['accuracy']:.1%} before fine-tuning", xlabel="channels removed (%)",
                 ylabel="% (accuracy, or MACs of dense)", ylim=(0, 105))
    curve_ax.legend(loc="lower left")
    return row


def channel_ratio_explorer(table: list[dict], initial: float = 0.3):
    """A slider over the ratios measured in ``table`` (from ``channel_ratio_table``): each move looks
    up the measured row and redraws the figure at once; nothing is pruned, timed or evaluated again."""
    options = [(f"{row['ratio']:.0%}", row["ratio"]) for row in table]

    def show(ratio):
        fig, (bars_ax, curve_ax) = plt.subplots(1, 2, figsize=(12, 3.8))
        draw_ratio_row(table, ratio, bars_ax, curve_ax)
        plt.tight_layout()
        plt.show()

    slider = widgets.SelectionSlider(options=options, value=ratio_row(table, initial)["ratio"],
                                     description="removed", continuous_update=False)
    return widgets.interactive(show, ratio=slider)
