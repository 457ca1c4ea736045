"""Checks for lesson 10's exercises (pruning a language model)."""

import torch

from ..analysis.language import perplexity as _perplexity
from ..recipes.sparsegpt import obs_update as _obs_update
from ..structured.transformer import drop_head_columns as _drop_head_columns
from . import Case, run_check


def _random(*shape, seed: int, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _inverse_hessian(n: int, seed: int) -> torch.Tensor:
    x = _random(4 * n, n, seed=seed, dtype=torch.float64)
    x[:, 1:] += 0.8 * x[:, :-1]  # correlated inputs: H⁻¹ has large off-diagonal entries
    return torch.linalg.inv(2 * x.T @ x + 0.01 * torch.eye(n, dtype=torch.float64))


def perplexity(fn):
    """Exercise 10.1: perplexity exp(mean loss) from per-window losses in nats per character."""
    cases = [
        Case("one window with loss ln 2: perplexity 2", (torch.tensor([0.6931471805599453]),)),
        Case("losses 1 and 3 nats: exp(2), not the mean of exp", (torch.tensor([1.0, 3.0]),)),
        Case("256 windows around 1.8 nats", (1.8 + 0.2 * _random(256, seed=1),)),
        Case("a perfect model: loss 0, perplexity 1", (torch.zeros(5),)),
    ]
    return run_check("10.1", fn, _perplexity, cases)


def obs_update(fn):
    """Exercise 10.2: remove weight q of a row w with OBS: w - (w_q / [H⁻¹]_qq) · H⁻¹[:, q]."""
    cases = [
        Case("diagonal H⁻¹: only w_q moves (to 0)",
             (torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64),
              torch.diag(torch.tensor([0.5, 2.0, 1.0], dtype=torch.float64)), 1)),
        Case("correlated inputs, q = 0",
             (_random(6, seed=2, dtype=torch.float64), _inverse_hessian(6, 3), 0)),
        Case("correlated inputs, q = 4 (last-but-one)",
             (_random(6, seed=4, dtype=torch.float64), _inverse_hessian(6, 5), 4)),
        Case("a 32-input row, q = 17",
             (_random(32, seed=6, dtype=torch.float64), _inverse_hessian(32, 7), 17)),
    ]
    return run_check("10.2", fn, _obs_update, cases)


def drop_head_columns(fn):
    """Exercise 10.3: remove head h's D columns from an output projection's weight (C, H*D)."""
    cases = [
        Case("2 heads of 2 dims, remove head 0", (torch.arange(8.0).view(2, 4), 0, 2)),
        Case("4 heads of 3 dims, remove head 2", (_random(5, 12, seed=8), 2, 3)),
        Case("4 heads of 32 dims, remove the last head", (_random(128, 128, seed=9), 3, 32)),
        Case("one head of 4 dims, remove it: no column left", (_random(3, 4, seed=10), 0, 4)),
    ]
    return run_check("10.3", fn, _drop_head_columns, cases)
