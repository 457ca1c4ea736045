"""Checks for lesson 07's exercises (sparse formats)."""

import torch

from .. import core, hardware
from . import Case, run_check, same


def _same_integers(got, expected) -> bool:
    """Any integer dtype will do for indices: compare the values as int64."""
    return (isinstance(got, torch.Tensor) and not got.is_floating_point()
            and same(got.long(), expected))


def _row_pointers(dense: torch.Tensor) -> torch.Tensor:
    return hardware.encode(dense, "csr").row_ptr.long()


def row_pointers(fn):
    """Exercise 7.1: CSR's row pointers (R + 1,) of a dense (R, C) matrix."""
    g = torch.Generator().manual_seed(7)
    random = torch.randn(8, 8, generator=g) * (torch.rand(8, 8, generator=g) > 0.6)
    cases = [
        Case("the 3x4 example from the lesson", (torch.tensor([[0.0, 5.0, 0.0, 0.0],
                                                               [0.0, 0.0, 0.0, 0.0],
                                                               [7.0, 0.0, 0.0, 9.0]]),)),
        Case("a single row", (torch.tensor([[1.0, 0.0, 2.0, 3.0]]),)),
        Case("an all-zero matrix", (torch.zeros(3, 5),)),
        Case("a matrix whose last rows are empty", (torch.tensor([[1.0, -1.0], [0.0, 0.0],
                                                                  [0.0, 0.0]]),)),
        Case("a random 8x8 matrix, about 60% zeros", (random,)),
    ]
    return run_check("7.1", fn, _row_pointers, cases, compare=_same_integers)


def _decode_relative(values: torch.Tensor, gaps: torch.Tensor, length: int) -> torch.Tensor:
    column = hardware.EIE(shape=(length, 1), values=values, gaps=core.pack_bits(gaps, 4),
                         col_ptr=torch.tensor([0, values.numel()]), gap_bits=4)
    return column.to_dense()[:, 0]


def decode_relative(fn):
    """Exercise 7.2: one column of EIE's relative indexing back to a dense column (length,)."""
    cases = [
        Case("no gaps: three non-zeros at the top", (torch.tensor([1.0, 2.0, 3.0]),
                                                     torch.tensor([0, 0, 0]), 5)),
        Case("gaps of 2 and 1", (torch.tensor([4.0, -1.0]), torch.tensor([2, 1]), 6)),
        Case("the largest 4-bit gap, 15", (torch.tensor([0.5]), torch.tensor([15]), 16)),
        Case("a padding zero (gap 15) before a real value",
             (torch.tensor([1.0, 0.0, 2.0]), torch.tensor([0, 15, 3]), 24)),
        Case("two padding zeros in a row", (torch.tensor([0.0, 0.0, 9.0]),
                                            torch.tensor([15, 15, 7]), 40)),
    ]
    return run_check("7.2", fn, _decode_relative, cases)


def _csr_bits(shape, nnz: int, value_bits: int, index_bits: int) -> int:
    return hardware.storage_bits("csr", shape, nnz, value_bits, index_bits)


def csr_bits(fn):
    """Exercise 7.3: bits CSR needs for an (R, C) matrix with nnz non-zeros, by the formula."""
    cases = [
        Case("the 3x4 example: 3 non-zeros, fp32, 32-bit indices", ((3, 4), 3, 32, 32)),
        Case("fc1 at 90% sparsity, fp32, 32-bit indices", ((64, 256), 1638, 32, 32)),
        Case("a wide matrix, fp16 values, 16-bit indices", ((4, 1000), 100, 16, 16)),
        Case("a tall matrix, int8 values, 8-bit indices", ((200, 3), 50, 8, 8)),
        Case("no non-zeros at all", ((10, 10), 0, 32, 16)),
    ]
    return run_check("7.3", fn, _csr_bits, cases)
