"""Sensitivity: how much the metric drops when one layer or one channel group alone is pruned.

One scan, :func:`sensitivity_scan`, prunes a copy of the model one unit at a time at each level and
evaluates it; the model itself is never changed. Two front ends name the units:

- :func:`layer_sensitivity`: units are weight tensors, pruned by a mask function (lesson 00/02 style);
- :func:`channel_sensitivity`: units are channel groups, removed physically (lesson 04).

The result, a :class:`Sensitivity`, feeds :func:`largest_safe_ratio` and :func:`ratios_for_mac_budget`.
Choose ratios from a scan on the validation split, never the test split.
"""

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from ..core.modules import apply_masks, prunable_weights
from ..core.validation import check_fraction
from ..pruning.magnitude import magnitude_mask
from ..structured.graph import channel_groups
from ..structured.surgery import prune_groups, resolve_group_scores
from .metrics import count_macs


@dataclass(frozen=True)
class Sensitivity:
    """Metric (e.g. accuracy) after pruning one group at a time: ``curves[group][i]`` at ``ratios[i]``."""

    ratios: tuple[float, ...]
    dense: float
    curves: dict[str, list[float]]


def sensitivity_scan(model: nn.Module, evaluate_fn: Callable[[nn.Module], float], levels, units,
                     prune_one: Callable[[nn.Module, str, float], nn.Module],
                     progress: bool = True) -> Sensitivity:
    """The one scan: ``curves[unit][i] = evaluate_fn(prune_one(model, unit, levels[i]))``.

    ``prune_one`` returns a pruned copy; ``evaluate_fn`` maps a model to a number where higher is
    better (validation accuracy). No fine-tuning in between: the scan measures how much each unit
    matters as trained. ``dense`` is ``evaluate_fn(model)``.
    """
    curves = {}
    for unit in tqdm(units, desc="sensitivity scan", disable=not progress, leave=False):
        curves[unit] = [evaluate_fn(prune_one(model, unit, level)) for level in levels]
    return Sensitivity(tuple(levels), evaluate_fn(model), curves)


def layer_sensitivity(model: nn.Module, evaluate_fn: Callable[[nn.Module], float], sparsities, layers=None,
                      make_mask=magnitude_mask, progress: bool = True) -> Sensitivity:
    """Each weight tensor alone pruned to each sparsity by ``make_mask(weight, sparsity)`` (default:
    magnitude). ``layers``: parameter names (default: every Conv2d/Linear weight)."""
    sparsities = [check_fraction(f"sparsities[{i}]", s) for i, s in enumerate(sparsities)]
    allowed = list(prunable_weights(model))
    layers = allowed if layers is None else list(layers)
    params = dict(model.named_parameters())
    for name in layers:
        if name not in params:
            raise ValueError(f"layers has {name!r}, which is not a parameter of the model; "
                             f"allowed: {allowed}")

    def prune_one(model, name, sparsity):
        return apply_masks(copy.deepcopy(model), {name: make_mask(params[name].detach(), sparsity)})

    return sensitivity_scan(model, evaluate_fn, sparsities, layers, prune_one, progress)


def channel_sensitivity(
    model: nn.Module,
    example_input: torch.Tensor,
    evaluate_fn: Callable[[nn.Module], float],
    ratios=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    criterion="magnitude",
    batch=None,
    progress: bool = True,
) -> Sensitivity:
    """Each channel group alone, its ``ratio`` lowest-scoring channels (by ``criterion``, see
    ``structured.group_scores``) physically removed."""
    ratios = tuple(check_fraction("ratios", r, allow_one=False) for r in ratios)
    groups = channel_groups(model, example_input)
    scores = resolve_group_scores(model, groups, criterion, batch)

    def prune_one(model, name, ratio):
        return prune_groups(model, groups, scores, {name: ratio})

    return sensitivity_scan(model, evaluate_fn, ratios, list(scores), prune_one, progress)


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
    criterion="magnitude",
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
    scores = resolve_group_scores(model, groups, criterion, batch)
    drops = sorted({sensitivity.dense - v for curve in sensitivity.curves.values() for v in curve})

    def ratios_at(tolerance):
        return {
            name: largest_safe_ratio(sensitivity.ratios, curve, sensitivity.dense, tolerance)
            for name, curve in sensitivity.curves.items()
        }

    def fits(tolerance):
        pruned = prune_groups(model, groups, scores, ratios_at(tolerance))
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
