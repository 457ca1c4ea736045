"""TODO docstring."""

import matplotlib.pyplot as plt

from ..hardware.energy import HOROWITZ_45NM_PJ
from .style import palette


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
