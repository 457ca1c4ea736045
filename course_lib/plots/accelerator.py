"""Figures and tables for lesson 08 (the sparse accelerator). Each function draws one figure from
numbers computed by ``course_lib.accelerator``; nothing here computes a result of its own."""

import matplotlib.pyplot as plt
import numpy as np

from ..hardware.tensor_core import DTYPE_BYTES, TensorCoreConfig, tensor_core_time

TRAFFIC_PARTS = ("A", "B", "partial_write", "partial_read", "C")


def _grid(ax, matrix, title, cmap="cividis"):
    ax.imshow(matrix != 0, cmap=cmap, vmin=0, vmax=1.6)
    for (i, j), v in np.ndenumerate(matrix):
        if v:
            ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=8, color="white")
    ax.set_title(title, fontsize=9)
    ax.set_xticks(range(matrix.shape[1]))
    ax.set_yticks(range(matrix.shape[0]))


def draw_outer_product(A: np.ndarray, B: np.ndarray):
    """A, B, each rank-1 partial matrix A[:, k] B[k, :] and their merged sum, side by side."""
    K = A.shape[1]
    fig, axes = plt.subplots(1, K + 3, figsize=(2.0 * (K + 3), 2.4))
    _grid(axes[0], A, "A")
    _grid(axes[1], B, "B")
    for k in range(K):
        part = np.outer(A[:, k], B[k, :])
        _grid(axes[2 + k], part, f"partial {k}: A[:,{k}]·B[{k},:]\n{np.count_nonzero(part)} products")
    _grid(axes[-1], A @ B, "C = merge of all partials")
    fig.suptitle("Outer product: one partial matrix per column of A, merged at the end")
    fig.tight_layout()
    return fig


def plot_dataflows(reports_by_matrix: dict, metrics: dict):
    """Grouped bars, log scale: one panel per metric (label -> function of a report), one group
    per matrix, one bar per dataflow."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4))
    matrices = list(reports_by_matrix)
    dataflows = list(next(iter(reports_by_matrix.values())))
    colors = plt.get_cmap("viridis")(np.linspace(0.1, 0.85, len(dataflows)))
    x = np.arange(len(matrices))
    for ax, (label, value) in zip(np.atleast_1d(axes), metrics.items()):
        for d, (dataflow, color) in enumerate(zip(dataflows, colors)):
            heights = [max(value(reports_by_matrix[m][dataflow]), 1e-9) for m in matrices]
            ax.bar(x + (d - 1) * 0.27, heights, 0.27, color=color, label=dataflow)
        ax.set_yscale("log")
        ax.set_xticks(x, matrices)
        ax.set_title(label)
        ax.set_ylabel(label)
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_traffic_breakdown(reports: dict, title: str, ax=None):
    """Stacked bars of DRAM traffic (MB) by operand, one bar per report (label -> report)."""
    ax = ax or plt.subplots(figsize=(7, 3.4))[1]
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


def plot_traffic_and_cycles(reports: dict, title: str):
    """The slider's figure: DRAM traffic by operand and cycles, one bar per dataflow."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    plot_traffic_breakdown(reports, "DRAM traffic", left)
    cycles = [r.cycles / 1e3 for r in reports.values()]
    right.bar(list(reports), cycles, color=plt.get_cmap("viridis")(np.linspace(0.1, 0.85, len(cycles))))
    right.set_ylabel("cycles (thousands)")
    right.set_yscale("log")
    right.set_title("time at 1 GHz (thousands of cycles)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_roofline(shapes: dict, dtype: str = "fp16", hw: TensorCoreConfig | None = None):
    """Roofline of a dense and a 2:4 tensor core with one point per GEMM (label -> (m, n, k)):
    attained dense-equivalent TFLOPS against arithmetic intensity of the dense GEMM."""
    hw = hw or TensorCoreConfig()
    peak, bandwidth = hw.peak_tflops[dtype], hw.memory_gb_per_s / 1e3  # TFLOPS, TB/s
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    intensity = np.logspace(-1, 4, 200)
    for factor, style, name in ((1, "-", "dense roof"), (2, "--", "2:4 roof")):
        ax.plot(intensity, np.minimum(factor * peak, bandwidth * intensity), "k" + style, lw=1, label=name)
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(shapes)))
    for (label, (m, n, k)), color in zip(shapes.items(), colors):
        dense = tensor_core_time(m, n, k, "dense", dtype, hw)
        ai = dense.flops / (DTYPE_BYTES[dtype] * (m * k + k * n + m * n))
        for pattern, marker in (("dense", "o"), ("2:4", "^")):
            t = tensor_core_time(m, n, k, pattern, dtype, hw)
            ax.scatter(ai, t.flops / t.seconds / 1e12, color=color, marker=marker, s=40,
                       label=label if pattern == "dense" else None)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity of the dense GEMM (flop per byte)")
    ax.set_ylabel("attained TFLOPS (dense-equivalent)")
    ax.set_title(f"Roofline of an A100-like tensor core, {dtype}: dense (o) vs 2:4 (^)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def plot_spilled(sizes, plans: dict):
    """Partial-matrix sizes (top) and, for each merge plan (label -> rounds), which partial
    matrices it sends through DRAM: those the last round (the root) does not merge directly."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 3.8), sharex=True, height_ratios=(3, 1))
    top.bar(np.arange(len(sizes)), sizes, width=1.0, color="#31688e")
    top.set_yscale("log")
    top.set_ylabel("entries")
    top.set_title("Partial matrices in the order they are produced, and which ones go through DRAM")
    for row, rounds in enumerate(plans.values()):
        spilled = np.setdiff1d(np.arange(len(sizes)), rounds[-1])
        bottom.scatter(spilled, np.full(spilled.size, row), s=3, marker="|", color="#35b779")
    bottom.set_yticks(range(len(plans)), list(plans))
    bottom.set_ylim(-0.6, len(plans) - 0.4)
    bottom.set_xlabel("partial matrix (condensed column j)")
    fig.tight_layout()
    return fig
