"""Plotting helpers shared by the lessons. Colour-blind-safe palettes only (viridis, cividis)."""

import matplotlib.pyplot as plt
import numpy as np
import torch

from .energy import HOROWITZ_45NM_PJ
from .pruning import prunable_weights


def palette(n: int):
    """``n`` colours from viridis, dark to light, distinguishable in greyscale and by colour-blind readers."""
    return plt.cm.viridis(np.linspace(0.0, 0.85, max(n, 1)))


def plot_energy_table(ax=None):
    """Horizontal bars of the 45 nm energy table on a log scale, one bar per operation."""
    ax = ax or plt.gca()
    names, costs = zip(*sorted(HOROWITZ_45NM_PJ.items(), key=lambda kv: kv[1]))
    bars = ax.barh(names, costs, color=palette(len(names)))
    ax.set_xscale("log")
    ax.bar_label(bars, labels=[f"{c:g} pJ" for c in costs], padding=3)
    ax.set_xlabel("energy per operation (pJ, log scale)")
    ax.set_title("Energy of one operation, 45 nm (Horowitz, ISSCC 2014)")
    ax.set_xlim(right=max(costs) * 20)
    return ax


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
