"""Mask heatmaps: which weights a mask keeps. A conv mask laid out kernel by kernel, one panel per
granularity (lesson 02: fine, pattern, vector, kernel, channel), and |w| along the reduction
dimension with an N:M mask's groups of M (lesson 03). The masks come from ``course_lib.pruning``;
nothing here computes one."""

import matplotlib.pyplot as plt
import torch

from ..pruning.nm import kept_magnitude, reduction_matrix
from .style import panels


def mask_image(mask: torch.Tensor, max_out: int = 8, max_in: int = 8) -> torch.Tensor:
    """Lay a conv mask [Co, Ci, Kh, Kw] out as a 2-D image (co*Kh, ci*Kw) of its first ``max_out``
    output and ``max_in`` input channels: row block = output channel, column block = input channel."""
    if mask.ndim != 4:
        raise ValueError(f"mask must be a 4-D conv mask [Co, Ci, Kh, Kw], got shape {tuple(mask.shape)}")
    part = mask[:max_out, :max_in]  # (co, ci, Kh, Kw)
    co, ci, kh, kw = part.shape
    return part.permute(0, 2, 1, 3).reshape(co * kh, ci * kw)


def plot_mask(mask: torch.Tensor, ax=None, title: str = "Mask (light = kept)", max_out: int = 8,
              max_in: int = 8):
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


def plot_granularities(masks: dict[str, torch.Tensor], axes=None, sparsity: float | None = None):
    """One ``plot_mask`` panel per entry of ``masks`` (granularity -> conv mask of one layer, e.g.
    from ``pruning.granularity_mask``), titled with the sparsity each achieves; ``sparsity`` is the
    target named in the figure's title. Returns the axes."""
    if not masks:
        raise ValueError("masks must hold at least one granularity -> mask, got an empty dict")
    axes = panels(axes, len(masks), 3.2, 3.4)
    for (granularity, mask), ax in zip(masks.items(), axes):
        achieved = 1 - mask.float().mean().item()
        plot_mask(mask, ax, f"{granularity}: {achieved:.0%} pruned")
    shape = list(next(iter(masks.values())).shape)
    target = "" if sparsity is None else f" at {sparsity:.0%} target sparsity"
    axes[0].figure.suptitle(f"Masks of one conv layer {shape}{target} (first 8×8 kernels; light = kept)")
    return axes


def plot_nm_pattern(weight: torch.Tensor, mask: torch.Tensor, n: int, m: int, ax=None,
                    rows: int = 16, cols: int = 32):
    """Heatmap of |w| on the first ``rows`` x ``cols`` of ``reduction_matrix(weight)``, the entries
    that the N:M ``mask`` (e.g. ``pruning.nm_mask(weight, n, m)``) prunes blanked, with thin lines
    between groups of ``m``."""
    ax = ax or plt.gca()
    matrix = reduction_matrix(weight.detach()).abs()[:rows, :cols].float()
    kept = reduction_matrix(mask)[:rows, :cols]
    shown = torch.where(kept, matrix, torch.nan)
    image = ax.imshow(shown.numpy(), cmap="viridis", vmin=0, vmax=float(matrix.max()))
    for x in range(m, shown.shape[1], m):
        ax.axvline(x - 0.5, color="0.6", linewidth=0.6)
    fraction = kept_magnitude(weight, mask) / kept_magnitude(weight, torch.ones_like(mask))
    ax.set_title(f"{n}:{m} mask: {1 - n / m:.0%} sparse, keeps {fraction:.1%} of |w| (white = pruned)")
    ax.set_xlabel(f"reduction index k (groups of {m} between grey lines)")
    ax.set_ylabel("output channel")
    ax.figure.colorbar(image, ax=ax, label="|w| (weight units)")
    return ax
