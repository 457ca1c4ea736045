"""Synthetic data: the tiny regression problem of lesson 01's exact L0 search."""

import torch

from ..core.validation import check_positive_int


def tiny_regression_data(n: int = 256, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y): x (n, 3) with features on different scales (std 2, 1, 0.3), y (n, 1) a smooth
    function of all three plus a little noise. Unequal scales are what makes |w| a poor judge."""
    check_positive_int("n", n)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=gen) * torch.tensor([2.0, 1.0, 0.3])
    y = torch.tanh(0.5 * x[:, :1]) + 0.6 * x[:, 1:2] - 1.5 * x[:, 2:3] * x[:, 1:2]
    return x, y + 0.05 * torch.randn(n, 1, generator=gen)
