"""TODO docstring."""

import matplotlib.pyplot as plt
import torch

from ..core.modules import prunable_weights


def plot_weight_histogram(model, ax=None, bins: int = 80, label: str | None = None, color=None):
    """Histogram of all Conv2d/Linear weights of ``model``, exact zeros excluded."""
    ax = ax or plt.gca()
    weights = torch.cat([w.detach().flatten() for w in prunable_weights(model).values()])
    nonzero = weights[weights != 0].numpy()
    limit = float(weights.abs().max()) or 1.0  # same x-range before and after pruning
    ax.hist(nonzero, bins=bins, range=(-limit, limit), alpha=0.7, label=label, color=color)
    ax.set_xlabel("weight value")
    ax.set_ylabel("number of weights")
    return ax
