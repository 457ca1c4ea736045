"""Paired comparisons as a figure: each difference with its interval, against a zero line."""

import matplotlib.pyplot as plt
import numpy as np

from ..analysis.compare import Comparison
from .style import palette


def plot_paired_comparison(results: dict[str, Comparison], ax=None, title: str | None = None):
    """One row per entry of ``results`` (label -> :class:`~course_lib.analysis.Comparison`): the accuracy
    difference A - B in points with its interval as an error bar, a zero line, and each row's verdict.

    A bar that crosses the zero line is within noise; one wholly to the right means A beats B."""
    if not results:
        raise ValueError("results must hold at least one comparison, got an empty dict")
    ax = ax or plt.gca()
    labels = list(results)
    y = np.arange(len(labels))[::-1]  # first entry on top
    diff = np.array([100 * results[k].difference for k in labels])
    low = np.array([100 * results[k].interval[0] for k in labels])
    high = np.array([100 * results[k].interval[1] for k in labels])
    colour = palette(2)[0]
    ax.errorbar(diff, y, xerr=[diff - low, high - diff], fmt="o", color=colour, capsize=4)
    ax.axvline(0.0, color="grey", linestyle="--", linewidth=1)
    for row, key, right in zip(y, labels, high):
        ax.annotate(results[key].verdict, (right, row), xytext=(6, 0), textcoords="offset points",
                    va="center", fontsize="small")
    ax.set_yticks(y, labels)
    confidence = results[labels[0]].confidence
    ax.set_xlabel(f"accuracy difference (points), A - B, {confidence:.0%} paired-bootstrap interval")
    ax.set_title(title or "Paired comparison on the same test examples")
    ax.margins(x=0.25)
    return ax
