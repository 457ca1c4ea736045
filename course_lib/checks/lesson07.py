"""Checks for lesson 07's exercises (sparse formats)."""

import torch

from .. import core, hardware
from . import Case, Invalid, exercise, run_check, same, summarize


def _same_integers(got, expected) -> bool:
    """Any integer dtype will do for indices: compare the values as int64."""
    return (isinstance(got, torch.Tensor) and not got.is_floating_point()
            and same(got.long(), expected))


def _row_pointers(dense: torch.Tensor) -> torch.Tensor:
    return hardware.encode(dense, "csr").row_ptr.long()


@exercise("7.1", mirrors=[hardware.encode])
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


@exercise("7.2")
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


# ---------------------------------------------------------------- exercise 7.3 (a design task)

STORAGE_CHOICES = ("dense", "coo", "csr", "csc", "bitmap")  # the formats to choose from
CHOICE_INDEX_WIDTHS = (8, 16, 32)  # index widths to choose from (ignored for dense and bitmap)


def stored_bytes(matrix: torch.Tensor, fmt: str, index_bits: int | None) -> int:
    """Bytes ``matrix`` really takes when encoded as ``fmt`` with ``index_bits``-bit indices."""
    if fmt not in STORAGE_CHOICES:
        raise ValueError(f"fmt must be one of {list(STORAGE_CHOICES)}, got {fmt!r}")
    if fmt == "dense":
        return matrix.numel() * matrix.element_size()
    if fmt == "bitmap":
        return hardware.encode(matrix, "bitmap").nbytes
    return hardware.encode(matrix, fmt, index_bits=index_bits).nbytes


def _smallest_bytes(matrix: torch.Tensor) -> int:
    sizes = [stored_bytes(matrix, "dense", None), stored_bytes(matrix, "bitmap", None)]
    for fmt in ("coo", "csr", "csc"):
        for bits in CHOICE_INDEX_WIDTHS:
            try:
                sizes.append(stored_bytes(matrix, fmt, bits))
            except ValueError:  # too narrow for this matrix's indices
                pass
    return min(sizes)


def _pruned(rows: int, cols: int, sparsity: float, dtype: torch.dtype, seed: int) -> torch.Tensor:
    weight = torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed))
    return hardware.prune_matrix(weight, sparsity, dtype)


@exercise("7.3")
def choose_storage(fn):
    """Exercise 7.3: ``fn(matrix)`` returns (format, index_bits); the check encodes the matrix that
    way and compares the bytes really stored with the fewest any choice achieves."""
    cases = [
        Case("fc1-sized 64x256, fp32, 90% sparse", (_pruned(64, 256, 0.9, torch.float32, 0),)),
        Case("256x1024, fp32, 99% sparse", (_pruned(256, 1024, 0.99, torch.float32, 1),)),
        Case("tall 1024x64, fp16, 98% sparse", (_pruned(1024, 64, 0.98, torch.float16, 2),)),
        Case("64x64, int8, 50% sparse", (_pruned(64, 64, 0.5, torch.int8, 3),)),
        Case("32x32, int8, nothing pruned", (_pruned(32, 32, 0.0, torch.int8, 4),)),
        Case("wide 16x4096, fp32, 99.5% sparse", (_pruned(16, 4096, 0.995, torch.float32, 5),)),
    ]

    def bytes_of(matrix):
        choice = fn(matrix)
        if not (isinstance(choice, tuple) and len(choice) == 2):
            return Invalid(f"expected a pair (format, index_bits), got {summarize(choice)}")
        try:
            return stored_bytes(matrix, *choice)
        except (TypeError, ValueError) as err:  # an unknown format, or an index too narrow for this matrix
            return Invalid(f"{choice} cannot store this matrix: {err}")

    return run_check("7.3", bytes_of, _smallest_bytes, cases)
