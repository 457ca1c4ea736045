"""Figures for lesson 04 (channel pruning): dependency groups, channel rankings, sensitivity curves
and MACs against measured latency. Colour-blind-safe colours only (viridis)."""

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Patch

from ..analysis.sensitivity import Sensitivity
from ..core.selection import keep_largest
from ..structured.graph import ChannelGroup
from ..structured.scores import pruned_overlap
from ..structured.surgery import n_pruned
from .style import palette

ROLES = (
    ("producers", "s", "writes the channels (weight dim 0)"),
    ("norms", "o", "normalises them (BatchNorm)"),
    ("consumers", "^", "reads them (weight dim 1)"),
)


def plot_groups(groups: list[ChannelGroup], layer_order: list[str], ax=None):
    """One row per dependency group, one column per layer (in ``layer_order``): a marker where
    the layer belongs to the group, its shape giving the layer's role."""
    ax = ax or plt.gca()
    column = {name: i for i, name in enumerate(layer_order)}
    colours = palette(len(ROLES))
    for row, group in enumerate(groups):
        ax.axhline(row, color="0.9", zorder=0)
        for (role, marker, label), colour in zip(ROLES, colours):
            names = [m if isinstance(m, str) else m[0] for m in getattr(group, role)]
            ax.scatter(
                [column[n] for n in names],
                [row] * len(names),
                marker=marker,
                s=110,
                color=colour,
                label=label if row == 0 else None,
                zorder=2,
            )
    labels = [f"{g.name} ({g.channels} ch{'' if g.prunable else ', fixed'})" for g in groups]
    ax.set_yticks(range(len(groups)), labels)
    ax.set_xticks(range(len(layer_order)), layer_order, rotation=60, ha="right")
    ax.invert_yaxis()
    ax.set_xlabel("layer (in the order the model defines them)")
    ax.set_ylabel("dependency group (channel count)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.45), ncol=3, frameon=False)
    return ax


def plot_channel_ranking(scores: dict[str, torch.Tensor], ratio: float, layer: str):
    """Left: the first criterion's score of every channel, removed channels marked. Right: how far
    the criteria agree on which channels to remove (``pruned_overlap``)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [3, 2]})
    name, first = next(iter(scores.items()))
    removed = ~keep_largest(first, n_pruned(len(first), ratio))
    kept_colour, removed_colour = palette(2)
    left.bar(
        range(len(first)),
        first.numpy(),
        color=np.where(removed.numpy()[:, None], removed_colour, kept_colour),
    )
    handles = [
        Patch(color=kept_colour, label="kept"),
        Patch(color=removed_colour, label=f"removed ({int(removed.sum())} of {len(first)})"),
    ]
    left.set(
        xlabel=f"output channel of {layer}",
        ylabel=f"{name} score",
        title=f"{layer}: {name} importance of each channel, {ratio:.0%} removed",
    )
    left.legend(handles=handles, loc="lower right")
    overlap = pruned_overlap(scores, ratio).numpy()
    image = right.imshow(overlap, cmap="viridis", vmin=0, vmax=1)
    labels = list(scores)
    right.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    right.set_yticks(range(len(labels)), labels)
    for (i, j), v in np.ndenumerate(overlap):
        right.text(j, i, f"{v:.2f}", ha="center", va="center", color="white" if v < 0.6 else "black")
    right.set_title("share of row's removed channels\nthat the column also removes")
    fig.colorbar(image, ax=right, label="fraction of removed channels")
    fig.tight_layout()
    return fig


def plot_sensitivity(scan: Sensitivity, ax=None):
    """Accuracy after pruning each group alone, against the fraction of its channels removed."""
    ax = ax or plt.gca()
    for (name, curve), colour in zip(scan.curves.items(), palette(len(scan.curves))):
        ax.plot(scan.ratios, 100 * np.asarray(curve), "o-", color=colour, label=name)
    ax.axhline(100 * scan.dense, color="0.4", linestyle="--", label="dense")
    ax.set(
        xlabel="fraction of the group's channels removed",
        ylabel="test accuracy (%)",
        title="Sensitivity: pruning one group at a time, no fine-tuning",
    )
    ax.legend(title="group")
    return ax


def plot_speedups(rows: list[dict], statistic: str = "min", ax=None):
    """Measured latency speedup (``statistic`` of the timed runs) against MAC speedup, one line per
    batch size, with the ideal line y = x; ``rows`` come from ``channels.speedups``."""
    ax = ax or plt.gca()
    mac = [r["mac_speedup"] for r in rows]
    batch_sizes = list(rows[0]["latency_speedup"][statistic])
    for b, colour in zip(batch_sizes, palette(len(batch_sizes))):
        measured = [r["latency_speedup"][statistic][b] for r in rows]
        ax.plot(mac, measured, "o-", color=colour, label=f"batch {b}")
    ax.plot([1, max(mac)], [1, max(mac)], "--", color="0.5", label="ideal: latency falls like MACs")
    for r in rows:  # label each ratio on the ideal line, where its MAC speedup sits
        where = (r["mac_speedup"], r["mac_speedup"])
        ax.annotate(
            f"{r['ratio']:.0%} removed", where, textcoords="offset points", xytext=(-6, 4), ha="right"
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(
        xlabel="MAC speedup (dense / pruned)",
        ylabel=f"CPU latency speedup ({statistic} of runs)",
        title="Fewer MACs, but how much faster?",
    )
    ax.legend()
    return ax
