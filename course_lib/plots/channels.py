"""Channel-pruning figures (lesson 04): which layers share channels (dependency groups), each
channel's score and which ones go, how far criteria agree, the accuracy of pruning one group at a
time, and MAC speedup against measured latency speedup. The numbers come from ``structured`` and
``analysis``; colour-blind-safe colours only (viridis)."""

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Patch

from ..analysis.sensitivity import Sensitivity
from ..structured.graph import ChannelGroup
from .style import palette

ROLES = (
    ("producers", "s", "writes the channels (weight dim 0)"),
    ("norms", "o", "normalises them (BatchNorm)"),
    ("consumers", "^", "reads them (weight dim 1)"),
)


def plot_groups(groups: list[ChannelGroup], layer_order: list[str], ax=None,
                title: str = "Dependency groups: layers that must lose the same channels"):
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
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.45), ncol=3, frameon=False)
    return ax


def plot_channel_scores(scores: torch.Tensor, removed: torch.Tensor, ax=None, criterion: str = "",
                        layer: str = ""):
    """One bar per output channel of ``layer``: its ``criterion`` score (``scores``, (C,)), coloured by
    whether ``removed`` ((C,) bool, e.g. ``structured.pruned_channels``) drops it."""
    ax = ax or plt.gca()
    kept_colour, removed_colour = palette(2)
    colours = np.where(removed.numpy()[:, None], removed_colour, kept_colour)  # (C, 4)
    ax.bar(range(len(scores)), scores.numpy(), color=colours)
    share = removed.float().mean().item()
    handles = [
        Patch(color=kept_colour, label="kept"),
        Patch(color=removed_colour, label=f"removed ({int(removed.sum())} of {len(scores)})"),
    ]
    ax.set(
        xlabel=f"output channel of {layer}",
        ylabel=f"{criterion} score (higher = more important)",
        title=f"{layer}: {criterion} importance of each channel, {share:.0%} removed",
    )
    ax.legend(handles=handles, loc="lower right")
    return ax


def plot_criteria_overlap(overlap: torch.Tensor, criteria: list[str], ax=None):
    """Heatmap of ``structured.pruned_overlap`` ((K, K), rows and columns in the order of
    ``criteria``): the share of the row criterion's removed channels that the column's removes too."""
    ax = ax or plt.gca()
    overlap = torch.as_tensor(overlap).numpy()
    image = ax.imshow(overlap, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(criteria)), criteria, rotation=45, ha="right")
    ax.set_yticks(range(len(criteria)), criteria)
    for (i, j), v in np.ndenumerate(overlap):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", color="white" if v < 0.6 else "black")
    ax.set_xlabel("criterion (column)")
    ax.set_ylabel("criterion (row)")
    ax.set_title("share of row's removed channels\nthat the column also removes")
    ax.figure.colorbar(image, ax=ax, label="fraction of removed channels")
    return ax


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


def plot_speedups(rows: list[dict], ax=None, statistic: str = "min"):
    """Measured latency speedup (``statistic`` of the timed runs) against MAC speedup, one line per
    batch size, with the ideal line y = x; ``rows`` come from ``analysis.speedups``."""
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
