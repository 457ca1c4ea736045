"""Masks at every granularity (lesson 02), from one weight to a whole filter.

Granularities (Mao et al. 2017, "Exploring the granularity of sparsity in CNNs") for a conv weight
``[Co, Ci, Kh, Kw]``, from irregular to regular:

=========  =====================================  ==============================================
name       the unit that is kept or removed       shape of one unit
=========  =====================================  ==============================================
fine       one weight                             ()
pattern    each kernel keeps the same number of   a pattern: k of the Kh*Kw positions, chosen
           weights, in one of a few patterns      from a small pattern set
vector     one row of a kernel                    [Kw]
kernel     one 2-D kernel (one input -> output)   [Kh, Kw]
channel    one output channel (a whole filter)    [Ci, Kh, Kw]
=========  =====================================  ==============================================

Structured granularities prune ``round(sparsity * n_units)`` whole units, scored by their L1 or L2
norm, so the achieved sparsity is the nearest one that whole units allow.
"""

import math

import torch
from torch import nn

from ..core.modules import PRUNABLE_TYPES, _layer_weights
from ..core.selection import keep_largest, keep_largest_per_row
from ..core.validation import check_choice, check_fraction, check_positive_int
from .magnitude import magnitude_mask

GRANULARITIES = ("fine", "pattern", "vector", "kernel", "channel")


GROUP_NORMS = ("l1", "l2")


MAX_PATTERN_POSITIONS = 62  # a support of Kh*Kw positions is coded as the bits of one int64


def allowed_granularities(shape) -> tuple[str, ...]:
    """The granularities that fit a weight of this shape: all five for 4-D conv weights
    [Co, Ci, Kh, Kw]; fine and channel (an output row) for Linear weights [out, in]."""
    if len(shape) == 4:
        return GRANULARITIES
    return ("fine", "channel") if len(shape) >= 2 else ("fine",)


def _group_scores(units: torch.Tensor, norm: str) -> torch.Tensor:
    """Norm of each row of ``units`` (n_units, unit_size) -> (n_units,)."""
    return units.abs().sum(dim=1) if norm == "l1" else units.pow(2).sum(dim=1).sqrt()


def pattern_set(kernels: torch.Tensor, k: int, n_patterns: int, norm: str = "l2") -> torch.Tensor:
    """The ``n_patterns`` most common top-``k`` supports among ``kernels`` (G, K) -> (P, K) bool.

    Each kernel votes for the positions of its k largest entries (PatDNN's way to pick a small
    pattern set from the data); the most frequent supports win, ties broken by the support's code.
    """
    scores = kernels.abs() if norm == "l1" else kernels.pow(2)
    supports = keep_largest_per_row(scores, kernels.shape[1] - k)  # (G, K): each kernel's top k
    powers = 2 ** torch.arange(kernels.shape[1], dtype=torch.int64)  # (K,)
    codes = (supports * powers).sum(dim=1)  # (G,) one integer per support
    unique, counts = codes.unique(return_counts=True)  # unique is sorted by code
    top = unique[counts.argsort(descending=True, stable=True)[:n_patterns]]  # (P,)
    return (top[:, None] & powers) != 0  # (P, K)


def choose_patterns(kernels: torch.Tensor, patterns: torch.Tensor, norm: str = "l2") -> torch.Tensor:
    """For each kernel (G, K), the index (G,) of the pattern (P, K) bool that keeps the most of its
    L1 norm (sum |w|) or squared L2 norm (sum w^2); ties go to the earlier pattern."""
    check_choice("norm", norm, GROUP_NORMS)
    scores = kernels.detach().abs() if norm == "l1" else kernels.detach().pow(2)
    kept = scores @ patterns.to(scores.dtype).T  # (G, P): what each pattern would keep
    return kept.argmax(dim=1)


def _pattern_mask(weight: torch.Tensor, sparsity: float, norm: str, n_patterns: int) -> torch.Tensor:
    co, ci, kh, kw = weight.shape
    if kh * kw > MAX_PATTERN_POSITIONS:
        raise ValueError(
            f"pattern pruning encodes a kernel's support in one int64, so it allows kernels of at most "
            f"{MAX_PATTERN_POSITIONS} positions; weight has shape {tuple(weight.shape)} ({kh * kw})"
        )
    kernels = weight.detach().reshape(co * ci, kh * kw)  # (G, K)
    k = kh * kw - round(sparsity * kh * kw)  # weights kept in every kernel
    patterns = pattern_set(kernels, k, n_patterns, norm)  # (P, K)
    return patterns[choose_patterns(kernels, patterns, norm)].view(weight.shape)


