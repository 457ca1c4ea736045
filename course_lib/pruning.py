"""Pruning masks and applying them.

A mask is a ``torch.bool`` tensor of the weight's shape: True keeps a weight, False prunes it.
Sparsity is the fraction of zeros; ``round(sparsity * numel)`` weights are pruned.
"""

import torch
from torch import nn

from .validation import check_fraction

PRUNABLE_TYPES = (nn.Conv2d, nn.Linear)


def prunable_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """The weights of every Conv2d and Linear layer, by parameter name (``"conv1.weight"``)."""
    return {
        f"{name}.weight": module.weight
        for name, module in model.named_modules()
        if isinstance(module, PRUNABLE_TYPES)
    }


def keep_largest(scores: torch.Tensor, n_pruned: int) -> torch.Tensor:
    """Boolean mask of ``scores``' shape with the ``n_pruned`` smallest scores set to False.

    Ties at the threshold are broken by position (earlier entries are pruned first), so the result
    is deterministic. O(n): a selection (kthvalue), not a full sort.
    """
    flat = scores.detach().flatten()
    mask = torch.ones_like(flat, dtype=torch.bool)
    if n_pruned >= flat.numel():
        return mask.zero_().view_as(scores)
    if n_pruned > 0:
        threshold = flat.kthvalue(n_pruned).values
        below = flat < threshold
        ties = (flat == threshold).nonzero().flatten()
        mask[below] = False
        mask[ties[: n_pruned - int(below.sum())]] = False
    return mask.view_as(scores)


def magnitude_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Keep the weights of largest |w|; exactly ``round(sparsity * numel)`` are pruned."""
    sparsity = check_fraction("sparsity", sparsity)
    return keep_largest(weight.abs(), round(sparsity * weight.numel()))


def global_magnitude_masks(model: nn.Module, sparsity: float) -> dict[str, torch.Tensor]:
    """One magnitude threshold across all Conv2d/Linear weights of ``model``.

    Returns parameter name -> mask; exactly ``round(sparsity * total)`` weights are pruned in all.
    """
    sparsity = check_fraction("sparsity", sparsity)
    weights = prunable_weights(model)
    if not weights:
        raise ValueError(f"model has no Conv2d or Linear weights to prune: {type(model).__name__}")
    scores = torch.cat([w.detach().abs().flatten() for w in weights.values()])
    flat_mask = keep_largest(scores, round(sparsity * scores.numel()))
    masks = flat_mask.split([w.numel() for w in weights.values()])
    return {name: m.view_as(w) for (name, w), m in zip(weights.items(), masks)}


@torch.no_grad()
def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> nn.Module:
    """Zero the pruned weights of ``model`` in place (weight *= mask) and return it."""
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        if name not in params:
            raise ValueError(f"masks has a key {name!r} that is not a parameter of the model")
        if mask.shape != params[name].shape:
            raise ValueError(
                f"mask for {name!r} has shape {tuple(mask.shape)}, "
                f"the parameter has {tuple(params[name].shape)}"
            )
        params[name].mul_(mask)
    return model
