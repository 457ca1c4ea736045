"""Checks for lesson 10's exercises (pruning a language model): three formulas and a sparsity design."""

import functools
import math
from dataclasses import dataclass

import torch

from ..analysis.language import EVAL_CHARS, window_losses
from ..analysis.language import perplexity as _perplexity
from ..data import calibration_windows, shakespeare_splits
from ..models import load_pretrained
from ..recipes.post_training import default_blocks, prunable_layers, prune_post_training
from ..recipes.sparsegpt import obs_update as _obs_update
from ..structured.transformer import drop_head_columns as _drop_head_columns
from . import Case, run_check, summarize


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


# --- Exercise 10.4: design per-layer sparsities ------------------------------------------------------

DESIGN_TARGET = 0.7  # fraction of the block Linear weights Wanda removes
DESIGN_MARGIN = 0.05  # nats per character a design must gain over uniform 70%
SELECTION = slice(EVAL_CHARS, 2 * EVAL_CHARS)  # validation characters the lesson does not report on


@functools.lru_cache(maxsize=1)
def _charlm_and_text():
    """The trained character model, its calibration windows and the selection characters."""
    model = load_pretrained("charlm")
    splits = shakespeare_splits()
    calibration = calibration_windows(splits.train, model.context)
    return model, calibration, splits.validation[SELECTION]


def block_layer_sizes() -> dict[str, int]:
    """The number of weights of each block Linear of the shipped character model, by name."""
    return {name: layer.weight.numel() for name, layer in _block_layers(_charlm_and_text()[0]).items()}


def _block_layers(model):
    return prunable_layers(model, default_blocks(model))


@dataclass(frozen=True)
class _Allocation:
    """Per-layer sparsities and what Wanda makes of them: the sparsity reached and the loss."""

    problem: str = ""
    sparsity: float = 0.0
    loss: float = 0.0

    def __repr__(self):
        if self.problem:
            return self.problem
        return (f"{self.sparsity:.1%} of the block weights removed, {self.loss:.3f} nats/char "
                f"(perplexity {math.exp(self.loss):.2f}) on the selection characters")


def _measure_allocation(sparsities, target: float) -> _Allocation:
    model, calibration, selection = _charlm_and_text()
    if not isinstance(sparsities, dict):
        return _Allocation(f"not a {{layer name: sparsity}} dict: {summarize(sparsities)}")
    try:
        pruned, report = prune_post_training(model, calibration, "wanda", sparsity=sparsities)
    except ValueError as err:
        return _Allocation(str(err))
    reached = report.sparsity
    if reached < target - 0.005:
        return _Allocation(f"only {reached:.1%} of the block weights removed; the budget is {target:.0%}")
    return _Allocation("", reached, float(window_losses(pruned, selection).mean()))


@dataclass(frozen=True)
class _Goal:
    """What a design must do: remove at least ``target`` and beat ``uniform`` by ``DESIGN_MARGIN``."""

    target: float
    uniform: _Allocation

    def __repr__(self):
        return (f"at least {self.target:.0%} removed and a loss {DESIGN_MARGIN} nats/char or more below "
                f"uniform {self.target:.0%} ({self.uniform.loss:.3f} nats/char, perplexity "
                f"{math.exp(self.uniform.loss):.2f})")


def _beats_uniform(got, expected: _Goal) -> bool:
    return (isinstance(got, _Allocation) and not got.problem
            and got.loss <= expected.uniform.loss - DESIGN_MARGIN)


def allocate_sparsity(fn):
    """Exercise 10.4: ``fn(layer_sizes, target)`` gives each block Linear its own sparsity. Wanda prunes
    the character model with them; the check measures the fraction removed (at least ``target``) and
    the loss on validation characters the lesson does not report on, which must be at least
    ``DESIGN_MARGIN`` nats/char below uniform pruning at ``target`` (about 3 s)."""
    sizes = block_layer_sizes()
    cases = [Case(f"Wanda, {DESIGN_TARGET:.0%} of the block weights", (sizes, DESIGN_TARGET))]

    def uniform(layer_sizes, target):
        return _Goal(target, _measure_allocation(dict.fromkeys(layer_sizes, target), target))

    return run_check("10.4", lambda s, t: _measure_allocation(fn(s, t), t), uniform, cases,
                     compare=_beats_uniform)
