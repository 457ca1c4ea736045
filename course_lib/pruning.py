"""Pruning masks at every granularity, applying them, and keeping them applied.

A mask is a ``torch.bool`` tensor of the weight's shape: True keeps a weight, False prunes it.
Sparsity is the fraction of zeros; ``round(sparsity * numel)`` weights are pruned.

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
from torch.nn.utils import prune
from tqdm.auto import tqdm

from .validation import check_choice, check_fraction, check_positive_int

PRUNABLE_TYPES = (nn.Conv2d, nn.Linear)
NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)
GRANULARITIES = ("fine", "pattern", "vector", "kernel", "channel")
GROUP_NORMS = ("l1", "l2")
MAX_PATTERN_POSITIONS = 62  # a support of Kh*Kw positions is coded as the bits of one int64
# Above this many scores, keep_largest first brackets the threshold on a strided sample (exact anyway).
_SAMPLED_SELECTION_MIN = 1 << 22


def prunable_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """The weights of every Conv2d and Linear layer, by parameter name (``"conv1.weight"``)."""
    return _layer_weights(model, PRUNABLE_TYPES)


def _layer_weights(model: nn.Module, layer_types) -> dict[str, nn.Parameter]:
    return {
        f"{name}.weight" if name else "weight": module.weight
        for name, module in model.named_modules()
        if isinstance(module, layer_types)
    }


def prunable_parameters(
    model: nn.Module, include_biases: bool = False, include_norm: bool = False
) -> dict[str, nn.Parameter]:
    """Conv2d/Linear weights, plus their biases and normalisation layers' parameters on request.

    ``include_norm`` adds the scale (gamma) of BatchNorm/LayerNorm/GroupNorm layers, and their shift
    (beta) as well when ``include_biases`` is also set.
    """
    params = {}
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(module, PRUNABLE_TYPES) or (include_norm and isinstance(module, NORM_TYPES)):
            if getattr(module, "weight", None) is not None:
                params[f"{prefix}weight"] = module.weight
            if include_biases and getattr(module, "bias", None) is not None:
                params[f"{prefix}bias"] = module.bias
    return params


def _kth_smallest(flats: list[torch.Tensor], k: int) -> torch.Tensor:
    """The k-th smallest value (k from 1) over several 1-D tensors together, exactly as
    ``torch.cat(flats).kthvalue(k)`` but without building the concatenation when it is large.

    A strided sample brackets the answer [lo, hi] first, so the exact selection runs on the few values
    inside the bracket: on ResNet-50's 25M weights about 3x less work than one kthvalue. If the
    bracket misses (possible on adversarial data), it falls back to the full kthvalue.
    """
    n = sum(f.numel() for f in flats)
    if n < _SAMPLED_SELECTION_MIN:
        return torch.cat(flats).kthvalue(k).values
    stride = n // (1 << 20)
    sample = torch.cat([f[::stride] for f in flats])
    m = sample.numel()
    # The rank of the answer in the sample is about k*m/n, give or take a few binomial std devs.
    centre, margin = k * m / n, 8 * math.sqrt(m) + 8
    lo_rank, hi_rank = math.floor(centre - margin), math.ceil(centre + margin)
    lo = sample.kthvalue(lo_rank).values if lo_rank >= 1 else sample.new_tensor(-math.inf)
    hi = sample.kthvalue(hi_rank).values if hi_rank <= m else sample.new_tensor(math.inf)
    n_below = sum(int(torch.count_nonzero(f < lo)) for f in flats)
    inside = torch.cat([f[(f >= lo) & (f <= hi)] for f in flats])
    if n_below < k <= n_below + inside.numel():
        return inside.kthvalue(k - n_below).values
    return torch.cat(flats).kthvalue(k).values


def _keep_largest_many(scores: list[torch.Tensor], n_pruned: int) -> list[torch.Tensor]:
    """:func:`keep_largest` over several tensors as if concatenated (one global threshold), returning
    one mask per tensor; ties are broken by position in the concatenation."""
    flats = [s.detach().flatten() for s in scores]
    n = sum(f.numel() for f in flats)
    if n_pruned <= 0 or n_pruned >= n:
        return [torch.full(s.shape, n_pruned <= 0, dtype=torch.bool, device=s.device) for s in scores]
    threshold = _kth_smallest(flats, n_pruned)
    masks = [f > threshold for f in flats]
    n_ties_kept = n - n_pruned - sum(int(torch.count_nonzero(m)) for m in masks)
    for f, mask in zip(reversed(flats), reversed(masks)):  # the last ties survive
        if n_ties_kept <= 0:
            break
        ties = (f == threshold).nonzero().flatten()[-n_ties_kept:]
        mask[ties] = True
        n_ties_kept -= ties.numel()
    return [m.view(s.shape) for m, s in zip(masks, scores)]


def keep_largest(scores: torch.Tensor, n_pruned: int) -> torch.Tensor:
    """Boolean mask of ``scores``' shape with the ``n_pruned`` smallest scores set to False.

    Ties at the threshold are broken by position (earlier entries are pruned first), so the result
    is deterministic. O(n): a selection (kthvalue), not a full sort.
    """
    return _keep_largest_many([scores], n_pruned)[0]


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
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= w.numel():
        raise ValueError(f"n must be an int in [0, {w.numel()}] (w has {w.numel()} entries), got {n!r}")
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
    return dict(zip(scores, _keep_largest_many(list(scores.values()), round(sparsity * total))))


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


# ---- granularity -------------------------------------------------------------------------------


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
    order = scores.argsort(dim=1, descending=True, stable=True)[:, :k]  # (G, k)
    powers = 2 ** torch.arange(kernels.shape[1], dtype=torch.int64)  # (K,)
    codes = powers[order].sum(dim=1)  # (G,) one integer per support
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
    layer_types: tuple = (nn.Conv2d,),
) -> dict[str, torch.Tensor]:
    """``granularity_mask`` at the same sparsity for every layer of ``layer_types`` (default: convs)."""
    weights = _layer_weights(model, layer_types)
    if not weights:
        raise ValueError(f"model {type(model).__name__} has no layers of types {layer_types}")
    return {name: granularity_mask(w, sparsity, granularity, norm) for name, w in weights.items()}


def index_bits(shape, granularity: str, n_patterns: int = 8) -> int:
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


# ---- applying masks ----------------------------------------------------------------------------


def _check_masks(masks) -> dict[str, torch.Tensor]:
    if not isinstance(masks, dict) or not masks:
        raise TypeError(f"masks must be a non-empty dict of parameter name -> bool mask, got {masks!r}")
    for name, mask in masks.items():
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            got = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise TypeError(f"masks[{name!r}] must be a torch.bool tensor, got {got}")
    return masks


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


def _owner(model: nn.Module, param_name: str) -> tuple[nn.Module, str]:
    """The module that holds ``param_name`` ("layer.0.weight") and the attribute name ("weight")."""
    module_name, _, attr = param_name.rpartition(".")
    try:
        module = model.get_submodule(module_name)
    except AttributeError as err:
        raise ValueError(f"masks has a key {param_name!r}: the model has no module {module_name!r}") from err
    if not hasattr(module, attr):
        raise ValueError(f"masks has a key {param_name!r}: {module_name or 'the model'} has no {attr!r}")
    return module, attr


class Pruner:
    """Holds boolean masks and keeps them applied.

    Call it on the model after every optimizer step, ``train(model, ..., after_step=pruner)``, so
    pruned weights stay exactly zero while the others train (Adam's momentum would otherwise grow
    them back). Or hand the masks to ``torch.nn.utils.prune`` with :meth:`attach` (the forward pass
    then uses weight_orig * weight_mask) and make them permanent with :func:`make_permanent`.
    A Pruner deep-copies, and saves and loads through ``state_dict`` / ``load_state_dict``.
    """

    def __init__(self, masks: dict[str, torch.Tensor]):
        self.masks = {name: m.detach().clone() for name, m in _check_masks(masks).items()}

    @classmethod
    def from_model(cls, model: nn.Module) -> "Pruner":
        """The masks that ``torch.nn.utils.prune`` holds on ``model`` (its ``*_mask`` buffers)."""
        masks = {
            f"{module_name}.{attr}" if module_name else attr: getattr(module, f"{attr}_mask").bool()
            for module_name, module, attr in _pruned_tensors(model)
        }
        if not masks:
            raise ValueError("model has no torch.nn.utils.prune masks (no *_mask buffers) to read")
        return cls(masks)

    @torch.no_grad()
    def __call__(self, model: nn.Module) -> nn.Module:
        """Zero every pruned weight of ``model`` in place, also under torch.nn.utils.prune.

        With prune attached, ``weight_orig`` is zeroed and ``weight`` recomputed as a plain tensor
        (the forward pass recomputes it with gradients), which is what lets the model be deep-copied
        after a training step: torch cannot deep-copy the non-leaf ``weight`` that a step leaves.
        """
        for name, mask in self.masks.items():
            module, attr = _owner(model, name)
            orig = getattr(module, f"{attr}_orig", None)
            param = getattr(module, attr) if orig is None else orig
            if mask.shape != param.shape:
                raise ValueError(
                    f"mask for {name!r} has shape {tuple(mask.shape)}, the parameter has {tuple(param.shape)}"
                )
            param.mul_(mask.to(param.device))
            if orig is not None:
                setattr(module, attr, orig.detach() * getattr(module, f"{attr}_mask"))
        return model

    def attach(self, model: nn.Module) -> nn.Module:
        """Apply the masks with ``torch.nn.utils.prune.custom_from_mask`` (reversible, in place)."""
        for name, mask in self.masks.items():
            module, attr = _owner(model, name)
            prune.custom_from_mask(module, attr, mask)
        return self(model)

    def sparsity(self) -> float:
        """Fraction of pruned entries over all masks together."""
        return masks_sparsity(self.masks)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The masks (copies), ready for ``torch.save`` and ``torch.load(..., weights_only=True)``."""
        return {name: m.clone() for name, m in self.masks.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.masks = {name: m.detach().clone() for name, m in _check_masks(state).items()}

    def __repr__(self) -> str:
        return f"Pruner({len(self.masks)} masks, sparsity {self.sparsity():.1%})"


def _pruned_tensors(model: nn.Module) -> list[tuple[str, nn.Module, str]]:
    """(module name, module, tensor name) for every tensor that torch.nn.utils.prune masks."""
    return [
        (module_name, module, hook._tensor_name)
        for module_name, module in model.named_modules()
        for hook in module._forward_pre_hooks.values()
        if isinstance(hook, prune.BasePruningMethod)
    ]


def make_permanent(model: nn.Module) -> nn.Module:
    """``torch.nn.utils.prune.remove`` on every pruned tensor: weight_orig * mask becomes the plain
    weight again and the mask buffers and hooks go."""
    for _, module, attr in _pruned_tensors(model):
        prune.remove(module, attr)
    return model


def load_pruned_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """Load a state_dict saved from a model with ``torch.nn.utils.prune`` masks attached.

    Such a state_dict holds ``<name>_orig`` and ``<name>_mask`` instead of ``<name>``; the masks are
    attached to ``model`` first so that every key finds its place.
    """
    for key, value in state.items():
        if key.endswith("_mask") and key.removesuffix("_mask") + "_orig" in state:
            module, attr = _owner(model, key.removesuffix("_mask"))
            if not hasattr(module, f"{attr}_mask"):
                prune.custom_from_mask(module, attr, value.bool())
    model.load_state_dict(state)
    return model


# ---- sensitivity -------------------------------------------------------------------------------


@torch.no_grad()
def sensitivity_scan(
    model: nn.Module, loader, sparsities, layers=None, mask_fn=magnitude_mask, progress: bool = True
) -> dict[str, list[float]]:
    """Accuracy when one layer alone is pruned: ``{layer: [accuracy at each sparsity]}``.

    ``layers``: parameter names (default: every Conv2d/Linear weight). ``mask_fn(weight, sparsity)``
    builds each probe's mask (default: magnitude). Each probe's weight is restored afterwards, so the
    model is unchanged when the scan returns (even if it is interrupted).
    """
    from .train import evaluate  # train imports this module

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
