"""Checks for lesson 05's exercises (prune and fine-tune)."""

import torch

from ..recipes import agp_sparsity as _agp_sparsity
from ..recipes import geometric_sparsities as _geometric_sparsities
from . import Case, run_check


def agp_sparsity(fn):
    """Exercise 5.1: the AGP schedule s_t = s_f + (s_i - s_f)(1 - (t - t0)/(n dt))^3, held at its ends."""
    cases = [
        Case("at the start step", (100, 0.0, 0.9, 100, 1100)),
        Case("a quarter of the way", (350, 0.0, 0.9, 100, 1100)),
        Case("half way, non-zero initial sparsity", (600, 0.2, 0.8, 100, 1100)),
        Case("before the start: hold the initial sparsity", (3, 0.1, 0.9, 10, 20)),
        Case("at the end step", (20, 0.1, 0.9, 10, 20)),
        Case("after the end: hold the final sparsity", (1000, 0.1, 0.9, 10, 20)),
        Case("initial equal to final", (15, 0.5, 0.5, 10, 20)),
    ]
    return run_check("5.1", fn, _agp_sparsity, cases)


def _rounds_compare(got, expected) -> bool:
    return (
        isinstance(got, (list, tuple))
        and len(got) == len(expected)
        and torch.allclose(torch.tensor([float(g) for g in got]), torch.tensor(expected), atol=1e-6)
    )


def iterative_sparsities(fn):
    """Exercise 5.2: sparsity after each of ``rounds`` rounds that each prune the same fraction of the
    weights still alive, ending at ``final``."""
    cases = [
        Case("90% in 3 rounds", (0.9, 3)),
        Case("one round is one-shot", (0.75, 1)),
        Case("99% in 2 rounds", (0.99, 2)),
        Case("80% in 5 rounds", (0.8, 5)),
        Case("no pruning at all", (0.0, 4)),
    ]
    return run_check("5.2", fn, _geometric_sparsities, cases, compare=_rounds_compare)
