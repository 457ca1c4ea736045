"""TODO docstring."""


import torch

from ..pruning.nm import kept_magnitude, nm_mask
from ..pruning.permutation import search_permutation


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


# The ConvNet's producer -> consumer chains a permutation can reorder: (consumer, producer, norm).
# fc1 reads conv3's channels through a flatten (each channel is 4 features), so it is not listed.
CONVNET_CHAINS = (("conv2", "conv1", "bn1"), ("conv3", "conv2", "bn2"), ("fc2", "fc1", None))


def permute_for_nm(model: torch.nn.Module, n: int, m: int, chains=CONVNET_CHAINS) -> list[dict]:
    """Search and apply an input-channel permutation for each ``(consumer, producer, norm)`` chain.

    Modifies ``model`` in place (pass a copy to keep the original); its outputs do not change.
    Returns one row per chain: the consumer's name, ``before`` and ``after``: kept magnitude under the
    N:M mask without and with the permutation, and ``gain`` = after / before - 1.
    """
    report = []
    for consumer, producer, norm in chains:
        weight = _module(model, consumer, (torch.nn.Conv2d, torch.nn.Linear), "consumer").weight
        before = kept_magnitude(weight, nm_mask(weight, n, m))
        permute_channels(model, search_permutation(weight, n, m), consumer, producer, norm)
        after = kept_magnitude(weight, nm_mask(weight, n, m))
        report.append({"layer": consumer, "before": before, "after": after, "gain": after / before - 1})
    return report
