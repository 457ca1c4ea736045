"""Checks for lesson 02's exercises (pruning granularity)."""

import copy
import functools

import torch

from ..core.modules import apply_masks, prunable_weights
from ..data import digits_splits, make_loader
from ..models import load_pretrained
from ..pruning import GRANULARITIES, granularity_mask, granularity_masks, mask_index_bits, masks_sparsity
from ..pruning import choose_patterns as _choose_patterns
from ..train import evaluate
from . import Case, CheckResult, call_learner, exercise, run_check


def _kernel_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    return granularity_mask(weight, sparsity, "kernel", norm="l2")


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


@exercise("2.1", mirrors=[granularity_mask, granularity_masks])
def kernel_mask(fn):
    """Exercise 2.1: prune whole 2-D kernels W[o, i] of smallest L2 norm."""
    return run_check("2.1", fn, _kernel_mask, _conv_cases(0))


def _choose(kernels: torch.Tensor, patterns: torch.Tensor) -> torch.Tensor:
    return _choose_patterns(kernels, patterns, norm="l2")


@exercise("2.2", mirrors=[_choose_patterns])
def choose_patterns(fn):
    """Exercise 2.2: for each kernel, the index of the pattern that keeps the most squared magnitude."""
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
    return run_check("2.2", fn, _choose, cases)


# ---------------------------------------------------------------- Exercise 2.3 (design: a granularity)

DESIGN_SPARSITIES = tuple(k / 9 for k in range(8))  # multiples of 1/9: every granularity can hit them
CONVS = (torch.nn.Conv2d,)
# (index bits per conv weight at most, conv sparsity at least): the budgets the check tries
DESIGN_BUDGETS = ((0.34, 1 / 3), (0.12, 2 / 9), (1.0, 5 / 9), (0.01, 1 / 9))


def conv_index_bits_per_weight(model: torch.nn.Module) -> dict[str, float]:
    """Index bits per conv weight (bitmap over units; pattern ids + table) for each granularity."""
    weights = [w for w in prunable_weights(model).values() if w.ndim == 4]
    n = sum(w.numel() for w in weights)
    return {g: sum(mask_index_bits(w.shape, g) for w in weights) / n for g in GRANULARITIES}


def _one_shot(model, granularity: str, sparsity: float, loader) -> float:
    masks = granularity_masks(model, sparsity, granularity, layer_types=CONVS)
    return evaluate(apply_masks(copy.deepcopy(model), masks), loader)


@functools.lru_cache(maxsize=1)
def _design_table():
    """The shipped conv net, its validation loader, and one-shot validation accuracy per
    (granularity, sparsity) on the DESIGN_SPARSITIES grid."""
    model = load_pretrained("convnet")
    loader = make_loader(digits_splits().validation, batch_size=512)
    table = {g: [_one_shot(model, g, s, loader) for s in DESIGN_SPARSITIES] for g in GRANULARITIES}
    return model, loader, table


@exercise("2.3")
def granularity_choice(fn, budgets=DESIGN_BUDGETS):
    """Exercise 2.3 (design): ``fn(accuracy, index_bits, max_index_bits, min_sparsity)`` returns
    ``(granularity, sparsity)`` from a validation table ``accuracy[g][k]`` (one-shot, at sparsity k/9)
    and ``index_bits[g]`` (bits per conv weight). The check prunes the conv layers with that choice
    itself, measures validation accuracy, and passes when the index bits fit, the sparsity is reached
    and no other choice on the grid that fits scores higher on validation."""
    model, loader, table = _design_table()
    bits = conv_index_bits_per_weight(model)
    for number, (max_bits, min_sparsity) in enumerate(budgets, start=1):
        where = (f"Exercise 2.3, case {number} (at most {max_bits} index bits per weight, "
                 f"at least {min_sparsity:.0%} sparsity)")
        choice = call_learner("2.3", where, fn, {g: list(a) for g, a in table.items()}, dict(bits), max_bits,
                              min_sparsity)
        if not (isinstance(choice, (tuple, list)) and len(choice) == 2 and choice[0] in GRANULARITIES
                and isinstance(choice[1], (int, float)) and 0 <= choice[1] <= 1):
            return CheckResult("2.3", False, f"✗ {where}: expected (granularity, sparsity) with granularity "
                               f"in {GRANULARITIES} and a sparsity in [0, 1], got {choice!r}")
        granularity, sparsity = choice[0], float(choice[1])
        if bits[granularity] > max_bits:
            return CheckResult("2.3", False, f"✗ {where}: {granularity} needs {bits[granularity]:.3f} index "
                               "bits per weight, over the budget")
        masks = granularity_masks(model, sparsity, granularity, layer_types=CONVS)
        reached = masks_sparsity(masks)
        if reached < min_sparsity - 0.01:
            return CheckResult("2.3", False, f"✗ {where}: ({granularity}, {sparsity:.3f}) prunes only "
                               f"{reached:.1%} of the conv weights")
        accuracy = evaluate(apply_masks(copy.deepcopy(model), masks), loader)
        best = max(a for g in GRANULARITIES if bits[g] <= max_bits
                   for s, a in zip(DESIGN_SPARSITIES, table[g]) if s >= min_sparsity - 1e-9)
        if accuracy < best - 1e-9:
            return CheckResult("2.3", False, f"✗ {where}: ({granularity}, {sparsity:.3f}) scores "
                               f"{accuracy:.2%} on validation; another choice that fits scores {best:.2%}")
    return CheckResult("2.3", True, f"✓ Exercise 2.3: all {len(budgets)} budgets met with the best "
                       "validation accuracy (measured by pruning the net).")
