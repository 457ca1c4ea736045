"""Physical channel removal (lesson 04): a new, really smaller model, not a mask.

For every dependency group (``channel_groups``) the lowest-scoring channels are cut from all its
layers at once: output rows of the producers' weights (Conv2d (Co, Ci, Kh, Kw) or Linear (out, in))
and their biases, the BatchNorm's per-channel parameters and statistics, and the input columns of
the consumers' weights (a Linear after a flatten loses a block of ``repeat`` = H*W features per
channel). ``ratio`` is the fraction of a group's channels removed: ``round(ratio * C)``, but at
least one channel always stays. ``prune_channels`` and ``prune_groups`` never change the model
passed in (they prune a deep copy); ``shrink_outputs`` and ``shrink_inputs`` edit one layer in place.
``analysis.sensitivity`` builds on ``resolve_group_scores`` and ``prune_groups`` to prune one group at
a time.
"""

import copy

import torch
from torch import nn

from ..core.selection import keep_largest
from ..core.validation import check_fraction, check_positive_int
from .graph import ChannelGroup, channel_groups
from .scores import group_scores, n_pruned


def _replace_parameter(module: nn.Module, attr: str, tensor: torch.Tensor) -> None:
    old = getattr(module, attr)
    if old is None:
        return
    if isinstance(old, nn.Parameter):
        setattr(module, attr, nn.Parameter(tensor.detach().clone(), requires_grad=old.requires_grad))
    else:
        setattr(module, attr, tensor.detach().clone())


@torch.no_grad()
def shrink_outputs(module: nn.Module, kept: torch.Tensor) -> None:
    """Keep only output channels ``kept`` (sorted indices) of a Conv2d, Linear or BatchNorm, in place."""
    for attr in ("weight", "bias", "running_mean", "running_var"):
        if getattr(module, attr, None) is not None:
            _replace_parameter(module, attr, getattr(module, attr)[kept])
    for attr in ("out_channels", "out_features", "num_features"):
        if hasattr(module, attr):
            setattr(module, attr, len(kept))


@torch.no_grad()
def shrink_inputs(module: nn.Module, kept: torch.Tensor, repeat: int = 1) -> None:
    """Keep only input channels ``kept`` of a Conv2d or Linear, in place; a Linear's inputs come in
    blocks of ``repeat`` features per channel (a flattened (C, H, W) map: repeat = H*W)."""
    features = (kept[:, None] * repeat + torch.arange(repeat)).flatten()  # (len(kept) * repeat,)
    _replace_parameter(module, "weight", module.weight[:, features])
    if isinstance(module, nn.Conv2d):
        module.in_channels = len(kept)
    else:
        module.in_features = len(features)


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
    pruned = copy.deepcopy(model)
    modules = dict(pruned.named_modules())
    for group in groups:
        if ratios.get(group.name, 0.0) == 0.0:
            continue
        if group.name not in scores:
            raise ValueError(
                f"the criterion gives no scores for group {group.name!r} (bn_gamma needs a "
                "BatchNorm): give ratio as a dict without this group"
            )
        kept = kept_indices(scores[group.name], ratios[group.name])
        for name in group.producers + group.norms:
            shrink_outputs(modules[name], kept)
        for name, repeat in group.consumers:
            shrink_inputs(modules[name], kept, repeat)
    return pruned


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
    """
    groups = channel_groups(model, example_input)
    ratios = _group_ratios(groups, ratio)
    scores = resolve_group_scores(model, groups, criterion, batch, scores)
    pruned = prune_groups(model, groups, scores, ratios)
    _check_forward(model, pruned, example_input)
    return pruned


@torch.no_grad()
def _check_forward(model: nn.Module, pruned: nn.Module, example_input: torch.Tensor) -> None:
    """The pruned copy must still run and return what the model returns, in shape."""
    modes = model.training, pruned.training
    model.eval(), pruned.eval()
    try:
        expected, got = model(example_input).shape, pruned(example_input).shape
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
