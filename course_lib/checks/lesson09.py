"""Checks for lesson 09's exercises (dynamic gating, the search's budget rule, energy)."""

import torch

from ..analysis import best_within_budget as _best_within_budget
from ..hardware import energy_pj as _energy_pj
from ..recipes import topk_mask as _topk_mask
from . import Case, run_check


def topk_mask(fn):
    """Exercise 9.2: per input (row), True at the k largest channel scores; ties to the higher index."""
    g = torch.Generator().manual_seed(0)
    cases = [
        Case("one input, 4 channels, k=2", (torch.tensor([[0.1, 0.9, 0.3, 0.5]]), 2)),
        Case("two inputs choose different channels", (torch.tensor([[3.0, 1.0, 2.0], [1.0, 3.0, 2.0]]), 1)),
        Case("ties go to the higher channel index", (torch.tensor([[1.0, 2.0, 2.0, 2.0, 0.0]]), 2)),
        Case("negative scores", (torch.tensor([[-1.0, -3.0, -2.0, -0.5]]), 2)),
        Case("k = C keeps everything", (torch.randn(3, 4, generator=g), 4)),
        Case("8 inputs, 16 channels, k=5", (torch.randn(8, 16, generator=g), 5)),
    ]
    return run_check("9.2", fn, _topk_mask, cases)


def best_within_budget(fn):
    """Exercise 9.3: the index of the best-scoring candidate with cost <= budget; ties to the lower
    cost, then the earlier candidate."""
    cases = [
        Case("the best overall is over budget", ([0.9, 0.7, 0.8], [0.6, 0.3, 0.5], 0.5)),
        Case("a cost exactly at the budget fits", ([0.5, 0.8], [0.2, 0.4], 0.4)),
        Case("equal scores: the cheaper wins", ([0.8, 0.8, 0.6], [0.4, 0.3, 0.1], 0.5)),
        Case("equal scores and costs: the earlier wins", ([0.7, 0.7], [0.2, 0.2], 1.0)),
        Case("only the last candidate fits", ([0.9, 0.95, 0.1], [2.0, 3.0, 1.0], 1.5)),
    ]
    return run_check("9.3", fn, _best_within_budget, cases)


def energy_pj(fn):
    """Exercise 9.1: DRAM reads of the weight bytes (one 32-bit read per 4 bytes) plus a float
    multiply and a float add per MAC, in pJ."""
    cases = [
        Case("4 bytes, no MACs", (4, 0)),
        Case("no weights, one MAC", (0, 1)),
        Case("the dense ConvNet's sizes", (162_024, 616_064)),
        Case("a CSR-encoded model", (30_120, 69_073)),
    ]
    return run_check("9.1", fn, _energy_pj, cases)
