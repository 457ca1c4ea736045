"""Prune a copy, measure it: the work behind accuracy-vs-sparsity curves and sparsity sliders.

The trained model is never modified: every probe prunes a deep copy from the dense weights.
"""

import copy

from torch import nn
from tqdm.auto import tqdm

from .pruning import apply_masks, global_magnitude_masks
from .train import evaluate
from .validation import check_fraction


def pruned_copy(model: nn.Module, sparsity: float, make_masks=global_magnitude_masks) -> nn.Module:
    """A copy of ``model`` with ``make_masks(model, sparsity)`` applied; ``model`` is untouched."""
    sparsity = check_fraction("sparsity", sparsity)
    pruned = copy.deepcopy(model)
    return apply_masks(pruned, make_masks(pruned, sparsity))


def accuracy_vs_sparsity(
    model: nn.Module, loader, sparsities, make_masks=global_magnitude_masks, progress: bool = True
) -> list[float]:
    """Test accuracy of one-shot pruned copies of ``model``, one per sparsity in ``sparsities``."""
    sparsities = [check_fraction("sparsities[i]", s) for s in sparsities]
    return [
        evaluate(pruned_copy(model, s, make_masks), loader)
        for s in tqdm(sparsities, desc="pruning", disable=not progress, leave=False)
    ]
