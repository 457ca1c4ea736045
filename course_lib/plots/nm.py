"""TODO docstring."""

import matplotlib.pyplot as plt
import torch

from ..pruning.nm import kept_magnitude, nm_mask, reduction_matrix


def plot_nm_pattern(weight: torch.Tensor, n: int, m: int, rows: int = 16, cols: int = 32, ax=None):
    """Heatmap of |w| on the first ``rows`` x ``cols`` of ``reduction_matrix(weight)``, pruned entries
    blanked by the N:M mask, with thin lines between groups. Returns the matplotlib Axes."""

    mask = nm_mask(weight, n, m)
    matrix = reduction_matrix(weight.detach()).abs()[:rows, :cols].float()
    kept = reduction_matrix(mask)[:rows, :cols]
    shown = torch.where(kept, matrix, torch.nan)
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.5))
    image = ax.imshow(shown.numpy(), cmap="viridis", vmin=0, vmax=float(matrix.max()))
    for x in range(m, shown.shape[1], m):
        ax.axvline(x - 0.5, color="0.6", linewidth=0.6)
    fraction = kept_magnitude(weight, mask) / kept_magnitude(weight, torch.ones_like(mask))
    ax.set_title(f"{n}:{m} mask: {1 - n / m:.0%} sparse, keeps {fraction:.1%} of |w| (white = pruned)")
    ax.set_xlabel(f"reduction index k (groups of {m} between grey lines)")
    ax.set_ylabel("output channel")
    ax.figure.colorbar(image, ax=ax, label="|w| (weight units)")
    return ax


def plot_pattern_comparison(rows: list[dict]):
    """Two bar charts from ``compare_patterns`` rows: kept magnitude and one-shot accuracy."""

    labels = [row["pattern"].replace("unstructured ", "unstr. ") for row in rows]
    cmap = plt.get_cmap("cividis")
    colors = [cmap(0.85 if row["pattern"].startswith("unstructured") else 0.2) for row in rows]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, key, title in zip(axes, ("kept_fraction", "accuracy"),
                              ("kept magnitude (fraction of |w|)", "one-shot test accuracy")):
        percent = [100 * row[key] for row in rows]
        ax.bar(labels, percent, color=colors)
        ax.set_title(title)
        ax.set_ylabel("percent (%)")
        ax.set_xlabel("pattern (dark: N:M, light: unstructured at the same sparsity)")
        ax.set_ylim(max(0.0, min(percent) - 10), 100)
    fig.tight_layout()
    return fig
