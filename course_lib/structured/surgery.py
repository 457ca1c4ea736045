"""Physical channel removal (lesson 04): a new, really smaller model, not a mask.

For every dependency group (``channel_groups``) the lowest-scoring channels are cut from all its
layers at once: output rows of the producers' weights (Conv (Co, Ci/g, Kh, Kw) or Linear (out, in))
and their biases, the norms' per-channel parameters and statistics (BatchNorm, LayerNorm), depthwise
filters, per-channel parameters (layer scale), and the input columns of the consumers' weights (a
Linear after a flatten loses a block of ``repeat`` = H*W features per channel; a consumer reading a
concatenation loses the columns where the channel sits). ``ratio`` is the fraction of a group's
channels removed: ``round(ratio * C)``, but at least one channel always stays. A grouped conv keeps
its groups: its channels are tied across groups (see :mod:`.graph`), so every group loses the same
slices. ``prune_channels`` and ``prune_groups`` never change the model passed in (they prune a deep
copy); ``shrink_outputs`` and ``shrink_inputs`` edit one layer in place. ``analysis.sensitivity``
builds on ``resolve_group_scores`` and ``prune_groups`` to prune one group at a time.

Saving a pruned model: it is an ordinary module of the same classes with smaller layers, so
``torch.save(pruned)`` keeps it whole (load it with ``torch.load(path, weights_only=False)``, for a
file you trust). To load with ``weights_only=True``, save ``pruned.state_dict()``; to load it, rebuild
the architecture with ``prune_channels(fresh_model, ratio, example_input)`` (the same ratio gives the
same shapes whatever the weights) and call ``load_state_dict`` on it.
"""

import copy
from collections import OrderedDict

import torch
from torch import nn

from ..core.selection import keep_largest
from ..core.validation import check_fraction, check_positive_int
from .graph import ChannelGroup, traced_groups
from .scores import group_scores, n_pruned

_Conv = nn.modules.conv._ConvNd


def _replace_parameter(module: nn.Module, attr: str, tensor: torch.Tensor) -> None:
    old = getattr(module, attr)
    if old is None:
        return
    tensor = tensor.detach().contiguous()  # a fresh copy: every caller passes an indexed tensor
    if isinstance(old, nn.Parameter):
        setattr(module, attr, nn.Parameter(tensor, requires_grad=old.requires_grad))
    else:
        setattr(module, attr, tensor)


@torch.no_grad()
def shrink_outputs(module: nn.Module, kept: torch.Tensor) -> None:
    """Keep only output channels ``kept`` (sorted indices) of a conv, Linear, BatchNorm or LayerNorm,
    in place. A depthwise conv's inputs go with its outputs (its groups shrink alike)."""
    if isinstance(module, _Conv) and module.groups == module.in_channels > 1:
        multiplier = module.out_channels // module.groups
        module.in_channels = module.groups = len(kept) // multiplier
    for attr in ("weight", "bias", "running_mean", "running_var"):
        if getattr(module, attr, None) is not None:
            _replace_parameter(module, attr, getattr(module, attr).index_select(0, kept))
    for attr in ("out_channels", "out_features", "num_features"):
        if hasattr(module, attr):
            setattr(module, attr, len(kept))
    if isinstance(module, nn.LayerNorm):
        module.normalized_shape = (len(kept),)


@torch.no_grad()
def shrink_inputs(module: nn.Module, kept: torch.Tensor, repeat: int = 1) -> None:
    """Keep only input channels ``kept`` (sorted indices) of a conv or Linear, in place; a Linear's
    inputs come in blocks of ``repeat`` features per channel (a flattened (C, H, W) map: repeat = H*W).
    A grouped conv must kept the same positions in every group (its weight holds one group's inputs)."""
    features = (kept[:, None] * repeat + torch.arange(repeat)).flatten()  # (len(kept) * repeat,)
    if isinstance(module, _Conv):
        groups, per_group = module.groups, module.in_channels // module.groups
        if len(features) % groups:
            raise ValueError(f"kept must hold the same number of inputs for each of the {groups} groups")
        within = features.view(groups, -1) - per_group * torch.arange(groups)[:, None]  # (groups, k)
        if not torch.equal(within, within[:1].expand_as(within)):
            raise ValueError(f"kept must hold the same positions in each of the {groups} groups")
        _replace_parameter(module, "weight", module.weight.index_select(1, within[0]))
        module.in_channels = len(features)
    else:
        _replace_parameter(module, "weight", module.weight.index_select(1, features))
        module.in_features = len(features)


def _size(module: nn.Module, side: str) -> int:
    """How many channels a layer has on ``side`` ("in" or "out")."""
    if side == "in":
        return module.weight.shape[1] * getattr(module, "groups", 1)
    if isinstance(module, nn.LayerNorm):
        return module.normalized_shape[0]
    return getattr(module, "num_features", None) or module.weight.shape[0]