def granularity_mask(
    weight: torch.Tensor,
    sparsity: float,
    granularity: str = "fine",
    norm: str = "l2",
    n_patterns: int = 8,
) -> torch.Tensor:
    """A mask that removes whole units of one granularity (see the module docstring).

    weight: [Co, Ci, Kh, Kw] conv weight (all granularities) or [out, in] Linear weight ("fine",
    "channel"). Units are scored by their ``norm`` ("l1" or "l2") and ``round(sparsity * n_units)``
    of the weakest are removed; "pattern" keeps ``Kh*Kw - round(sparsity * Kh*Kw)`` weights in every
    kernel, in the best of ``n_patterns`` patterns. Returns a bool mask of ``weight``'s shape.
    """
    sparsity = check_fraction("sparsity", sparsity)
    check_choice("granularity", granularity, GRANULARITIES)
    check_choice("norm", norm, GROUP_NORMS)
    check_positive_int("n_patterns", n_patterns)
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"weight must be a torch.Tensor, got {type(weight).__name__}")
    allowed = allowed_granularities(weight.shape)
    if granularity not in allowed:
        raise ValueError(
            f"granularity {granularity!r} does not fit a weight of shape {tuple(weight.shape)}: "
            f"it needs a 4-D conv weight [Co, Ci, Kh, Kw]; for this shape use one of {list(allowed)}"
        )
    if granularity == "fine":
        return magnitude_mask(weight, sparsity)
    if granularity == "pattern":
        return _pattern_mask(weight, sparsity, norm, n_patterns)
    unit_size = {"vector": weight.shape[-1], "kernel": weight.shape[-2] * weight.shape[-1]}.get(
        granularity, weight[0].numel()  # channel: a whole output filter
    )
    units = weight.detach().reshape(-1, unit_size)  # (n_units, unit_size)
    keep = keep_largest(_group_scores(units, norm), round(sparsity * units.shape[0]))  # (n_units,)
    return keep[:, None].expand_as(units).reshape(weight.shape)


def granularity_masks(
    model: nn.Module,
    sparsity: float,
    granularity: str = "fine",
    norm: str = "l2",
    layer_types: tuple = PRUNABLE_TYPES,
) -> dict[str, torch.Tensor]:
    """``granularity_mask`` at the same sparsity for every layer of ``layer_types`` (default: every
    Conv2d and Linear, like the other ``*_masks`` functions): parameter name -> mask.

    A layer the granularity does not fit (a Linear weight has no kernels or patterns) is left dense and
    absent from the result, as ``nm_masks`` does with layers whose shape N:M does not fit.
    """
    check_choice("granularity", granularity, GRANULARITIES)
    weights = _layer_weights(model, layer_types)
    fitting = {name: w for name, w in weights.items() if granularity in allowed_granularities(w.shape)}
    if not fitting:
        raise ValueError(f"model {type(model).__name__} has no layers of types {layer_types} "
                         f"that the {granularity!r} granularity fits")
    return {name: granularity_mask(w, sparsity, granularity, norm) for name, w in fitting.items()}


def mask_index_bits(shape, granularity: str, n_patterns: int = 8) -> int:
    """Bits of metadata that record which units of a weight of ``shape`` survive.

    A bitmap with one bit per unit: per weight (fine), per kernel row (vector), per kernel, per
    output channel. "pattern" stores a ceil(log2(P))-bit pattern id per kernel plus the pattern
    table itself (P * Kh * Kw bits). Channel-pruned layers can even drop it by physically shrinking.
    """
    check_choice("granularity", granularity, GRANULARITIES)
    shape = tuple(shape)
    if granularity not in allowed_granularities(shape):
        raise ValueError(f"granularity {granularity!r} does not fit shape {shape}")
    numel = math.prod(shape)
    if granularity == "pattern":
        kernel = shape[-2] * shape[-1]
        id_bits = (n_patterns - 1).bit_length()  # ceil(log2(P)): 0 bits when there is one pattern
        return (numel // kernel) * id_bits + n_patterns * kernel
    unit = {"fine": 1, "vector": shape[-1], "kernel": shape[-2] * shape[-1]}.get(
        granularity, numel // shape[0]
    )
    return numel // unit
