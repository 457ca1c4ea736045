"""TODO docstring."""

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from ..core.modules import prunable_weights
from ..core.validation import check_fraction
from ..pruning.magnitude import magnitude_mask
from ..structured.graph import channel_groups
from ..structured.surgery import _prune, _resolve_scores
from ..train import evaluate
from .metrics import count_macs


@dataclass(frozen=True)
class Sensitivity:
    """Metric (e.g. accuracy) after pruning one group at a time: ``curves[group][i]`` at ``ratios[i]``."""

    ratios: tuple[float, ...]
    dense: float
    curves: dict[str, list[float]]


def sensitivity_scan(
    model: nn.Module,
    example_input: torch.Tensor,
    evaluate_fn: Callable[[nn.Module], float],
    ratios=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    importance: str | Callable = "l1",
    batch=None,
    progress: bool = True,
) -> Sensitivity:
    """Prune each prunable group alone at each ratio and record ``evaluate_fn(pruned copy)``.

    ``evaluate_fn`` maps a model to a number where higher is better (test accuracy). No
    fine-tuning in between: the scan measures how much each layer's channels matter as trained.
    """
    ratios = tuple(check_fraction("ratios", r, allow_one=False) for r in ratios)
    groups = channel_groups(model, example_input)
    scores = _resolve_scores(model, groups, importance, batch)
    curves = {}
    for name in tqdm(scores, desc="sensitivity scan", disable=not progress, leave=False):
        curves[name] = [evaluate_fn(_prune(model, groups, scores, {name: r})) for r in ratios]
    return Sensitivity(ratios, evaluate_fn(model), curves)


def largest_safe_ratio(ratios, values, dense: float, max_drop: float) -> float:
    """The largest ratio whose value is at most ``max_drop`` below ``dense`` (up to float rounding,
    1e-9); 0.0 when none is."""
    safe = [r for r, v in zip(ratios, values) if dense - v <= max_drop + 1e-9]
    return max(safe, default=0.0)


def mac_fraction(model: nn.Module, pruned: nn.Module, example_input: torch.Tensor) -> float:
    """MACs of ``pruned`` over MACs of ``model`` for one example shaped like ``example_input[0]``."""
    shape = tuple(example_input.shape[1:])
    return count_macs(pruned, shape) / count_macs(model, shape)


def ratios_for_mac_budget(
    model: nn.Module,
    example_input: torch.Tensor,
    sensitivity: Sensitivity,
    budget: float,
    importance: str | Callable = "l1",
    batch=None,
) -> dict[str, float]:
    """Per-group ratios that keep at most ``budget`` (a fraction) of the dense MACs, sparing the
    sensitive groups.

    Every group gets ``largest_safe_ratio`` for one common tolerated drop; the smallest tolerance
    (among the drops the scan measured) whose pruned model fits the budget wins. MACs only fall as
    the tolerance grows, so the search is a bisection. Raises ``ValueError`` if even the largest
    scanned ratios do not reach the budget.
    """
    budget = check_fraction("budget", budget)
    groups = channel_groups(model, example_input)
    scores = _resolve_scores(model, groups, importance, batch)
    drops = sorted({sensitivity.dense - v for curve in sensitivity.curves.values() for v in curve})

    def ratios_at(tolerance):
        return {
            name: largest_safe_ratio(sensitivity.ratios, curve, sensitivity.dense, tolerance)
            for name, curve in sensitivity.curves.items()
        }

    def fits(tolerance):
        pruned = _prune(model, groups, scores, ratios_at(tolerance))
        return mac_fraction(model, pruned, example_input) <= budget

    if not fits(drops[-1]):
        raise ValueError(
            f"budget={budget} is below what the scanned ratios (up to {max(sensitivity.ratios)}) "
            "can reach: scan larger ratios or raise the budget"
        )
    low, high = 0, len(drops) - 1  # drops[high] fits; find the first that does
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if fits(drops[mid]) else (mid + 1, high)
    return ratios_at(drops[high])


@torch.no_grad()
def layer_sensitivity_scan(
    model: nn.Module, loader, sparsities, layers=None, mask_fn=magnitude_mask, progress: bool = True
) -> dict[str, list[float]]:
    """Accuracy when one layer alone is pruned: ``{layer: [accuracy at each sparsity]}``.

    ``layers``: parameter names (default: every Conv2d/Linear weight). ``mask_fn(weight, sparsity)``
    builds each probe's mask (default: magnitude). Each probe's weight is restored afterwards, so the
    model is unchanged when the scan returns (even if it is interrupted).
    """

    sparsities = [check_fraction(f"sparsities[{i}]", s) for i, s in enumerate(sparsities)]
    params = dict(model.named_parameters())
    layers = list(prunable_weights(model)) if layers is None else list(layers)
    for name in layers:
        if name not in params:
            raise ValueError(f"layers has {name!r}, which is not a parameter of the model; "
                             f"allowed: {list(prunable_weights(model))}")
    result = {}
    for name in tqdm(layers, desc="sensitivity scan", disable=not progress, leave=False):
        weight = params[name]
        dense = weight.detach().clone()
        try:
            accuracies = []
            for s in sparsities:
                weight.copy_(dense * mask_fn(dense, s))
                accuracies.append(evaluate(model, loader))
            result[name] = accuracies
        finally:
            weight.copy_(dense)
    return result
