"""Checks for lesson 02's exercises (pruning granularity)."""

import torch

from ..pruning import choose_patterns as _choose_patterns
from ..pruning import granularity_mask
from . import Case, run_check


def _kernel_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    return granularity_mask(weight, sparsity, "kernel", norm="l2")


def _channel_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    return granularity_mask(weight, sparsity, "channel", norm="l1")


def _conv_cases(seed: int) -> list[Case]:
    g = torch.Generator().manual_seed(seed)
    one_big = torch.zeros(1, 2, 2, 2)
    one_big[0, 0, 0, 0], one_big[0, 1] = 3.0, 1.2  # L2 prefers kernel 0, L1 prefers kernel 1
    return [
        Case("a 4x3x3x3 conv weight at 50%", (torch.randn(4, 3, 3, 3, generator=g), 0.5)),
        Case("negative weights count by magnitude", (-torch.rand(3, 2, 3, 3, generator=g), 0.5)),
        Case("one big weight against many middling ones", (one_big, 0.5)),
        Case("sparsity 0 keeps everything", (torch.randn(2, 2, 3, 3, generator=g), 0.0)),
        Case("sparsity 1 prunes everything", (torch.randn(2, 2, 3, 3, generator=g), 1.0)),
        Case("round(0.3 * units) units pruned, 1x1 kernels", (torch.randn(5, 4, 1, 1, generator=g), 0.3)),
        Case("ties: equal units, the earlier ones are pruned first", (torch.ones(4, 2, 3, 3), 0.5)),
    ]


def kernel_mask(fn):
    """Exercise 2.1: prune whole 2-D kernels W[o, i] of smallest L2 norm."""
    return run_check("2.1", fn, _kernel_mask, _conv_cases(0))


def channel_mask(fn):
    """Exercise 2.2: prune whole output channels W[o] of smallest L1 norm."""
    return run_check("2.2", fn, _channel_mask, _conv_cases(1))


def _choose(kernels: torch.Tensor, patterns: torch.Tensor) -> torch.Tensor:
    return _choose_patterns(kernels, patterns, norm="l2")


def choose_patterns(fn):
    """Exercise 2.3: for each kernel, the index of the pattern that keeps the most squared magnitude."""
    g = torch.Generator().manual_seed(2)
    random_patterns = torch.rand(8, 9, generator=g) > 0.5
    corners = torch.tensor([[1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 0, 1]], dtype=torch.bool)
    squares_vs_abs = torch.tensor([[-1.5, 1.5, -2.5, 0], [1, 1, 1.2, 2]])
    cases = [
        Case("two 2x2 kernels, three patterns", (torch.tensor([[3.0, 2, 0, 0], [0, 0.5, -4, 1.0]]), corners)),
        Case("squares count, not |w| or signs", (squares_vs_abs, corners)),
        Case("64 random 3x3 kernels, 8 patterns", (torch.randn(64, 9, generator=g), random_patterns)),
        Case("a tie goes to the earlier pattern", (torch.ones(1, 4), corners)),
    ]
    return run_check("2.3", fn, _choose, cases)
