"""Structured pruning of a transformer (lesson 10): remove whole attention heads and MLP hidden units.

Removing head h of a block deletes rows h*D..(h+1)*D-1 of its query, key and value projections (and
their biases) and the same columns of the attention output projection; removing MLP hidden unit j
deletes row j of the first Linear (and its bias) and column j of the second. What is left is a smaller
dense model: fewer multiply-adds, really faster on any hardware.

Heads and units are scored by the kit's one criterion protocol (``pruning.criteria``), as channels
are: a head is a unit whose weights are its query, key and value rows with their biases (what
``reads="weights"`` or ``"all"`` criteria see) and the output projection's columns that read it (what
``reads="readers"`` criteria see); an MLP unit is its row of the first Linear with its bias, and its
column of the second. ``"taylor"`` sums w * dL_b/dw over a unit's weights per calibration mini-batch
b, squares and averages over the batches (Molchanov et al. 2019). With ``pruning.Taylor(reads=
"readers")`` the sum over a head's output-projection columns equals sum(a * dL/da) over the head's
output activations a: the gate gradient of Michel et al. 2019, squared per batch.

:func:`head_ablation` measures what the scores estimate: the loss increase when a head is removed.
"""

import copy

import torch
from torch import nn

from ..core.modules import eval_mode, hooks_attached
from ..core.selection import keep_largest
from ..core.validation import check_fraction
from ..models.transformer import next_token_loss
from ..pruning.calibration import calibration_batches, layer_data
from ..pruning.criteria import Part, get_criterion, unit_scores


def _check_model(model):
    blocks = getattr(model, "blocks", None)
    if not isinstance(blocks, nn.ModuleList) or not all(hasattr(b, "attn") and hasattr(b, "mlp")
                                                         for b in blocks):
        raise TypeError(f"model must be a CharTransformer-like model with blocks of attn and mlp, got "
                        f"{type(model).__name__}")
    return blocks


def _grouped_rows(units: int):
    """(S, units * d, ...) -> (S, units, k): consecutive rows belong to one unit (a head's D rows)."""
    return lambda t: t.reshape(t.shape[0], units, -1)


def _grouped_columns(units: int):
    """(S, C, units * d) -> (S, units, C * d): consecutive columns belong to one unit."""
    def view(t):
        s, c = t.shape[:2]
        return t.reshape(s, c, units, -1).transpose(1, 2).reshape(s, units, -1)
    return view


def _linear_parts(prefix: str, layer: nn.Linear, view) -> list[Part]:
    parts = [Part(f"{prefix}.weight", layer.weight, "weight", view)]
    if layer.bias is not None:
        parts.append(Part(f"{prefix}.bias", layer.bias, "bias", view))
    return parts


def head_parts(model: nn.Module, b: int) -> list[Part]:
    """The weights of block ``b``'s attention heads: q, k, v rows and biases, output-projection columns."""
    attn = _check_model(model)[b].attn
    rows = _grouped_rows(attn.n_head)
    parts = [p for name in ("q", "k", "v")
             for p in _linear_parts(f"blocks.{b}.attn.{name}", getattr(attn, name), rows)]
    readers = _grouped_columns(attn.n_head)
    return parts + [Part(f"blocks.{b}.attn.proj.weight", attn.proj.weight, "reader", readers)]


def unit_parts(model: nn.Module, b: int) -> list[Part]:
    """The weights of block ``b``'s MLP units: rows (and biases) of the first Linear, columns of the
    second."""
    mlp = _check_model(model)[b].mlp
    hidden = mlp.fc.out_features
    return _linear_parts(f"blocks.{b}.mlp.fc", mlp.fc, _grouped_rows(hidden)) + [
        Part(f"blocks.{b}.mlp.proj.weight", mlp.proj.weight, "reader", _grouped_columns(hidden))]


def _scores(model, parts_of, criterion, batch) -> list[torch.Tensor]:
    criterion = get_criterion(criterion)
    blocks = _check_model(model)
    parts = [parts_of(model, b) for b in range(len(blocks))]
    data = {}
    if criterion.needs:
        if batch is None:
            raise ValueError(f"criterion {type(criterion).__name__} needs batch: calibration windows and "
                             "their next-character targets (x, y), or a list of such mini-batches")
        names = [p.name for ps in parts for p in ps]
        data = layer_data(model, batch, criterion.needs, params=names, loss_fn=next_token_loss)
    return [unit_scores(criterion, ps, data) for ps in parts]


def head_scores(model: nn.Module, criterion="taylor", batch=None) -> list[torch.Tensor]:
    """Importance of every attention head: one tensor (n_head,) per block, higher = more important.

    ``criterion``: a registered name or a ``pruning.Criterion``; ``batch``: calibration windows and
    their next-character targets (x, y) (B, T) from training text, or a list of such mini-batches
    (Taylor averages over them). The model is not changed."""
    return _scores(model, head_parts, criterion, batch)


def mlp_unit_scores(model: nn.Module, criterion="taylor", batch=None) -> list[torch.Tensor]:
    """Importance of every MLP hidden unit: one tensor (hidden,) per block, higher = more important."""
    return _scores(model, unit_parts, criterion, batch)


