"""Checks for lesson 08's exercises (the sparse accelerator)."""

import numpy as np
import scipy.sparse as sp
import torch

from ..hardware import (
    HardwareConfig,
    condense,
    count_multiplications,
    linear_zero_outputs,
    simulate_spgemm,
    sparse_matrix,
)
from . import Case, Invalid, exercise, run_check


def _same_array(got, expected) -> bool:
    return isinstance(got, np.ndarray) and got.shape == expected.shape and np.array_equal(got, expected)


def _csr(rows):
    return sp.csr_matrix(np.array(rows, dtype=float))


@exercise("8.1", mirrors=[count_multiplications])
def outer_product_multiplications(fn):
    """Exercise 8.1: multiplications of the outer product A @ B (scipy CSR inputs) -> int."""
    cases = [
        Case("2x2 times 2x2, all non-zero", (_csr([[1, 2], [3, 4]]), _csr([[1, 0], [0, 1]]))),
        Case("a column of A meets an empty row of B", (_csr([[1, 1], [0, 1]]), _csr([[0, 0], [5, 6]]))),
        Case("A is 3x2, B is 2x4", (_csr([[1, 0], [1, 0], [0, 2]]), _csr([[1, 1, 0, 1], [0, 0, 3, 0]]))),
        Case("an empty A", (sp.csr_matrix((3, 3)), _csr([[1, 2, 3], [4, 5, 6], [7, 8, 9]]))),
        Case("power-law 60x60, 10% dense", (sparse_matrix("power_law", 60, 0.1, 1),
                                            sparse_matrix("uniform", 60, 0.1, 2))),
    ]
    return run_check("8.1", fn, lambda A, B: count_multiplications(A, B), cases)


@exercise("8.2", mirrors=[condense])
def condense_columns(fn):
    """Exercise 8.2: condensed column indices of A, (M, longest row's nnz), padded with -1."""
    cases = [
        Case("the lecture's 3x4 example", (_csr([[0, 1, 0, 2], [3, 0, 0, 0], [0, 4, 5, 6]]),)),
        Case("an empty row in the middle", (_csr([[1, 0, 1], [0, 0, 0], [0, 1, 0]]),)),
        Case("a full row", (_csr([[1, 1, 1, 1], [0, 0, 0, 1]]),)),
        Case("banded 30x30", (sparse_matrix("banded", 30, 0.1, 0),)),
        Case("power-law 50x50", (sparse_matrix("power_law", 50, 0.08, 3),)),
    ]
    return run_check("8.2", fn, lambda A: condense(A)[1], cases, compare=_same_array)


@exercise("8.3", mirrors=[linear_zero_outputs])
def zero_outputs(fn):
    """Exercise 8.3: which outputs of y = W x are surely zero, given W (out, in) and zero inputs."""
    g = torch.Generator().manual_seed(8)
    w = torch.randn(6, 5, generator=g) * (torch.rand(6, 5, generator=g) > 0.5)
    cases = [
        Case("no zero inputs, one pruned row",
             (torch.tensor([[1.0, 2.0], [0.0, 0.0]]), torch.tensor([False, False]))),
        Case("a row that only reads a zero input",
             (torch.tensor([[1.0, 0.0], [0.0, 3.0], [1.0, 1.0]]), torch.tensor([True, False]))),
        Case("every input zero", (torch.ones(2, 3), torch.tensor([True, True, True]))),
        Case("a 6x5 random pruned weight, inputs 1 and 3 zero",
             (w, torch.tensor([False, True, False, True, False]))),
    ]
    return run_check("8.3", fn, lambda W, z: linear_zero_outputs(W, z), cases)


# ---------------------------------------------------------------- exercise 8.4 (a design task)


def _dram(A, B, hw, dataflow) -> int:
    return simulate_spgemm(A, B, dataflow, hw).dram_total


def _dense(rows, cols, seed):
    values = np.random.default_rng(seed).integers(1, 10, size=(rows, cols)).astype(float)
    return sp.csr_matrix(values)


@exercise("8.4", mirrors=[simulate_spgemm])
def choose_dataflow(fn):
    """Exercise 8.4: ``fn(A, B, hw)`` returns "inner" or "outer" from predicted DRAM traffic; the
    check simulates both and accepts the one that really moves fewer bytes (either one on a tie)."""
    small, tiny = HardwareConfig(buffer_kib=16), HardwareConfig(buffer_kib=1)
    cases = [
        Case("uniform 300x300 squared, 16 KiB buffer",
             (sparse_matrix("uniform", 300, 0.01, 1),) * 2 + (small,)),
        Case("a 90%-pruned 256x256 weight times dense activations (256x16), 16 KiB buffer",
             (sparse_matrix("uniform", 256, 0.1, 3), _dense(256, 16, 4), small)),
        Case("uniform 2000x2000 at 0.05% density squared, 1 KiB buffer",
             (sparse_matrix("uniform", 2000, 0.0005, 5),) * 2 + (tiny,)),
        Case("power-law 400x400 squared, 16 KiB buffer",
             (sparse_matrix("power_law", 400, 0.02, 2),) * 2 + (small,)),
        Case("banded 1500x1500 squared, 1 KiB buffer",
             (sparse_matrix("banded", 1500, 0.002, 0),) * 2 + (tiny,)),
    ]

    def traffic_of_choice(A, B, hw):
        choice = fn(A, B, hw)
        if choice not in ("inner", "outer"):
            return Invalid(f'expected "inner" or "outer", got {choice!r}')
        return _dram(A, B, hw, choice)

    def least_traffic(A, B, hw):
        return min(_dram(A, B, hw, "inner"), _dram(A, B, hw, "outer"))

    return run_check("8.4", traffic_of_choice, least_traffic, cases)
