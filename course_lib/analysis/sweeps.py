"""Prune a copy, measure it: the work behind accuracy-vs-sparsity curves and sparsity sliders.

The trained model is never modified: every probe prunes a deep copy from the dense weights.
"""

import copy

import torch
from torch import nn
from tqdm.auto import tqdm

from ..core.modules import apply_masks
from ..core.validation import check_fraction
from ..pruning.magnitude import global_magnitude_masks, magnitude_mask
from ..pruning.nm import kept_magnitude, nm_masks
from ..train import evaluate


def nm_vs_unstructured(model: torch.nn.Module, patterns, loader) -> list[dict]:
    """One-shot N:M pruning against unstructured pruning at the same sparsity, on the same layers.

    One row ``"n:m"`` per ``(n, m)`` in ``patterns`` (``nm_masks``), and after the first pattern of
    each sparsity s = 1 - n/m a row ``"unstructured s%"`` (per-layer magnitude masks of sparsity s on
    the layers that pattern covers). Each row has ``sparsity``, ``kept_fraction`` (kept |w| over all
    |w| of those layers) and ``accuracy`` on ``loader``. ``model`` is not modified.
    """


    params = dict(model.named_parameters())
    rows, seen = [], set()
    for n, m in patterns:
        nm = nm_masks(model, n, m)
        sparsity = 1 - n / m
        candidates = {f"{n}:{m}": nm}
        if sparsity not in seen:
            seen.add(sparsity)
            candidates[f"unstructured {sparsity:.0%}"] = {k: magnitude_mask(params[k], sparsity) for k in nm}
        total = sum(kept_magnitude(params[k], torch.ones_like(v)) for k, v in nm.items())
        for label, masks in candidates.items():
            kept = sum(kept_magnitude(params[k], v) for k, v in masks.items())
            pruned = apply_masks(copy.deepcopy(model), masks)
            rows.append({"pattern": label, "sparsity": sparsity, "kept_fraction": kept / total,
                         "accuracy": evaluate(pruned, loader)})
    return rows


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