@torch.no_grad()
def head_ablation(model: nn.Module, batch) -> list[torch.Tensor]:
    """The measured importance of every head: the increase of the mean loss on ``batch`` ((x, y) or a
    list of mini-batches) when the head's output is removed (its output-projection columns zeroed),
    one forward pass per head. One tensor (n_head,) per block; the model is restored afterwards."""
    blocks = _check_model(model)
    batches = calibration_batches(batch)

    def loss(b):  # the mean loss, run from block b on: the blocks before it are unchanged
        total = sum(float(next_token_loss(model.forward_from(b, states[b]), y)) * len(y)
                    for states, (_, y) in zip(entering, batches))
        return total / sum(len(y) for _, y in batches)

    scores = []
    with eval_mode(model):
        entering = [_block_inputs(model, x) for x, _ in batches]  # per batch: what enters each block
        base = loss(0)
        for b, block in enumerate(blocks):
            attn = block.attn
            row = torch.zeros(attn.n_head)
            for h in range(attn.n_head):
                cols = slice(h * attn.head_dim, (h + 1) * attn.head_dim)
                saved = attn.proj.weight[:, cols].clone()
                attn.proj.weight[:, cols] = 0  # head h's output no longer reaches the residual stream
                try:
                    row[h] = loss(b) - base
                finally:
                    attn.proj.weight[:, cols] = saved
            scores.append(row)
    return scores


def _block_inputs(model: nn.Module, idx: torch.Tensor) -> list[torch.Tensor]:
    """The residual stream (B, T, C) entering each block of ``model`` for token ids ``idx`` (B, T)."""
    entering = []
    record = lambda module, args: entering.append(args[0])  # noqa: E731
    with hooks_attached(pre=[(block, record) for block in model.blocks]):
        model(idx)
    return entering


def _copy_for_removal(model: nn.Module, kept: list, what: str) -> nn.Module:
    """A copy of ``model`` to remove ``what`` from, once ``kept`` names one list per block."""
    blocks = _check_model(model)
    if len(kept) != len(blocks):
        raise ValueError(f"kept must list the kept {what} of each of the {len(blocks)} blocks, "
                         f"got {len(kept)}")
    return copy.deepcopy(model)


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


def _check_kept(name, kept, size, b):
    kept = torch.as_tensor(kept, dtype=torch.long).flatten()
    if len(kept) and (int(kept.min()) < 0 or int(kept.max()) >= size or len(kept.unique()) != len(kept)):
        raise ValueError(f"{name}[{b}] must hold distinct indices in [0, {size - 1}], got {kept.tolist()}")
    return kept.sort().values


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
def remove_heads(model: nn.Module, kept: list) -> nn.Module:
    """A copy of ``model`` in which block b keeps only the heads ``kept[b]`` (indices; may be empty).

    q, k and v lose the removed heads' rows, the output projection the same columns."""
    pruned = _copy_for_removal(model, kept, "heads")
    for b, block in enumerate(pruned.blocks):
        attn = block.attn
        heads = _check_kept("kept", kept[b], attn.n_head, b)
        dims = (heads[:, None] * attn.head_dim + torch.arange(attn.head_dim)).flatten()  # kept rows
        attn.q, attn.k, attn.v = (_sub_linear(lin, rows=dims) for lin in (attn.q, attn.k, attn.v))
        attn.proj = _sub_linear(attn.proj, cols=dims)
        attn.n_head = len(heads)
    return pruned


@torch.no_grad()
def remove_mlp_units(model: nn.Module, kept: list) -> nn.Module:
    """A copy of ``model`` in which block b's MLP keeps only the hidden units ``kept[b]`` (indices)."""
    pruned = _copy_for_removal(model, kept, "units")
    for b, block in enumerate(pruned.blocks):
        units = _check_kept("kept", kept[b], block.mlp.fc.out_features, b)
        block.mlp.fc = _sub_linear(block.mlp.fc, rows=units)
        block.mlp.proj = _sub_linear(block.mlp.proj, cols=units)
    return pruned


def _kept(scores: torch.Tensor, fraction: float) -> torch.Tensor:
    """Sorted indices of the units kept when ``round(fraction * len(scores))`` of the lowest go."""
    return keep_largest(scores, round(fraction * len(scores))).nonzero().flatten()


def prune_heads_and_units(model: nn.Module, batch=None, head_fraction: float = 0.0,
                          unit_fraction: float = 0.0, criterion="taylor") -> nn.Module:
    """A smaller copy of ``model``: each block loses ``round(head_fraction * n_head)`` of its heads and
    ``round(unit_fraction * hidden)`` of its MLP units, the least important by ``criterion`` on the
    calibration data ``batch`` (see :func:`head_scores`). ``model`` is not changed."""
    check_fraction("head_fraction", head_fraction)
    check_fraction("unit_fraction", unit_fraction)
    heads = head_scores(model, criterion, batch)
    units = mlp_unit_scores(model, criterion, batch)
    pruned = remove_heads(model, [_kept(s, head_fraction) for s in heads])
    return remove_mlp_units(pruned, [_kept(s, unit_fraction) for s in units])
