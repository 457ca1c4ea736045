"""Structured pruning of a transformer (lesson 10): remove whole attention heads and MLP hidden units.

Removing head h of a block deletes rows h*D..(h+1)*D-1 of its query, key and value projections (and
their biases) and the same columns of the attention output projection; removing MLP hidden unit j
deletes row j of the first Linear (and its bias) and column j of the second. What is left is a smaller
dense model: fewer multiply-adds, really faster on any hardware.

Importance on calibration windows (B, T) with next-character targets:
- ``"taylor"`` (Molchanov et al. 2017; Michel et al. 2019 for heads): the first-order estimate of the
  loss change when a head's output (or a unit's activation) is set to zero, |Σ a · ∂L/∂a| summed over
  the calibration tokens (and the head's D dimensions); one forward and one backward pass for all;
- ``"ablation"`` (heads only): the measured loss increase when the head is removed, one forward pass
  per head;
- ``"magnitude"``: the L2 norm of the weights that read the head's or unit's output (the output
  projection's columns), no data needed.
"""

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..core.modules import eval_mode, hooks_attached
from ..core.validation import check_choice, check_fraction

HEAD_METHODS = ("taylor", "ablation", "magnitude")


UNIT_METHODS = ("taylor", "magnitude")


def _check_model(model):
    blocks = getattr(model, "blocks", None)
    if not isinstance(blocks, nn.ModuleList) or not all(hasattr(b, "attn") and hasattr(b, "mlp")
                                                         for b in blocks):
        raise TypeError(f"model must be a CharTransformer-like model with blocks of attn and mlp, got "
                        f"{type(model).__name__}")
    return blocks


def _loss(model, x, y):
    return F.cross_entropy(model(x).flatten(0, 1), y.flatten())


def _taylor_scores(model, x, y):
    """(head scores per block, unit scores per block) from one backward pass through the inputs of
    each block's two output projections."""
    blocks = _check_model(model)
    captured = {}

    def hook(key):
        def keep(module, args):
            args[0].retain_grad()
            captured[key] = args[0]
        return keep

    pre = [(block.attn.proj, hook(("attn", b))) for b, block in enumerate(blocks)]
    pre += [(block.mlp.proj, hook(("mlp", b))) for b, block in enumerate(blocks)]
    try:
        with hooks_attached(pre=pre), eval_mode(model), torch.enable_grad():
            model.zero_grad(set_to_none=True)
            _loss(model, x, y).backward()
    finally:
        model.zero_grad(set_to_none=True)
    heads, units = [], []
    for b, block in enumerate(blocks):
        a = captured[("attn", b)]  # (B, T, H*D)
        contribution = (a * a.grad).detach().flatten(0, 1)  # (B*T, H*D)
        per_head = contribution.view(-1, block.attn.n_head, block.attn.head_dim).sum(dim=(0, 2)).abs()
        heads.append(per_head)
        u = captured[("mlp", b)]  # (B, T, hidden)
        units.append((u * u.grad).detach().flatten(0, 1).sum(dim=0).abs())
    return heads, units


@torch.no_grad()
def _ablation_head_scores(model, x, y):
    blocks = _check_model(model)
    with eval_mode(model):
        base = float(_loss(model, x, y))
        scores = []
        for block in blocks:
            attn = block.attn
            row = torch.zeros(attn.n_head)
            for h in range(attn.n_head):
                cols = slice(h * attn.head_dim, (h + 1) * attn.head_dim)
                saved = attn.proj.weight[:, cols].clone()
                attn.proj.weight[:, cols] = 0  # head h's output no longer reaches the residual stream
                try:
                    row[h] = float(_loss(model, x, y)) - base
                finally:
                    attn.proj.weight[:, cols] = saved
            scores.append(row)
    return scores


def head_scores(model: nn.Module, x: torch.Tensor | None = None, y: torch.Tensor | None = None,
                method: str = "taylor") -> list[torch.Tensor]:
    """Importance of every attention head: one tensor (n_head,) per block, higher = more important.

    ``x``, ``y``: calibration token windows and their next-character targets (B, T), from training text.
    The model is not changed."""
    check_choice("method", method, HEAD_METHODS)
    blocks = _check_model(model)
    if method == "magnitude":
        return [b.attn.proj.weight.detach().view(b.attn.proj.out_features, b.attn.n_head, -1)
                .square().sum(dim=(0, 2)).sqrt() for b in blocks]
    if x is None or y is None:
        raise ValueError(f"x and y (calibration windows and targets) are needed for method {method!r}")
    if method == "ablation":
        return _ablation_head_scores(model, x, y)
    return _taylor_scores(model, x, y)[0]


def mlp_unit_scores(model: nn.Module, x: torch.Tensor | None = None, y: torch.Tensor | None = None,
                    method: str = "taylor") -> list[torch.Tensor]:
    """Importance of every MLP hidden unit: one tensor (hidden,) per block, higher = more important."""
    check_choice("method", method, UNIT_METHODS)
    blocks = _check_model(model)
    if method == "magnitude":
        return [b.mlp.proj.weight.detach().norm(dim=0) for b in blocks]
    if x is None or y is None:
        raise ValueError(f"x and y (calibration windows and targets) are needed for method {method!r}")
    return _taylor_scores(model, x, y)[1]


