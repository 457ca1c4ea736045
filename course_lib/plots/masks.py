"""Figures for the pruning-core lessons (01 L0 formulation, 02 granularity).

Colour-blind-safe maps only (viridis, cividis); every plot has a title and labelled axes.
"""

import matplotlib.pyplot as plt
import torch

from ..pruning.granularity import GRANULARITIES, granularity_mask
from .style import palette


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


def plot_index_bits_tradeoff(index_bits_per_weight: dict, accuracy: dict, ax=None, title: str = ""):
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
