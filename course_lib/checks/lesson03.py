"""Checks for lesson 03's exercises (N:M sparsity)."""

import torch

from ..core import pack_bits
from ..hardware import nm_storage_bytes
from ..pruning import nm_mask as _nm_mask
from . import Case, run_check


def _distinct(rows: int, cols: int, seed: int) -> torch.Tensor:
    """A (rows, cols) float tensor with distinct magnitudes and mixed signs (no ties to break)."""
    g = torch.Generator().manual_seed(seed)
    magnitudes = (torch.randperm(rows * cols, generator=g).float() + 1) / 10
    signs = torch.where(torch.rand(rows * cols, generator=g) < 0.5, -1.0, 1.0)
    return (magnitudes * signs).view(rows, cols)


def nm_mask(fn):
    """Exercise 3.1: keep the n largest |w| in every group of m consecutive weights of each row."""
    cases = [
        Case("2:4 on one row of 8", (torch.tensor([[0.1, -0.9, 0.3, 0.2, -0.5, 0.05, 0.6, -0.7]]), 2, 4)),
        Case("negative weights count by magnitude", (torch.tensor([[-3.0, 1.0, -2.0, 0.5]]), 2, 4)),
        Case("2:4 on a 4x16 matrix", (_distinct(4, 16, 0), 2, 4)),
        Case("1:4 on a 3x8 matrix", (_distinct(3, 8, 1), 1, 4)),
        Case("4:8 on a 2x16 matrix", (_distinct(2, 16, 2), 4, 8)),
        Case("1:2 on a 5x6 matrix", (_distinct(5, 6, 3), 1, 2)),
        Case("4:4 keeps everything", (_distinct(2, 8, 4), 4, 4)),
    ]
    return run_check("3.1", fn, _nm_mask, cases)


def _pack_2bit(positions: torch.Tensor) -> torch.Tensor:
    return pack_bits(positions, 2)


def pack_2bit(fn):
    """Exercise 3.2: pack positions 0..3 into bytes, four per byte, the first in the lowest two bits."""
    g = torch.Generator().manual_seed(0)
    cases = [
        Case("positions 0, 1, 2, 3", (torch.tensor([0, 1, 2, 3]),)),
        Case("only the first position set", (torch.tensor([3, 0, 0, 0]),)),
        Case("only the last position set", (torch.tensor([0, 0, 0, 3]),)),
        Case("two bytes: the 2:4 groups [0, 2] and [1, 3], then [0, 1] and [2, 3]",
             (torch.tensor([0, 2, 1, 3, 0, 1, 2, 3]),)),
        Case("64 random positions", (torch.randint(0, 4, (64,), generator=g),)),
    ]
    return run_check("3.2", fn, _pack_2bit, cases)


def _nm_bytes(numel: int, n: int, m: int, bytes_per_value: int) -> int:
    return sum(nm_storage_bytes(numel, n, m, bytes_per_value))


def nm_bytes(fn):
    """Exercise 3.3: bytes of N:M storage, kept values plus ceil(log2 m)-bit positions, packed."""
    cases = [
        Case("fp16 2:4, 4096 weights", (4096, 2, 4, 2)),
        Case("fp32 2:4, 4096 weights", (4096, 2, 4, 4)),
        Case("fp16 1:4, 1024 weights", (1024, 1, 4, 2)),
        Case("fp16 2:8, 1024 weights (3-bit positions)", (1024, 2, 8, 2)),
        Case("fp16 4:8, 800 weights", (800, 4, 8, 2)),
        Case("fp32 1:2, 64 weights (1-bit positions)", (64, 1, 2, 4)),
        Case("int8-sized values 2:4, 12 weights (metadata rounds up to whole bytes)", (12, 2, 4, 1)),
    ]
    return run_check("3.3", fn, _nm_bytes, cases)
