"""Slider panels: thin wiring from ipywidgets to the library's pure, tested functions.

One way to build a slider panel, in every lesson: :func:`panel` with controls from :func:`number`,
:func:`fraction` and :func:`options`. Every control waits until it is released
(``continuous_update=False``), so a slow ``show`` runs once per move; ``show`` re-computes from the
trained model each time (or looks up what was measured once), and never changes the model.

    widgets.panel(show, sparsity=widgets.fraction(0.5, max=0.95, step=0.05),
                  layer=widgets.options(["conv1.weight", "conv2.weight"], ordered=False))
"""

import functools

import ipywidgets as widgets
import matplotlib.pyplot as plt

from .analysis.language import perplexity, sample_text, window_losses
from .analysis.latency import measure_costs
from .analysis.metrics import count_nonzero, count_params
from .analysis.sweeps import pruned_copy
from .core.validation import check_choice, check_fraction
from .plots.bars import plot_weight_histogram
from .plots.style import palette
from .recipes.l0 import flat_weights
from .recipes.post_training import prune_post_training
from .structured.surgery import prune_channels
from .train import evaluate


def number(value, min, max, step=None, *, description: str = "", log: bool = False):
    """A numeric slider: integers when ``value``, ``min`` and ``max`` are ints, else floats; with
    ``log`` the slider moves ``value`` in powers of ten (``min`` and ``max`` are then exponents)."""
    if log:
        return widgets.FloatLogSlider(value=value, base=10, min=min, max=max, step=step or 0.25,
                                      description=description, continuous_update=False)
    if all(isinstance(v, int) for v in (value, min, max)):
        return widgets.IntSlider(value=value, min=min, max=max, step=step or 1, description=description,
                                 continuous_update=False)
    return widgets.FloatSlider(value=value, min=min, max=max, step=step or 0.01, description=description,
                               continuous_update=False)


def fraction(value, min: float = 0.0, max: float = 0.99, step: float = 0.01, *, description: str = ""):
    """A slider over a fraction in [``min``, ``max``], shown as a percentage (a sparsity, a ratio)."""
    for name, v in (("value", value), ("min", min), ("max", max)):
        check_fraction(name, v)
    return widgets.FloatSlider(value=value, min=min, max=max, step=step, description=description,
                               readout_format=".0%", continuous_update=False)


def options(choices, value=None, *, description: str = "", ordered: bool = True):
    """A choice among ``choices`` (a list, or (label, value) pairs): a slider when they have an order
    (patterns, sizes, budgets), a drop-down menu when they do not (methods, layer names)."""
    choices = list(choices)
    values = [c[1] if isinstance(c, tuple) else c for c in choices]
    value = values[0] if value is None else check_choice("value", value, values)
    kind = widgets.SelectionSlider if ordered else widgets.Dropdown
    extra = {"continuous_update": False} if ordered else {}
    return kind(options=choices, value=value, description=description, **extra)


def panel(show, **controls):
    """The lesson's slider panel: ``show(**values)`` is called with the controls' current values,
    once now and again whenever a control is released. Returns the ``ipywidgets.interactive`` panel
    (put it last in the cell to display it)."""
    for name, control in controls.items():
        if not isinstance(control, widgets.ValueWidget):
            raise TypeError(f"controls must be ipywidgets controls (widgets.number, fraction or options); "
                            f"{name}={control!r}")
    return widgets.interactive(show, **controls)


def sparsity_explorer(model, loader, initial: float = 0.5, split: str = "validation"):
    """A sparsity slider that re-prunes a copy of ``model`` (global magnitude) from its dense weights
    and shows the copy's accuracy on ``loader`` (named ``split`` in the printout: exploring is choosing,
    so lessons pass the validation split) and its weight histogram. ``model`` itself is never changed."""
    dense_accuracy = evaluate(model, loader)
    dense_color, pruned_color = palette(2)

    def show(sparsity):
        pruned = pruned_copy(model, sparsity)
        accuracy = evaluate(pruned, loader)
        print(
            f"sparsity {sparsity:.0%}: {split} accuracy {accuracy:.2%} (dense {dense_accuracy:.2%}); "
            f"{count_nonzero(pruned):,} of {count_params(pruned):,} parameters are non-zero"
        )
        fig, ax = plt.subplots(figsize=(7, 3))
        plot_weight_histogram(flat_weights(model), ax, label="dense", color=dense_color)
        plot_weight_histogram(flat_weights(pruned), ax, label=f"pruned to {sparsity:.0%}", color=pruned_color)
        ax.set_title("Weights that survive magnitude pruning")
        ax.legend()
        plt.show()

    return panel(show, sparsity=fraction(initial, description="sparsity"))


def channel_ratio_table(model, example_input, ratios, evaluate_fn, batch_sizes=(1, 64), rounds: int = 3,
                        repeats: int = 3) -> list[dict]:
    """Measure, once, everything the channel-ratio slider shows: one row per ratio (0 = the dense
    model itself, always included), sorted by ratio.

    Each row holds ``ratio``, ``params``, ``macs`` (per example), ``bytes``, ``latency_ms`` ({batch
    size: fastest timed run}, from one interleaved ``measure_costs`` so that all copies see the same
    machine load) and ``accuracy`` = ``evaluate_fn(copy)``, for a copy with ``ratio`` of the channels
    of every group removed (``prune_channels``). ``model`` itself is never changed.
    """
    ratios = sorted({0.0, *(float(r) for r in ratios)})
    copies = {r: model if r == 0 else prune_channels(model, r, example_input) for r in ratios}
    costs = measure_costs(copies, tuple(example_input.shape[1:]), batch_sizes, rounds, repeats)
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
    choices = [(f"{row['ratio']:.0%}", row["ratio"]) for row in table]

    def show(ratio):
        fig, (bars_ax, curve_ax) = plt.subplots(1, 2, figsize=(12, 3.8))
        draw_ratio_row(table, ratio, bars_ax, curve_ax)
        plt.tight_layout()
        plt.show()

    return panel(show, ratio=options(choices, ratio_row(table, initial)["ratio"], description="removed"))


def language_model_explorer(model, calibration, validation, vocab,
                            methods=("magnitude", "wanda", "sparsegpt"), prompt: str = "ROMEO:",
                            sample_chars: int = 120, initial: float = 0.5,
                            dense_perplexity: float | None = None):
    """Lesson 10's panel: a method and a sparsity; each position prunes a copy of ``model`` from its
    dense weights (``recipes.prune_post_training``) and prints its validation perplexity and a sample.
    Results are cached per position, so moving back is instant; ``model`` is never changed.
    ``dense_perplexity``: ``model``'s perplexity on ``validation`` if already measured (else measured
    here)."""

    @functools.cache
    def measure(method, sparsity):
        pruned, _ = prune_post_training(model, calibration, method, sparsity=sparsity)
        return perplexity(window_losses(pruned, validation)), sample_text(pruned, vocab, prompt, sample_chars)

    dense_ppl = (dense_perplexity if dense_perplexity is not None
                 else perplexity(window_losses(model, validation)))

    def show(method, sparsity):
        value, sample = measure(method, round(sparsity, 6))
        print(f"{method} at {sparsity:.0%} unstructured: perplexity {value:.2f} "
              f"(dense {dense_ppl:.2f})\n\n{sample}")

    return panel(show, method=options(methods, "wanda" if "wanda" in methods else None, description="method",
                                      ordered=False),
                 sparsity=fraction(initial, max=0.9, step=0.1, description="sparsity"))
