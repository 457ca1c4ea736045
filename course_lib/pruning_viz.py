"""Figures for the pruning-core lessons (01 L0 formulation, 02 granularity).

Colour-blind-safe maps only (viridis, cividis); every plot has a title and labelled axes.
"""

import matplotlib.pyplot as plt
import torch

from .pruning import GRANULARITIES, granularity_mask
from .viz import palette


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


def mask_image(mask: torch.Tensor, max_out: int = 8, max_in: int = 8) -> torch.Tensor:
    """Lay a conv mask [Co, Ci, Kh, Kw] out as a 2-D image (co*Kh, ci*Kw) of its first ``max_out``
    output and ``max_in`` input channels: row block = output channel, column block = input channel."""
    if mask.ndim != 4:
        raise ValueError(f"mask must be a 4-D conv mask [Co, Ci, Kh, Kw], got shape {tuple(mask.shape)}")
    part = mask[:max_out, :max_in]  # (co, ci, Kh, Kw)
    co, ci, kh, kw = part.shape
    return part.permute(0, 2, 1, 3).reshape(co * kh, ci * kw)


def plot_mask(mask: torch.Tensor, ax=None, title: str = "", max_out: int = 8, max_in: int = 8):
    """Heatmap of a conv mask (kept = light, pruned = dark) with lines between kernels."""
    ax = ax or plt.gca()
    image = mask_image(mask, max_out, max_in)
    kh, kw = mask.shape[-2:]
    ax.imshow(image.float().numpy(), cmap="cividis", vmin=0, vmax=1, interpolation="nearest")
    for r in range(kh, image.shape[0], kh):
        ax.axhline(r - 0.5, color="white", linewidth=0.8)
    for c in range(kw, image.shape[1], kw):
        ax.axvline(c - 0.5, color="white", linewidth=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("input channel →")
    ax.set_ylabel("output channel →")
    ax.set_title(title, fontsize="medium")
    return ax


def plot_granularities(weight: torch.Tensor, sparsity: float, granularities=GRANULARITIES, axes=None):
    """One mask heatmap per granularity for the same conv weight and sparsity; returns the masks."""
    if axes is None:
        _, axes = plt.subplots(1, len(granularities), figsize=(3.2 * len(granularities), 3.4))
    masks = {}
    for g, ax in zip(granularities, axes):
        masks[g] = granularity_mask(weight, sparsity, g)
        achieved = 1 - masks[g].float().mean().item()
        plot_mask(masks[g], ax, f"{g}: {achieved:.0%} pruned")
    axes[0].figure.suptitle(
        f"Masks of one conv layer {list(weight.shape)} at {sparsity:.0%} target sparsity "
        "(first 8×8 kernels; light = kept)"
    )
    return masks


def plot_before_after(before: dict, after: dict, ax=None, title: str = "", labels=("one-shot", "fine-tuned")):
    """Paired bars per key (e.g. per granularity): accuracy before and after fine-tuning, in %."""
    ax = ax or plt.gca()
    names = list(before)
    positions = torch.arange(len(names), dtype=torch.float32).numpy()
    for offset, values, label, colour in zip((-0.2, 0.2), (before, after), labels, palette(2)):
        heights = [100 * values[n] for n in names]
        bars = ax.bar(positions + offset, heights, width=0.4, label=label, color=colour)
        ax.bar_label(bars, fmt="%.0f", fontsize="small")
    ax.set_xticks(positions, names)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 122)
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper center", ncol=2)
    return ax


def plot_tradeoff(index_bits_per_weight: dict, accuracy: dict, ax=None, title: str = ""):
    """One labelled point per granularity: metadata bits per weight (log x) against accuracy (%)."""
    ax = ax or plt.gca()
    for i, ((name, bits), colour) in enumerate(zip(index_bits_per_weight.items(), palette(len(accuracy)))):
        ax.scatter(bits, 100 * accuracy[name], s=70, color=colour)
        ax.annotate(name, (bits, 100 * accuracy[name]), textcoords="offset points",
                    xytext=(6, 5 if i % 2 == 0 else -13))  # alternate above/below: neighbours can be close
    ax.set_xscale("log")
    ax.margins(x=0.15, y=0.12)
    ax.set_xlabel("index metadata (bits per weight of the layer, log scale)")
    ax.set_ylabel("test accuracy after fine-tuning (%)")
    ax.set_title(title)
    return ax
