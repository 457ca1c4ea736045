"""Checks for lesson 00's exercises."""

import torch

from ..models import kept_parameters as _kept_parameters
from . import Case, run_check


def _sparsity_of(t: torch.Tensor) -> float:
    return 1.0 - int(torch.count_nonzero(t)) / t.numel()


def sparsity_of(fn):
    """Exercise 0.1: the fraction of entries of a tensor that are exactly zero."""
    g = torch.Generator().manual_seed(0)
    three_zeros = torch.tensor([0.0, 1.5, 0.0, -0.0])
    random_matrix = torch.randn(20, 30, generator=g) * (torch.rand(20, 30, generator=g) > 0.7)
    cases = [
        Case("a 1-D tensor with three zeros of four", (three_zeros,)),
        Case("no zeros at all", (torch.ones(3, 3),)),
        Case("only zeros", (torch.zeros(2, 5),)),
        Case("a 20x30 matrix, about 70% zeros", (random_matrix,)),
        Case("a 4-D conv weight with negative values", (torch.tensor([[[[-1.0, 0.0], [0.0, 0.0]]]]),)),
    ]
    return run_check("0.1", fn, _sparsity_of, cases)


def kept_parameters(fn):
    """Exercise 0.2: weights left after each layer keeps a fraction of its weights."""
    cases = [
        Case("one layer keeping half", ([100], [0.5])),
        Case("two layers", ([1000, 10], [0.1, 1.0])),
        Case("a layer pruned completely", ([7, 9], [0.0, 1.0])),
        Case("AlexNet's conv1 and fc6 with Han's ratios", ([23232, 37748736], [0.84, 0.09])),
    ]
    return run_check("0.2", fn, _kept_parameters, cases)


def _prune_below(weight: torch.Tensor, threshold: float) -> torch.Tensor:
    return torch.where(weight.abs() < threshold, torch.zeros_like(weight), weight)


def prune_below(fn):
    """Exercise 0.3: zero every weight whose magnitude is below a threshold, in a new tensor."""
    g = torch.Generator().manual_seed(1)
    cases = [
        Case("small vector", (torch.tensor([0.05, -0.2, 0.3, -0.01]), 0.1)),
        Case("a weight exactly at the threshold is kept", (torch.tensor([0.1, -0.1, 0.09]), 0.1)),
        Case("negative weights count by magnitude", (torch.tensor([-0.5, -0.05, 0.5]), 0.06)),
        Case("a 16x16 random matrix", (torch.randn(16, 16, generator=g), 0.5)),
        Case("threshold 0 keeps everything", (torch.tensor([0.0, 1.0, -1.0]), 0.0)),
    ]
    return run_check("0.3", fn, _prune_below, cases)
