"""Channel scores: how important is each channel of each dependency group (lesson 04)?

A group is the set of layers that must lose the same channel together (see :mod:`.graph`). Its
score for channel c combines every weight that produces c. Two kinds of criteria:

- any weight criterion of the kit's one protocol (``pruning.Magnitude()``, ``pruning.Random()``, or
  your own ``criterion(layer, data) -> scores``): its per-weight scores summed over each channel's
  filters in the group's producers;
- channel-level criteria by name (``CRITERIA``), which read what no single weight shows: BatchNorm
  gammas, the consumers' weights, or the first-order Taylor term of a whole channel, squared and
  averaged over mini-batches.

Scores are (C,) tensors, higher = more important.
"""


import torch
import torch.nn.functional as F
from torch import nn

from ..core.modules import eval_mode
from ..core.selection import keep_largest
from ..core.validation import check_choice, check_positive_int
from ..pruning.importance import get_criterion
from .graph import ChannelGroup, channel_groups


def pruned_channels(scores: torch.Tensor, ratio: float) -> torch.Tensor:
    """(C,) bool, True for the channels removed at ``ratio``: the lowest ``scores``, ties by position."""
    return ~keep_largest(scores, n_pruned(len(scores), ratio))


def pruned_overlap(scores: dict[str, torch.Tensor], ratio: float) -> torch.Tensor:
    """(K, K) fraction of the channels criterion i removes at ``ratio`` that criterion j removes too,
    for K criteria scoring the same C channels (``scores``: name -> (C,))."""
    removed = torch.stack([pruned_channels(s, ratio) for s in scores.values()]).float()  # (K, C)
    return removed @ removed.T / removed.sum(dim=1, keepdim=True).clamp(min=1)


CRITERIA = ("l1", "l2", "bn_gamma", "next_layer_l2", "taylor", "random")


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


