"""Sparse against dense matrix multiply on the CPU, measured (lesson 07).

``matmul_times`` times W @ X for a seeded Gaussian W (R, C) magnitude-pruned to each sparsity and
X (C, batch): dense torch, torch.sparse CSR and scipy.sparse CSR. ``measured_crossover`` reads off
the sparsity from which a sparse kernel stays faster than dense: on a CPU it lies far above the
sparsity at which CSR *storage* beats dense (``hardware.crossover_sparsity``).
"""

import math

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..analysis.latency import measure_latency
from ..core.validation import check_fraction, check_positive_int
from .format_sizes import _check_shape, prune_matrix
from .formats import encode


class _MatMul(nn.Module):
    """``matrix @ x`` as a module so that ``analysis.measure_latency`` can time it; ``matrix`` may be
    a dense tensor, a torch.sparse tensor or a scipy.sparse array (then ``x`` is a numpy array)."""

    def __init__(self, matrix):
        super().__init__()
        self.matrix = matrix

    def forward(self, x):
        return self.matrix @ x


def matmul_times(shape=(1024, 1024), sparsities=(0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99),
                 batch: int = 64, repeats: int = 15, threads: int = 1, seed: int = 0,
                 progress: bool = True) -> dict[str, list[float]]:
    """Milliseconds of W @ X, W (R, C) a seeded Gaussian matrix magnitude-pruned to each sparsity and
    X (C, batch): dense torch, torch.sparse CSR and scipy.sparse CSR (both built with
    ``encode(W, "csr")``), with ``threads`` torch threads (restored afterwards). Each time is the
    fastest of ``repeats`` runs after warm-up, the run least disturbed by other programs; the runs are
    taken in alternating turns of at most 3 per format, so that a burst of load on a shared machine
    slows every format alike rather than the one timed during it.

    Returns ``{"dense": [...], "torch_csr": [...], "scipy_csr": [...]}``, one entry per sparsity.
    """
    shape = _check_shape(shape)
    check_positive_int("batch", batch)
    check_positive_int("threads", threads)
    sparsities = [check_fraction("sparsities", s) for s in sparsities]
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(shape, generator=generator)
    x = torch.randn(shape[1], batch, generator=generator)
    times = {"dense": [], "torch_csr": [], "scipy_csr": []}
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for sparsity in tqdm(sparsities, desc="timing W @ X", disable=not progress):
            pruned = prune_matrix(weight, sparsity)
            csr = encode(pruned, "csr")
            products = {"dense": (_MatMul(pruned), x), "torch_csr": (_MatMul(csr.to_torch()), x),
                        "scipy_csr": (_MatMul(csr.to_scipy()), x.numpy())}
            fastest = dict.fromkeys(products, math.inf)
            for turn, left in enumerate(range(repeats, 0, -3)):  # turns of 3 runs, alternating formats
                for key, (product, example) in products.items():
                    latency = measure_latency(product, example, warmup=3 if turn == 0 else 0,
                                              repeats=min(3, left))
                    fastest[key] = min(fastest[key], latency.min_ms)
            for key, value in fastest.items():
                times[key].append(value)
    finally:
        torch.set_num_threads(previous_threads)
    return times


def measured_crossover(sparsities, dense_ms, sparse_ms) -> float | None:
    """The smallest of ``sparsities`` from which the sparse time stays below the dense time at it
    and at every larger sparsity measured; ``None`` if sparse is not faster at the largest."""
    order = np.argsort(sparsities)
    faster = np.asarray(sparse_ms)[order] < np.asarray(dense_ms)[order]
    if not faster[-1]:
        return None
    slower = np.flatnonzero(~faster)
    first = slower[-1] + 1 if slower.size else 0
    return float(np.asarray(sparsities)[order][first])
