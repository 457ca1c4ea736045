"""Plotting helpers shared by the lessons. Colour-blind-safe palettes only (viridis, cividis)."""

import matplotlib.pyplot as plt
import numpy as np


def palette(n: int):
    """``n`` colours from viridis, dark to light, distinguishable in greyscale and by colour-blind readers."""
    return plt.cm.viridis(np.linspace(0.0, 0.85, max(n, 1)))
