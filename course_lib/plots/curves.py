"""TODO docstring."""

import matplotlib.pyplot as plt

from .style import palette


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
