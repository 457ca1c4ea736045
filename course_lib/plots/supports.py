"""Pruning supports of a tiny network (lesson 01, the L0 formulation): the loss after pruning against
the number of weights kept, brute-force optimum beside magnitude, OBD and random; and every support
of one size as a point (distance to the dense weights, loss). The study comes from
``recipes.l0_study``."""

import matplotlib.pyplot as plt
import torch

from .style import palette


def plot_l0_study(study: dict, ax=None):
    """Loss of the pruned tiny net vs the number of weights kept N: the brute-force optimum (and the
    range over all supports), magnitude, OBD and the expected loss of a random support."""
    ax = ax or plt.gca()
    n = torch.arange(len(study["optimum"]))
    colours = palette(4)
    ax.fill_between(n, study["optimum"], study["worst"], color="0.9", label="all supports (best to worst)")
    ax.plot(n, study["random_mean"], "o:", color=colours[3], label="random (expected)")
    ax.plot(n, study["magnitude"], "s-", color=colours[1], label="magnitude |w|")
    ax.plot(n, study["obd"], "^-", color=colours[2], label="OBD ½·h·w²")
    ax.plot(n, study["optimum"], "k.--", label="brute-force optimum")
    ax.set_yscale("log")
    ax.set_xlabel(f"N, weights kept (of {len(n) - 1})")
    ax.set_ylabel("training loss after pruning (MSE, log scale)")
    ax.set_title(f"Pruning a {len(n) - 1}-weight net: criteria vs the exact optimum")
    ax.legend(fontsize="small")
    return ax


def plot_supports(study: dict, n: int, ax=None):
    """Every support of size ``n`` as a point (distance ||W - W_p||_2, loss), with the supports that
    magnitude, OBD and brute force choose marked."""
    ax = ax or plt.gca()
    of_size = study["all_supports"].sum(dim=1) == n
    ax.scatter(study["all_distances"][of_size], study["all_losses"][of_size], s=12, color="0.6",
               label=f"all {int(of_size.sum())} supports")
    colours = palette(3)
    markers = {"magnitude_support": ("magnitude", "s", colours[1], 140),
               "obd_support": ("OBD", "^", colours[2], 90), "best_support": ("optimum", "*", "k", 60)}
    for key, (label, marker, colour, size) in markers.items():
        index = (study["all_supports"] == study[key][n]).all(dim=1).nonzero()[0, 0]
        ax.scatter(study["all_distances"][index], study["all_losses"][index], s=size, marker=marker,
                   facecolors="none" if marker == "s" else colour, edgecolors=colour, linewidths=2,
                   label=label)
    ax.set_yscale("log")
    ax.set_xlabel("distance to the dense weights ||W − W_p||₂")
    ax.set_ylabel("training loss (MSE, log scale)")
    ax.set_title(f"All supports that keep N = {n} weights")
    ax.legend(fontsize="small")
    return ax
