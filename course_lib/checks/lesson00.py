"""Checks for lesson 00's exercises."""

import functools

import torch

from ..analysis import accuracy_vs_sparsity, pruned_copy
from ..data import digits_splits, make_loader
from ..models import kept_parameters as _kept_parameters
from ..models import load_pretrained
from ..train import evaluate
from . import Case, CheckResult, call_learner, exercise, run_check


def _sparsity_of(t: torch.Tensor) -> float:
    return 1.0 - int(torch.count_nonzero(t)) / t.numel()


@exercise("0.1")
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


@exercise("0.2", mirrors=[_kept_parameters])
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


@exercise("0.3")
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


# ---------------------------------------------------------------- Exercise 0.4 (design: choose a sparsity)

SPARSITY_GRID = tuple(round(0.05 * k, 2) for k in range(20))  # 0.00, 0.05, ..., 0.95
GRID_SLACK = 0.05  # a choice within one grid step of the largest safe sparsity passes


@functools.lru_cache(maxsize=1)
def _validation_curve() -> tuple[float, tuple[float, ...]]:
    """(dense accuracy, accuracy at each SPARSITY_GRID entry) of the shipped conv net on the
    validation split, one-shot global magnitude pruning: what the check measures against."""
    model = load_pretrained("convnet")
    loader = make_loader(digits_splits().validation, batch_size=512)
    return evaluate(model, loader), tuple(accuracy_vs_sparsity(model, loader, SPARSITY_GRID, progress=False))


def _measured_accuracy(sparsity: float) -> float:
    model = load_pretrained("convnet")
    loader = make_loader(digits_splits().validation, batch_size=512)
    return evaluate(pruned_copy(model, sparsity), loader)


def largest_safe_sparsity(max_drop: float) -> float:
    """The library's answer to Exercise 0.4 for one budget: the largest sparsity on the grid whose
    validation accuracy is within ``max_drop`` of dense (what later cells fall back on)."""
    dense, curve = _validation_curve()
    return max(s for s, a in zip(SPARSITY_GRID, curve) if a >= dense - max_drop - 1e-9)


@exercise("0.4", mirrors=[largest_safe_sparsity])
def choose_sparsity(fn, budgets=(0.01, 0.03, 0.20)):
    """Exercise 0.4 (design): ``fn(sparsities, accuracies, dense_accuracy, max_drop)`` picks the sparsity
    to ship from a validation sweep. The check prunes the conv net at that sparsity itself, measures
    its validation accuracy, and passes when the drop is at most ``max_drop`` and the choice is within
    one grid step (0.05) of the largest sparsity on the grid that meets the budget."""
    dense, curve = _validation_curve()
    for number, max_drop in enumerate(budgets, start=1):
        where = f"Exercise 0.4, case {number} (at most {100 * max_drop:.0f} points lost on validation)"
        chosen = call_learner("0.4", where, fn, list(SPARSITY_GRID), list(curve), dense, max_drop)
        if isinstance(chosen, bool) or not isinstance(chosen, (int, float)) or not 0 <= chosen <= 1:
            return CheckResult("0.4", False, f"✗ {where}: expected a sparsity in [0, 1], got {chosen!r}")
        accuracy = _measured_accuracy(float(chosen))
        if accuracy < dense - max_drop - 1e-9:
            lost = 100 * (dense - accuracy)
            return CheckResult("0.4", False, f"✗ {where}: at sparsity {chosen:.2f} the pruned net scores "
                               f"{accuracy:.2%} on validation, {lost:.1f} points below dense ({dense:.2%}): "
                               "over budget")
        if chosen < largest_safe_sparsity(max_drop) - GRID_SLACK - 1e-9:
            return CheckResult("0.4", False, f"✗ {where}: sparsity {chosen:.2f} meets the budget, but a "
                               f"sparsity more than {GRID_SLACK:.2f} higher does too: you are leaving "
                               "weights in")
    return CheckResult("0.4", True, f"✓ Exercise 0.4: all {len(budgets)} budgets met, measured on "
                       "validation.")