def _rows(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Per-channel tensors (C, ...) side by side as one (C, k) matrix."""
    return torch.cat([t.detach().reshape(t.shape[0], -1) for t in tensors], dim=1)


def _group_params(modules: dict[str, nn.Module], group: ChannelGroup, roles) -> list[tuple]:
    """(role, layer name, parameter) for the weights and biases of the group's layers in ``roles``."""
    return [(role, n, p) for role in roles for n in getattr(group, role)
            for p in (modules[n].weight, modules[n].bias) if p is not None]


def _is_pair(batch) -> bool:
    return isinstance(batch, (tuple, list)) and len(batch) == 2 and isinstance(batch[0], torch.Tensor)


def _batches(batch) -> list:
    """``batch`` as a list of (inputs, labels) pairs: one pair, or any iterable of pairs (a list, a
    DataLoader, ``itertools.islice(loader, n)``)."""
    if _is_pair(batch):
        batches = [batch]
    else:
        batches = list(batch) if batch is not None and not torch.is_tensor(batch) else []
    if not batches or not all(_is_pair(b) for b in batches):
        raise ValueError(
            "batch must be an (inputs, labels) pair or an iterable of such pairs for the 'taylor' "
            f"criterion, got {batch!r:.80}"
        )
    return batches


def _taylor_products(model: nn.Module, batch) -> dict[torch.Tensor, torch.Tensor]:
    """w * dL/dw for every parameter, from the cross-entropy loss on one (x, y) batch, in eval mode."""
    params = [p for p in model.parameters() if p.requires_grad]
    with eval_mode(model):
        loss = F.cross_entropy(model(batch[0]), batch[1])
        grads = torch.autograd.grad(loss, params, allow_unused=True)
    return {p: p.detach() * g for p, g in zip(params, grads) if g is not None}


def taylor_scores(model: nn.Module, groups: list[ChannelGroup], batch) -> dict[str, torch.Tensor]:
    """First-order Taylor importance of every channel of every prunable group (Molchanov et al. 2019).

    For each mini-batch b, a channel's contribution is z_b = sum of w * dL_b/dw over the channel's
    parameters in the group's producers and BatchNorms: the first-order change of the batch loss when
    they are all set to zero. The score is mean_b z_b^2 over the given mini-batches, the paper's
    squared first-order term averaged over mini-batches. ``batch`` is one (inputs, labels) pair or an
    iterable of pairs; with one pair the ranking is that of |z|, from a single noisy estimate.
    """
    batches = _batches(batch)
    modules = dict(model.named_modules())
    prunable = [g for g in groups if g.prunable]
    totals = {g.name: torch.zeros(g.channels) for g in prunable}
    for pair in batches:
        products = _taylor_products(model, pair)
        for group in prunable:
            params = _group_params(modules, group, ("producers", "norms"))
            z = _rows([group.take(role, n, products.get(p, torch.zeros_like(p)))
                       for role, n, p in params]).sum(dim=1)  # (C,)
            totals[group.name] += z.square()
    return {name: total / len(batches) for name, total in totals.items()}


def group_scores(
    model: nn.Module, groups: list[ChannelGroup], criterion="l1", batch=None, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Importance of every channel of every prunable group: ``{group name: (C,) scores}``.

    Higher means more important. Criteria:
      ``l1`` / ``l2``    norm of the channel's filters in all the group's producers (Li et al. 2017)
      ``bn_gamma``       sum of |gamma| over the group's BatchNorms (network slimming, Liu et al.
                         2017); groups without a BatchNorm get no scores
      ``next_layer_l2``  L2 norm of the weights that read the channel in all consumers
      ``taylor``         (sum of w * dL/dw over the channel's producer and BatchNorm parameters)^2,
                         averaged over the mini-batches in ``batch`` (one (inputs, labels) pair or an
                         iterable of pairs): first-order Taylor, Molchanov et al. 2019; see
                         :func:`taylor_scores`
      ``random``         uniform random scores from ``seed``: the baseline every criterion must beat

    ``criterion`` may also be a weight criterion of the kit's protocol (``pruning.importance``) that
    needs no data, e.g. ``pruning.Magnitude()`` (which gives the same ranking as ``"l1"``).
    """
    if callable(criterion):
        return _weight_criterion_scores(model, groups, get_criterion(criterion))
    check_choice("criterion", criterion, CRITERIA)
    if criterion == "taylor":
        return taylor_scores(model, groups, batch)
    modules = dict(model.named_modules())
    generator = torch.Generator().manual_seed(seed)
    scores = {}
    for group in (g for g in groups if g.prunable):
        weights = [group.take("producers", n, modules[n].weight) for n in group.producers]
        if criterion == "l1":
            score = _rows(weights).abs().sum(dim=1)
        elif criterion == "l2":
            score = _rows(weights).norm(dim=1)
        elif criterion == "bn_gamma":
            gammas = [group.take("norms", n, modules[n].weight) for n in group.norms
                      if modules[n].weight is not None]
            if not gammas:
                continue  # no BatchNorm to read: this criterion cannot rank the group
            score = _rows(gammas).abs().sum(dim=1)
        elif criterion == "next_layer_l2":
            # the weights that read channel c, in every consumer: the L2 norm of the slices of take()
            norms = [group.take("consumers", n, modules[n].weight.detach()).flatten(1).norm(dim=1)
                     for n, _ in group.consumers]
            score = torch.stack(norms).square().sum(dim=0).sqrt()
        else:
            score = torch.rand(group.channels, generator=generator)
        scores[group.name] = score
    return scores


def _weight_criterion_scores(model: nn.Module, groups: list[ChannelGroup], criterion) -> dict:
    """Per-weight scores of a data-free criterion, summed over each channel's filters: (C,) per group."""
    if criterion.needs:
        raise ValueError(f"group_scores takes weight criteria that need no data; {type(criterion).__name__} "
                         f"needs {sorted(criterion.needs)}: use a named channel criterion such as 'taylor'")
    modules = dict(model.named_modules())
    return {g.name: _rows([g.take("producers", n, criterion(modules[n])) for n in g.producers]).sum(dim=1)
            for g in groups if g.prunable}


def channel_importance(
    model: nn.Module, example_input: torch.Tensor, criterion: str = "l1", batch=None
) -> dict[str, torch.Tensor]:
    """``group_scores`` for every prunable group of ``model`` (see there for the criteria)."""
    return group_scores(model, channel_groups(model, example_input), criterion, batch)


def n_pruned(channels: int, ratio: float) -> int:
    """Channels removed from a group of ``channels`` at ``ratio``: round(ratio * C), leaving at least one."""
    return min(round(ratio * channels), channels - 1)
