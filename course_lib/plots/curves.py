"""Line charts against sparsity or training epoch: accuracy against sparsity, one line per method
or granularity (lessons 01, 02); sparsity and accuracy epoch by epoch, one line per pruning run
(lessons 05, 06); bytes of each storage format against sparsity (lesson 07)."""

import matplotlib.pyplot as plt
import numpy as np

from ..recipes.schedules import PruningRun
from .style import palette, panels


def plot_accuracy_curves(sparsities, curves: dict, ax=None, title: str = "Accuracy vs sparsity"):
    """One line per entry of ``curves`` (label -> accuracies in [0, 1]) against sparsity."""
    ax = ax or plt.gca()
    x = [100 * s for s in sparsities]
    for (label, accuracies), colour in zip(curves.items(), palette(len(curves))):
        ax.plot(x, [100 * a for a in accuracies], "o-", color=colour, label=label)
    ax.set_xlabel("sparsity (% of weights pruned)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize="small")
    return ax


def plot_runs(runs: dict[str, PruningRun], dense_accuracy: float, axes=None):
    """Two panels, one line per run (label -> ``PruningRun``): sparsity and test accuracy (%) after
    each epoch, with the dense model's accuracy dashed. Returns the two axes."""
    sparsity_ax, accuracy_ax = axes = panels(axes, 2, 5.5, 3.6)
    colors = palette(len(runs))
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


def plot_storage(table: dict, sparsities, axes=None):
    """One panel per dtype of ``hardware.storage_table``'s bytes (dtype -> format -> bytes per
    sparsity) against sparsity, dense dashed. Returns the axes."""
    axes = panels(axes, len(table), 4.2, 3.6, sharey=True)
    percent = 100 * np.asarray(sparsities, dtype=float)
    for ax, (dtype, sizes) in zip(axes, table.items()):
        formats = [fmt for fmt in sizes if fmt != "dense"]
        for fmt, color in zip(formats, plt.cm.viridis(np.linspace(0, 0.9, len(formats)))):
            ax.plot(percent, np.asarray(sizes[fmt]) / 1024, marker=".", color=color, label=fmt)
        ax.plot(percent, np.asarray(sizes["dense"]) / 1024, "k--", label="dense")
        ax.set_title(f"{str(dtype).removeprefix('torch.')} values")
        ax.set_xlabel("sparsity (% of weights pruned)")
    axes[0].set_ylabel("storage (KiB)")
    axes[-1].legend(fontsize=8)
    return axes