def _group_ratios(groups: list[ChannelGroup], ratio) -> dict[str, float]:
    """``ratio`` (one float, or {group or producer name: float}) as {prunable group name: ratio}."""
    prunable = [g for g in groups if g.prunable]
    if not isinstance(ratio, dict):
        ratio = check_fraction("ratio", ratio, allow_one=False)
        return {g.name: ratio for g in prunable}
    owner = {p: g for g in groups for p in g.producers}
    out: dict[str, float] = {}
    for key, value in ratio.items():
        if key not in owner:
            raise ValueError(
                f"ratio has a key {key!r} that is not a prunable layer; allowed: {[g.name for g in prunable]}"
            )
        group = owner[key]
        if not group.prunable:
            raise ValueError(
                f"ratio has a key {key!r} whose output channels reach the model's input or output "
                f"and cannot be pruned; allowed: {[g.name for g in prunable]}"
            )
        value = check_fraction(f"ratio[{key!r}]", value, allow_one=False)
        if out.get(group.name, value) != value:
            raise ValueError(
                f"ratio gives {key!r} {value} but another layer of its group {group.name!r} "
                f"{out[group.name]}: a dependency group has one ratio"
            )
        out[group.name] = value
    return out


def kept_indices(scores: torch.Tensor, ratio: float) -> torch.Tensor:
    """Sorted indices of the channels kept at ``ratio``: the highest ``scores`` (C,), ties by position."""
    return keep_largest(scores, n_pruned(len(scores), ratio)).nonzero().flatten()


def prune_groups(model: nn.Module, groups: list[ChannelGroup], scores: dict[str, torch.Tensor],
                 ratios: dict[str, float]) -> nn.Module:
    """A smaller deep copy of ``model``: from each of ``groups`` named in ``ratios`` (group name ->
    fraction removed), the channels with the lowest ``scores`` (group name -> (C,)) removed."""
    removed: dict[tuple[str, str], list[torch.Tensor]] = {}  # (layer, side) -> positions removed
    for group in groups:
        if ratios.get(group.name, 0.0) == 0.0:
            continue
        if group.name not in scores:
            raise ValueError(
                f"the criterion gives no scores for group {group.name!r} (bn_gamma needs a "
                "BatchNorm): give ratio as a dict without this group"
            )
        kept_mask = torch.zeros(group.channels, dtype=torch.bool)
        kept_mask[kept_indices(scores[group.name], ratios[group.name])] = True
        for (role, name), slots in group.slots.items():
            side = {"consumers": "in", "params": "param"}.get(role, "out")
            removed.setdefault((name, side), []).append(slots.positions[~kept_mask[slots.channels]])
    pruned, shared = _copy_except(model, removed)
    axes = {(name, "param"): slots.axis for g in groups for (role, name), slots in g.slots.items()
            if role == "params"}
    for (name, side), parts in removed.items():
        if side == "param":
            module_name, _, attr = name.rpartition(".")
            module, axis = pruned.get_submodule(module_name), axes[(name, side)]
            size = getattr(module, attr).shape[axis]
        else:
            module = pruned.get_submodule(name)
            size = _size(module, side)
        kept_mask = torch.ones(size, dtype=torch.bool)
        kept_mask[torch.cat(parts)] = False
        kept = kept_mask.nonzero().flatten()
        if side == "param":
            _replace_parameter(module, attr, getattr(module, attr).index_select(axis, kept))
        else:
            (shrink_inputs if side == "in" else shrink_outputs)(module, kept)
    _unshare(pruned, shared)
    return pruned


def _copy_except(model: nn.Module, removed: dict[tuple[str, str], list]) -> tuple[nn.Module, set[int]]:
    """A deep copy of ``model`` that shares, rather than copies, the tensors pruning will replace
    with smaller ones (the layers in ``removed``: {(name, side): ...}), and the ids of those tensors.
    The original is never edited: the copy's layers get new tensors (``_replace_parameter``)."""
    shared = {}
    for name, side in removed:
        if side == "param":
            module_name, _, attr = name.rpartition(".")
            tensors = [getattr(model.get_submodule(module_name), attr)]
        else:
            module = model.get_submodule(name)
            attrs = ("weight",) if side == "in" else ("weight", "bias", "running_mean", "running_var")
            tensors = [getattr(module, a, None) for a in attrs]
        shared.update({id(t): t for t in tensors if t is not None})
    return _clone(model, dict(shared)), set(shared)


_IMMUTABLE = (int, float, bool, str, type(None), torch.dtype, torch.device)


