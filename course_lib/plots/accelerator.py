"""Sparse-accelerator figures (lesson 08): the outer product drawn as its partial matrices, DRAM
traffic, cycles and energy of each SpGEMM dataflow, which partial matrices a merge plan sends
through DRAM, and the 2:4 tensor-core roofline. Every number comes from ``course_lib.hardware``
(the SpGEMM simulator and the tensor-core model); nothing here simulates anything."""

import matplotlib.pyplot as plt
import numpy as np

from ..hardware.tensor_core import TensorCoreConfig
from .style import panels

TRAFFIC_PARTS = ("A", "B", "partial_write", "partial_read", "C")


def _grid(ax, matrix, title, cmap="cividis"):
    ax.imshow(matrix != 0, cmap=cmap, vmin=0, vmax=1.6)
    for (i, j), v in np.ndenumerate(matrix):
        if v:
            ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=8, color="white")
    ax.set_title(title, fontsize=9)
    ax.set_xticks(range(matrix.shape[1]))
    ax.set_yticks(range(matrix.shape[0]))
    ax.set_xlabel("column", fontsize=8)
    ax.set_ylabel("row", fontsize=8)


def plot_outer_product(A: np.ndarray, B: np.ndarray, partials: np.ndarray, axes=None):
    """A, B, each rank-1 partial matrix (``partials``, (K, M, N), from
    ``hardware.outer_product_partials``) and their merged sum, side by side: K + 3 panels."""
    K = len(partials)
    axes = panels(axes, K + 3, 2.0, 2.4)
    _grid(axes[0], A, "A")
    _grid(axes[1], B, "B")
    for k, part in enumerate(partials):
        _grid(axes[2 + k], part, f"partial {k}: A[:,{k}]·B[{k},:]\n{np.count_nonzero(part)} products")
    _grid(axes[-1], partials.sum(axis=0), "C = merge of all partials")
    axes[0].figure.suptitle("Outer product: one partial matrix per column of A, merged at the end")
    return axes


def plot_dataflows(reports_by_matrix: dict, metrics: dict, axes=None):
    """Grouped bars, log scale: one panel per metric (label with its unit -> function of a report),
    one group per matrix, one bar per dataflow (``reports_by_matrix``: matrix -> dataflow -> report)."""
    axes = panels(axes, len(metrics), 4.2, 3.4)
    matrices = list(reports_by_matrix)
    dataflows = list(next(iter(reports_by_matrix.values())))
    colors = plt.get_cmap("viridis")(np.linspace(0.1, 0.85, len(dataflows)))
    x = np.arange(len(matrices))
    width = 0.8 / len(dataflows)
    for ax, (label, value) in zip(axes, metrics.items()):
        for d, (dataflow, color) in enumerate(zip(dataflows, colors)):
            heights = [max(value(reports_by_matrix[m][dataflow]), 1e-9) for m in matrices]
            ax.bar(x + (d - (len(dataflows) - 1) / 2) * width, heights, width, color=color, label=dataflow)
        ax.set_yscale("log")
        ax.set_xticks(x, matrices)
        ax.set_xlabel("matrix")
        ax.set_title(label)
        ax.set_ylabel(label)
    axes[0].legend(fontsize=8)
    return axes


def plot_traffic_breakdown(reports: dict, ax=None, title: str = "DRAM traffic by operand"):
    """Stacked bars of DRAM traffic (MB) by operand (``TRAFFIC_PARTS``), one bar per report
    (label -> ``SpGEMMReport``)."""
    ax = ax or plt.gca()
    colors = plt.get_cmap("cividis")(np.linspace(0.05, 0.95, len(TRAFFIC_PARTS)))
    bottom = np.zeros(len(reports))
    for part, color in zip(TRAFFIC_PARTS, colors):
        heights = np.array([r.dram_bytes[part] / 1e6 for r in reports.values()])
        ax.bar(list(reports), heights, bottom=bottom, color=color, label=part)
        bottom += heights
    ax.set_ylabel("DRAM traffic (MB)")
    ax.set_title(title)
    ax.tick_params(axis="x", labelrotation=15, labelsize=8)
    ax.legend(fontsize=7)
    return ax


def plot_traffic_and_cycles(reports: dict, axes=None, title: str | None = None):
    """Two panels, one bar per dataflow (label -> ``SpGEMMReport``): DRAM traffic by operand, and
    cycles (log scale); ``title`` names the figure. Returns the two axes."""
    traffic, time = axes = panels(axes, 2, 5.0, 3.4)
    plot_traffic_breakdown(reports, traffic, "DRAM traffic")
    cycles = [r.cycles / 1e3 for r in reports.values()]
    time.bar(list(reports), cycles, color=plt.get_cmap("viridis")(np.linspace(0.1, 0.85, len(cycles))))
    time.set_ylabel("cycles (thousands)")
    time.set_yscale("log")
    time.set_title("time at 1 GHz (thousands of cycles)")
    if title:
        traffic.figure.suptitle(title)
    return axes


def plot_roofline(points: dict, ax=None, dtype: str = "fp16", hw: TensorCoreConfig | None = None):
    """The dense and 2:4 roofs of ``hw`` for ``dtype`` and one point per GEMM of
    ``hardware.roofline_points`` (label -> {"intensity", "dense", "2:4"}): attained dense-equivalent
    TFLOPS against arithmetic intensity of the dense GEMM."""
    ax = ax or plt.gca()
    hw = hw or TensorCoreConfig()
    peak, bandwidth = hw.peak_tflops[dtype], hw.memory_gb_per_s / 1e3  # TFLOPS, TB/s
    intensity = np.logspace(-1, 4, 200)
    for factor, style, name in ((1, "-", "dense roof"), (2, "--", "2:4 roof")):
        ax.plot(intensity, np.minimum(factor * peak, bandwidth * intensity), "k" + style, lw=1, label=name)
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(points)))
    for (label, point), color in zip(points.items(), colors):
        for pattern, marker in (("dense", "o"), ("2:4", "^")):
            ax.scatter(point["intensity"], point[pattern], color=color, marker=marker, s=40,
                       label=label if pattern == "dense" else None)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity of the dense GEMM (flop per byte)")
    ax.set_ylabel("attained TFLOPS (dense-equivalent)")
    ax.set_title(f"Roofline of an A100-like tensor core, {dtype}: dense (o) vs 2:4 (^)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def plot_spilled(sizes, spilled: dict, axes=None):
    """Two panels: the partial-matrix ``sizes`` in the order they are produced (top), and, for each
    merge plan (label -> ids from ``hardware.spilled_partials``), which partial matrices it sends
    through DRAM (bottom). Returns the two axes."""
    if axes is None:
        _, axes = plt.subplots(2, 1, figsize=(8, 3.8), sharex=True, height_ratios=(3, 1))
    top, bottom = axes = panels(axes, 2, 8, 1.9)
    top.bar(np.arange(len(sizes)), sizes, width=1.0, color="#31688e")
    top.set_yscale("log")
    top.set_ylabel("entries")
    top.set_title("Partial matrices in the order they are produced, and which ones go through DRAM")
    for row, ids in enumerate(spilled.values()):
        bottom.scatter(ids, np.full(len(ids), row), s=3, marker="|", color="#35b779")
    bottom.set_yticks(range(len(spilled)), list(spilled))
    bottom.set_ylim(-0.6, len(spilled) - 0.4)
    bottom.set_xlabel("partial matrix (condensed column j)")
    return axes
