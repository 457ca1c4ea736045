"""Magnitude masks: keep the weights of largest |w|, per tensor or with one global threshold.

A mask is a ``torch.bool`` tensor of the weight's shape: True keeps a weight, False prunes it.
Sparsity is the fraction of zeros; ``round(sparsity * numel)`` weights are pruned, ties broken as in
:mod:`course_lib.core.selection`. Keeping the n largest |w| is also the Euclidean projection onto the
L0 ball (:func:`project_l0`, lesson 01).
"""


import torch
from torch import nn

from ..core.modules import prunable_parameters
from ..core.selection import keep_largest, keep_largest_many
from ..core.validation import check_choice, check_fraction, check_int_in_range


def magnitude_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Keep the weights of largest |w|; exactly ``round(sparsity * numel)`` are pruned."""
    sparsity = check_fraction("sparsity", sparsity)
    return keep_largest(weight.abs(), round(sparsity * weight.numel()))


def project_l0(w: torch.Tensor, n: int) -> torch.Tensor:
    """Euclidean projection of ``w`` onto the L0 ball {v : ||v||_0 <= n}.

    The closest point to ``w`` with at most ``n`` non-zeros keeps the ``n`` entries of largest |w|
    and zeroes the rest: ||w - v||^2 is the sum of the squares of the dropped entries, smallest when
    the dropped entries are the smallest ones. Any shape; ties broken as in :func:`keep_largest`.
    """
    check_int_in_range("n", n, 0, w.numel())  # w.numel() entries
    return w * keep_largest(w.abs(), w.numel() - n)


def masks_from_scores(scores: dict[str, torch.Tensor], sparsity: float, scope: str = "global") -> dict:
    """Masks that prune the lowest-scoring weights: name -> bool mask of that score's shape.

    ``scope="global"``: one threshold across all tensors, ``round(sparsity * total)`` pruned in all.
    ``scope="layer"``: each tensor loses ``round(sparsity * numel)`` of its own entries.
    """
    sparsity = check_fraction("sparsity", sparsity)
    check_choice("scope", scope, ("global", "layer"))
    if not scores:
        raise ValueError("scores is empty: there is nothing to prune")
    if scope == "layer":
        return {name: keep_largest(s, round(sparsity * s.numel())) for name, s in scores.items()}
    total = sum(s.numel() for s in scores.values())
    return dict(zip(scores, keep_largest_many(list(scores.values()), round(sparsity * total))))


def global_magnitude_masks(
    model: nn.Module, sparsity: float, include_biases: bool = False, include_norm: bool = False
) -> dict[str, torch.Tensor]:
    """One magnitude threshold across all Conv2d/Linear weights of ``model``.

    Returns parameter name -> mask; exactly ``round(sparsity * total)`` weights are pruned in all.
    Biases and normalisation parameters are left out unless asked for (see :func:`prunable_parameters`).
    """
    sparsity = check_fraction("sparsity", sparsity)
    params = prunable_parameters(model, include_biases, include_norm)
    if not params:
        raise ValueError(f"model has no Conv2d or Linear weights to prune: {type(model).__name__}")
    return masks_from_scores({name: p.detach().abs() for name, p in params.items()}, sparsity)


def masks_sparsity(masks: dict[str, torch.Tensor]) -> float:
    """Fraction of pruned (False) entries over all masks together."""
    total = sum(m.numel() for m in masks.values())
    if total == 0:
        raise ValueError("masks is empty: there is no sparsity to measure")
    return 1.0 - sum(int(m.sum()) for m in masks.values()) / total
