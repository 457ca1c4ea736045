"""Channel permutations for N:M sparsity (lesson 03): reorder the channels between two layers so
that the N:M mask of the layer that reads them keeps more weight magnitude, without changing what
the network computes.

A chain is ``(consumer, producer, norm)``: ``producer`` (Conv2d/Linear) writes C channels, an
optional BatchNorm ``norm`` normalises them, only channel-wise operations follow (ReLU, pooling,
dropout, ...), and ``consumer`` (Conv2d/Linear) reads them in dim 1 of its weight (Co, C, ...).
Permuting the producer's output rows, the norm's per-channel tensors and the consumer's input
columns alike leaves the function unchanged. The chains are found by tracing the model
(``channel_groups``), and the permutation of each is searched on the consumer's weight
(``pruning.search_permutation``, the one-matrix part).
"""

import torch

from ..core.validation import check_positive_int
from ..pruning.nm import kept_magnitude, nm_mask
from ..pruning.permutation import search_permutation
from .graph import channel_groups


def _module(model: torch.nn.Module, name: str, kinds: tuple, argument: str) -> torch.nn.Module:
    modules = dict(model.named_modules())
    if name not in modules or not isinstance(modules[name], kinds):
        allowed = sorted(k for k, v in modules.items() if isinstance(v, kinds))
        raise ValueError(f"{argument} must name one of the model's {[k.__name__ for k in kinds]}: "
                         f"{allowed}, got {name!r}")
    return modules[name]


@torch.no_grad()
def permute_channels(
    model: torch.nn.Module, perm: torch.Tensor, consumer: str, producer: str, norm: str | None = None
) -> torch.nn.Module:
    """Reorder the channels between ``producer`` and ``consumer`` in place; the function is unchanged.

    ``producer`` (Conv2d/Linear) computes the channels, an optional BatchNorm ``norm`` normalises them,
    only channel-wise operations (ReLU, pooling) follow, and ``consumer`` (Conv2d/Linear) reads them.
    New channel i is old channel ``perm[i]``: the producer's output rows (and bias), the norm's
    statistics and affine parameters, and the consumer's input columns are all permuted alike.
    """
    layer_types = (torch.nn.Conv2d, torch.nn.Linear)
    into = _module(model, consumer, layer_types, "consumer")
    out_of = _module(model, producer, layer_types, "producer")
    bn = None if norm is None else _module(model, norm, (torch.nn.modules.batchnorm._BatchNorm,), "norm")
    channels = into.weight.shape[1]
    if not isinstance(perm, torch.Tensor) or not torch.equal(perm.sort().values, torch.arange(channels)):
        raise ValueError(f"perm must be a permutation of range({channels}) (the consumer's input "
                         f"channels), got {perm!r}")
    if out_of.weight.shape[0] != channels or (bn is not None and bn.num_features != channels):
        raise ValueError(f"producer {producer!r} and norm {norm!r} must have {channels} channels to feed "
                         f"consumer {consumer!r}")
    if any(getattr(layer, "groups", 1) != 1 for layer in (into, out_of)):
        raise ValueError("grouped convolutions are not supported: permuting channels would cross groups")
    into.weight.copy_(into.weight[:, perm])
    tensors = [out_of.weight, out_of.bias]
    if bn is not None:
        tensors += [bn.weight, bn.bias, bn.running_mean, bn.running_var]
    for tensor in tensors:
        if tensor is not None:
            tensor.copy_(tensor[perm])
    return model


Chain = tuple[str, str, str | None]  # (consumer, producer, norm or None)


def permutation_chains(model: torch.nn.Module, example_input: torch.Tensor) -> list[Chain]:
    """The ``(consumer, producer, norm)`` chains of ``model`` whose channels a permutation can reorder,
    in the order they run, from its dependency groups (``channel_groups(model, example_input)``).

    A group is a chain when it has one producer, at most one norm and one consumer that reads each
    channel as one input channel, and does not reach the model's output. Left out: residual groups
    (several producers), channels read by several layers, and channels a Linear reads through a
    flatten (each channel is a block of features there), e.g. the ConvNet's conv3 -> fc1.
    """
    chains = []
    for group in channel_groups(model, example_input):
        if not group.prunable or len(group.producers) != 1 or len(group.norms) > 1:
            continue
        if len(group.consumers) != 1 or group.consumers[0][1] != 1 or group.depthwise or group.params:
            continue
        if not all(_whole(model, group, role, name) for role, name in group.slots):
            continue  # a concatenation, a grouped conv or a shuffle: channel c is not position c
        chains.append((group.consumers[0][0], group.producers[0], group.norms[0] if group.norms else None))
    return chains


def _whole(model: torch.nn.Module, group, role: str, name: str) -> bool:
    """Whether layer ``name`` holds exactly the group's channels, channel c at position c."""
    slots, identity = group.slots[(role, name)], torch.arange(group.channels)
    layer = model.get_submodule(name)
    size = layer.weight.shape[slots.axis] * (slots.groups if role == "consumers" else 1)
    return size == group.channels and torch.equal(slots.positions, identity) and torch.equal(
        slots.channels, identity) and slots.groups == 1


def permute_for_nm(model: torch.nn.Module, n: int, m: int, example_input: torch.Tensor) -> list[dict]:
    """Search and apply an input-channel permutation for every chain of ``permutation_chains``.

    ``example_input`` (B, ...) is one batch the model accepts (for tracing). Chains whose consumer
    reads a number of channels that is not a multiple of ``m`` are left out (a permutation moves
    whole channels between groups of ``m``). Modifies ``model`` in place (pass a copy to keep the
    original); its outputs do not change. Returns one row per chain: the consumer's name, ``before``
    and ``after``: kept magnitude under the N:M mask without and with the permutation, and
    ``gain`` = after / before - 1.
    """
    check_positive_int("m", m)
    report = []
    for consumer, producer, norm in permutation_chains(model, example_input):
        weight = _module(model, consumer, (torch.nn.Conv2d, torch.nn.Linear), "consumer").weight
        if weight.shape[1] % m:
            continue
        before = kept_magnitude(weight, nm_mask(weight, n, m))
        permute_channels(model, search_permutation(weight, n, m), consumer, producer, norm)
        after = kept_magnitude(weight, nm_mask(weight, n, m))
        report.append({"layer": consumer, "before": before, "after": after, "gain": after / before - 1})
    return report