def _clone(value, memo: dict):
    """``copy.deepcopy(value, memo)``, with the shortcuts that make copying a module tree several
    times faster: a module is rebuilt attribute by attribute (what ``deepcopy`` does through
    ``__getstate__``), and numbers, strings, tuples of them and empty dicts (most of a module's hook
    tables) are not walked."""
    if id(value) in memo:
        return memo[id(value)]
    if isinstance(value, nn.Module) and not hasattr(value, "__deepcopy__"):
        new = memo[id(value)] = object.__new__(type(value))
        state = value.__getstate__()
        new.__dict__.update({key: _clone(item, memo) for key, item in state.items()})
        return new
    immutable = type(value) is tuple and all(isinstance(v, _IMMUTABLE) for v in value)
    if immutable or isinstance(value, _IMMUTABLE):
        return value
    if type(value) in (dict, OrderedDict):
        new = memo[id(value)] = type(value)()
        new.update((key, _clone(item, memo)) for key, item in value.items())
        return new
    return copy.deepcopy(value, memo)


def _unshare(pruned: nn.Module, shared: set[int]) -> None:
    """Copy any tensor ``pruned`` still shares with the original (one tied between a pruned layer and
    another), so that the two models never alias."""
    for module in pruned.modules():
        for attr, tensor in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
            if id(tensor) in shared:
                setattr(module, attr, copy.deepcopy(tensor))


def resolve_group_scores(model: nn.Module, groups: list[ChannelGroup], criterion="magnitude", batch=None,
                         scores: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Scores (group name -> (C,)) of the prunable groups: ``scores`` when given (computed elsewhere,
    e.g. averaged over a subset of batches), otherwise ``group_scores(model, groups, criterion, batch)``."""
    if scores is None:
        return group_scores(model, groups, criterion, batch)
    if not isinstance(scores, dict) or not all(isinstance(s, torch.Tensor) for s in scores.values()):
        raise TypeError(f"scores must be a dict of group name -> (C,) tensor, got {type(scores).__name__}")
    return scores


def prune_channels(
    model: nn.Module,
    ratio,
    example_input: torch.Tensor,
    criterion="magnitude",
    batch=None,
    scores: dict[str, torch.Tensor] | None = None,
) -> nn.Module:
    """A new, physically smaller copy of ``model`` with the least important channels removed.

    ``ratio`` in [0, 1) is the fraction of channels removed from every prunable group, or a dict
    ``{layer name: ratio}`` (a group's name or any of its producers; unnamed groups keep all their
    channels). ``example_input`` (B, ...) is a batch the model accepts. ``criterion`` is a registered
    criterion or a ``pruning.Criterion`` (see ``group_scores``); ``batch`` is the calibration data
    of criteria that read data (Taylor); or give precomputed ``scores`` (group name -> (C,)).
    ``model`` itself is not changed, and at ratio 0 the copy computes exactly what ``model`` does.
    When the graph passes a width as a plain number to a function (``F.layer_norm(x, (C,), ...)``),
    the copy is run once on one example, and a forward that hard-codes the width is a ``ValueError``.
    """
    groups, unsure = traced_groups(model, example_input)
    ratios = _group_ratios(groups, ratio)
    scores = resolve_group_scores(model, groups, criterion, batch, scores)
    pruned = prune_groups(model, groups, scores, ratios)
    if unsure:  # a width the trace could not follow: run the copy once to see that it still fits
        _check_forward(model, pruned, example_input)
    return pruned


@torch.no_grad()
def _check_forward(model: nn.Module, pruned: nn.Module, example_input: torch.Tensor) -> None:
    """The pruned copy must still run and return what the model returns, in shape."""
    modes = model.training, pruned.training
    model.eval(), pruned.eval()
    x = example_input[:1]  # one example shows whether it runs
    try:
        expected, got = model(x).shape, pruned(x).shape
    except RuntimeError as err:
        raise ValueError(
            f"{type(model).__name__} no longer runs after channel pruning ({err}); its forward "
            "probably hard-codes a channel count (use x.flatten(1) rather than x.view(-1, N))"
        ) from err
    finally:
        model.train(modes[0]), pruned.train(modes[1])
    if got != expected:
        raise ValueError(f"pruning changed the output shape of {type(model).__name__}: {expected} -> {got}")


@torch.no_grad()
def prune_conv_pair(conv: nn.Conv2d, consumer: nn.Conv2d, n_keep: int) -> tuple[nn.Conv2d, nn.Conv2d]:
    """Copies of ``conv`` with its ``n_keep`` filters of largest L1 norm (in their original order)
    and of ``consumer`` reading only those channels: the smallest dependency group by hand."""
    check_positive_int("n_keep", n_keep)
    if n_keep > conv.out_channels:
        raise ValueError(f"n_keep must be at most conv.out_channels={conv.out_channels}, got {n_keep}")
    conv, consumer = copy.deepcopy(conv), copy.deepcopy(consumer)
    scores = conv.weight.abs().flatten(1).sum(dim=1)  # (Co,) filter L1 norms
    kept = keep_largest(scores, conv.out_channels - n_keep).nonzero().flatten()
    shrink_outputs(conv, kept)
    shrink_inputs(consumer, kept)
    return conv, consumer
