"""Shared style of every figure in the kit: the colour-blind-safe palette (viridis, dark to light),
the markers, line styles and hatches that carry the same distinction where colour alone would
(WCAG 1.4.1: colour is never the only carrier of meaning), and ``panels``, which gives a
multi-panel figure its Axes. Used by all the other ``plots`` modules and by ``course_lib.widgets``."""

import matplotlib.pyplot as plt
import numpy as np


def palette(n: int):
    """``n`` colours from viridis, dark to light, distinguishable in greyscale and by colour-blind readers."""
    return plt.cm.viridis(np.linspace(0.0, 0.85, max(n, 1)))


MARKERS = "osD^vP*X"
LINESTYLES = ("-", "--", "-.", ":")
HATCHES = ("", "//", "..", "xx", "\\\\", "oo")


def cycled(styles, n: int) -> list:
    """``n`` entries of ``styles``, repeated from the start when ``n`` exceeds them."""
    return [styles[i % len(styles)] for i in range(n)]


def panels(axes, n: int, width: float, height: float, **subplots_kw) -> np.ndarray:
    """The ``n`` Axes a multi-panel figure draws on, as a flat array: ``axes`` itself (any sequence
    of at least ``n`` Axes), or, when ``axes`` is None, a new figure with a row of ``n`` subplots of
    ``width`` x ``height`` inches each."""
    if axes is None:
        _, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False, **subplots_kw)
    flat = np.asarray(axes, dtype=object).ravel()
    if len(flat) < n:
        raise ValueError(f"axes must hold at least {n} Axes for this figure, got {len(flat)}")
    return flat[:n]
