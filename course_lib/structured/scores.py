"""Channel scores: how important is each channel of each dependency group (lesson 04)?

A group is the set of layers that must lose the same channel together (see :mod:`.graph`). Channels
are scored by the kit's one criterion protocol (``pruning.criteria``): a channel is a *unit* whose
weights are the group's producer filters (rows of their weights, with their biases), its BatchNorm
parameters, and the input columns of the layers that read it. Each criterion reads the part it is
about (``reads``): ``"magnitude"`` sums |w| over the producers' filters (Li et al. 2017's L1 norm),
``"bn_gamma"`` reads the BatchNorm scales, ``"next_layer_l2"`` the readers' columns, ``"taylor"``
sums w * dL_b/dw over the filters, biases and BatchNorm parameters per mini-batch b before squaring
and averaging (Molchanov et al. 2019).

Scores are (C,) tensors, higher = more important.
"""

import torch
from torch import nn

from ..core.selection import keep_largest
from ..core.validation import check_positive_int
from ..pruning.calibration import layer_data
from ..pruning.criteria import Part, get_criterion, unit_scores
from .graph import ChannelGroup, channel_groups


def pruned_channels(scores: torch.Tensor, ratio: float) -> torch.Tensor:
    """(C,) bool, True for the channels removed at ``ratio``: the lowest ``scores``, ties by position."""
    return ~keep_largest(scores, n_pruned(len(scores), ratio))


def pruned_overlap(scores: dict[str, torch.Tensor], ratio: float) -> torch.Tensor:
    """(K, K) fraction of the channels criterion i removes at ``ratio`` that criterion j removes too,
    for K criteria scoring the same C channels (``scores``: name -> (C,))."""
    removed = torch.stack([pruned_channels(s, ratio) for s in scores.values()]).float()  # (K, C)
    return removed @ removed.T / removed.sum(dim=1, keepdim=True).clamp(min=1)


def input_channel_norms(weight: torch.Tensor, repeat: int = 1) -> torch.Tensor:
    """L2 norm of each input channel's slice of a consumer's weight.

    ``weight`` is a conv weight (Co, C, Kh, Kw) or a Linear weight (Co, C * repeat) whose input
    features come in blocks of ``repeat`` per channel (a flattened (C, H, W) map: repeat = H*W).
    Returns (C,).
    """
    check_positive_int("repeat", repeat)
    if weight.ndim == 2:
        if weight.shape[1] % repeat:
            raise ValueError(f"repeat={repeat} does not divide the weight's {weight.shape[1]} inputs")
        weight = weight.reshape(weight.shape[0], -1, repeat)  # (Co, C, repeat)
    return weight.transpose(0, 1).flatten(1).norm(dim=1)


def channel_view(group: ChannelGroup, role: str, name: str):
    """A view for the group's part in layer ``name`` (``role``: "producers", "norms" or "consumers"):
    (S, *shape) -> (S, C, k), unit c holding every slice of the layer that belongs to channel c
    (``ChannelGroup.take``: output rows, or the weights that read the channel, wherever a
    concatenation, a shuffle or a grouped conv puts them; zero-padded, which adds nothing to a sum)."""
    def view(t):
        return torch.stack([group.take(role, name, x).reshape(group.channels, -1) for x in t])
    return view


def channel_parts(modules: dict[str, nn.Module], group: ChannelGroup) -> list[Part]:
    """The weights of the group's channels, by role: producers' weights and biases, normalisation
    scales and shifts, and the readers' input columns."""
    parts = []
    for role, kinds in (("producers", ("weight", "bias")), ("norms", ("norm", "bias"))):
        for name in getattr(group, role):
            for attr, kind in zip(("weight", "bias"), kinds):
                param = getattr(modules[name], attr)
                if param is not None:
                    parts.append(Part(f"{name}.{attr}", param, kind, channel_view(group, role, name)))
    for name, _ in group.consumers:
        parts.append(Part(f"{name}.weight", modules[name].weight, "reader",
                          channel_view(group, "consumers", name)))
    return parts


def group_scores(model: nn.Module, groups: list[ChannelGroup], criterion="magnitude",
                 batch=None) -> dict[str, torch.Tensor]:
    """Importance of every channel of every prunable group: ``{group name: (C,) scores}``.

    ``criterion``: a registered name (``pruning.CRITERIA``: ``"magnitude"``, ``"l2"``, ``"bn_gamma"``,
    ``"next_layer_l2"``, ``"taylor"``, ``"random"``, ...) or a ``pruning.Criterion``. Criteria that read
    data need ``batch``: one (inputs, labels) pair or an iterable of pairs (Taylor averages its
    squared per-batch sums over them). A group the criterion cannot read (``bn_gamma`` without a
    BatchNorm) gets no scores.
    """
    criterion = get_criterion(criterion)
    modules = dict(model.named_modules())
    parts = {g.name: channel_parts(modules, g) for g in groups if g.prunable}
    data = {}
    if criterion.needs:
        if batch is None:
            raise ValueError(f"criterion {type(criterion).__name__} needs batch=(inputs, labels) or a list "
                             "of such mini-batches to compute its scores")
        names = sorted({p.name for ps in parts.values() for p in ps})
        data = layer_data(model, batch, criterion.needs, params=names)
    scores = {name: unit_scores(criterion, ps, data) for name, ps in parts.items()}
    return {name: s for name, s in scores.items() if s is not None}


def channel_importance(model: nn.Module, example_input: torch.Tensor, criterion="magnitude",
                       batch=None) -> dict[str, torch.Tensor]:
    """``group_scores`` for every prunable group of ``model`` (see there for the criteria)."""
    return group_scores(model, channel_groups(model, example_input), criterion, batch)


def n_pruned(channels: int, ratio: float) -> int:
    """Channels removed from a group of ``channels`` at ``ratio``: round(ratio * C), leaving at least one."""
    return min(round(ratio * channels), channels - 1)
