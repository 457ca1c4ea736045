"""TODO docstring."""


import matplotlib.pyplot as plt
import numpy as np

from ..recipes.schedules import PruningRun


def plot_runs(runs: dict[str, PruningRun], dense_accuracy: float, axes=None):
    """Two panels side by side, one line per run: sparsity and test accuracy (%) after each epoch."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    sparsity_ax, accuracy_ax = axes
    colors = plt.cm.viridis(np.linspace(0.0, 0.8, len(runs)))
    for (name, run), color, marker in zip(runs.items(), colors, "os^Dv<>", strict=False):
        epochs = range(1, run.epochs + 1)
        sparsity_ax.plot(epochs, [100 * s for s in run.sparsity], marker=marker, color=color, label=name)
        accuracy_ax.plot(epochs, [100 * a for a in run.accuracy], marker=marker, color=color, label=name)
    accuracy_ax.axhline(100 * dense_accuracy, color="grey", linestyle="--", label="dense")
    sparsity_ax.set(title="How sparse, epoch by epoch", xlabel="training epoch",
                    ylabel="sparsity of Conv/Linear weights (%)", ylim=(0, 100))
    accuracy_ax.set(title="Test accuracy, epoch by epoch", xlabel="training epoch",
                    ylabel="test accuracy (%)")
    for ax in axes:
        ax.legend()
    return axes
