"""Slider panels: thin wiring from ipywidgets to the library's pure, tested functions."""

import ipywidgets as widgets
import matplotlib.pyplot as plt

from .analysis.metrics import count_nonzero, count_params
from .analysis.sweeps import pruned_copy
from .plots.bars import plot_weight_histogram
from .plots.style import palette
from .recipes.l0 import flat_weights
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
