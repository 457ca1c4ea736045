"""TODO docstring."""

import matplotlib.pyplot as plt
import numpy as np


def plot_storage(table: dict, sparsities, axes=None):
    """One panel per dtype of ``storage_table``'s bytes against sparsity, dense dashed."""
    if axes is None:
        _, axes = plt.subplots(1, len(table), figsize=(4.2 * len(table), 3.6), sharey=True)
    axes = np.atleast_1d(axes)
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