def _sub_linear(layer: nn.Linear, rows=None, cols=None) -> nn.Linear:
    """A new Linear holding ``layer``'s weight restricted to ``rows`` (outputs) and ``cols`` (inputs)."""
    weight = layer.weight.detach()
    if rows is not None:
        weight = weight[rows]
    if cols is not None:
        weight = weight[:, cols]
    bias = None if layer.bias is None else layer.bias.detach()[rows if rows is not None else slice(None)]
    new = nn.Linear(1, 1, bias=bias is not None)  # then given the sub-weight (no init of empty tensors)
    new.weight = nn.Parameter(weight.clone())
    if bias is not None:
        new.bias = nn.Parameter(bias.clone())
    new.in_features, new.out_features = weight.shape[1], weight.shape[0]
    return new


def _check_keep(name, keep, size, b):
    keep = torch.as_tensor(keep, dtype=torch.long).flatten()
    if len(keep) and (int(keep.min()) < 0 or int(keep.max()) >= size or len(keep.unique()) != len(keep)):
        raise ValueError(f"{name}[{b}] must hold distinct indices in [0, {size - 1}], got {keep.tolist()}")
    return keep.sort().values


def drop_head_columns(weight: torch.Tensor, head: int, head_dim: int) -> torch.Tensor:
    """An attention output projection's weight (C, H*D) without head ``head``'s D columns: (C, (H-1)*D)."""
    if weight.dim() != 2 or weight.shape[1] % head_dim:
        raise ValueError(f"weight must be (C, H*D) with head_dim={head_dim} dividing its columns, got "
                         f"{tuple(weight.shape)}")
    n_head = weight.shape[1] // head_dim
    if not 0 <= head < n_head:
        raise ValueError(f"head must be in [0, {n_head - 1}], got {head!r}")
    return torch.cat([weight[:, :head * head_dim], weight[:, (head + 1) * head_dim:]], dim=1)


@torch.no_grad()
def remove_heads(model: nn.Module, keep: list) -> nn.Module:
    """A copy of ``model`` in which block b keeps only the heads ``keep[b]`` (indices; may be empty).

    q, k and v lose the removed heads' rows, the output projection the same columns."""
    blocks = _check_model(model)
    if len(keep) != len(blocks):
        raise ValueError(f"keep must list the kept heads of each of the {len(blocks)} blocks, "
                         f"got {len(keep)}")
    pruned = copy.deepcopy(model)
    for b, block in enumerate(pruned.blocks):
        attn = block.attn
        heads = _check_keep("keep", keep[b], attn.n_head, b)
        dims = (heads[:, None] * attn.head_dim + torch.arange(attn.head_dim)).flatten()  # kept rows
        attn.q, attn.k, attn.v = (_sub_linear(lin, rows=dims) for lin in (attn.q, attn.k, attn.v))
        attn.proj = _sub_linear(attn.proj, cols=dims)
        attn.n_head = len(heads)
    return pruned


@torch.no_grad()
def remove_mlp_units(model: nn.Module, keep: list) -> nn.Module:
    """A copy of ``model`` in which block b's MLP keeps only the hidden units ``keep[b]`` (indices)."""
    blocks = _check_model(model)
    if len(keep) != len(blocks):
        raise ValueError(f"keep must list the kept units of each of the {len(blocks)} blocks, "
                         f"got {len(keep)}")
    pruned = copy.deepcopy(model)
    for b, block in enumerate(pruned.blocks):
        units = _check_keep("keep", keep[b], block.mlp.fc.out_features, b)
        block.mlp.fc = _sub_linear(block.mlp.fc, rows=units)
        block.mlp.proj = _sub_linear(block.mlp.proj, cols=units)
    return pruned


def _top(scores: torch.Tensor, fraction: float) -> torch.Tensor:
    """Indices of the ``1 - fraction`` highest scores (ties: the earlier index is removed first)."""
    n_keep = len(scores) - round(fraction * len(scores))
    order = scores.argsort(stable=True)  # lowest first
    return order[len(scores) - n_keep:].sort().values


def prune_heads_and_units(model: nn.Module, x: torch.Tensor | None, y: torch.Tensor | None,
                          head_fraction: float = 0.0, unit_fraction: float = 0.0,
                          method: str = "taylor") -> nn.Module:
    """A smaller copy of ``model``: each block loses ``round(head_fraction * n_head)`` of its heads and
    ``round(unit_fraction * hidden)`` of its MLP units, the least important by ``method`` on the
    calibration windows ``x``, ``y``. ``model`` is not changed."""
    check_fraction("head_fraction", head_fraction)
    check_fraction("unit_fraction", unit_fraction)
    check_choice("method", method, UNIT_METHODS)
    heads = head_scores(model, x, y, method)
    units = mlp_unit_scores(model, x, y, method)
    pruned = remove_heads(model, [_top(s, head_fraction) for s in heads])
    return remove_mlp_units(pruned, [_top(s, unit_fraction) for s in units])
