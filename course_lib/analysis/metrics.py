"""What a pruned model costs: parameters, non-zeros, sparsity, bytes, MACs and latency."""

import torch
from torch import nn

from ..core.modules import eval_mode, hooks_attached, prunable_weights


def count_params(model: nn.Module) -> int:
    """All parameters (weights, biases, normalisation), zero or not."""
    return sum(p.numel() for p in model.parameters())


def count_nonzero(model: nn.Module) -> int:
    """Parameters that are not exactly zero."""
    return sum(int(torch.count_nonzero(p)) for p in model.parameters())


def layer_sparsity(model: nn.Module) -> dict[str, float]:
    """Fraction of zeros in each Conv2d/Linear weight, by parameter name."""
    return {
        name: 1.0 - int(torch.count_nonzero(w)) / w.numel()
        for name, w in prunable_weights(model).items()
    }


def overall_sparsity(model: nn.Module) -> float:
    """Fraction of zeros over all Conv2d/Linear weights together."""
    weights = list(prunable_weights(model).values())
    total = sum(w.numel() for w in weights)
    zeros = total - sum(int(torch.count_nonzero(w)) for w in weights)
    return zeros / total


def model_size_bytes(model: nn.Module, nonzero_only: bool = False) -> int:
    """Bytes of the state_dict's tensors; with ``nonzero_only``, the bytes of the non-zero values alone
    (a lower bound for any sparse format, which also stores indices)."""
    tensors = model.state_dict().values()
    if nonzero_only:
        return sum(int(torch.count_nonzero(t)) * t.element_size() for t in tensors)
    return sum(t.numel() * t.element_size() for t in tensors)


def _check_input_shape(input_shape) -> tuple[int, ...]:
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list, torch.Size)) else None
    if not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise ValueError(
            f"input_shape must be a tuple of positive ints for ONE example, without the batch "
            f"dimension (digits: (1, 8, 8)), got {input_shape!r}"
        )
    return shape


def count_macs(model: nn.Module, input_shape, per_layer: bool = False):
    """Multiply-accumulates of one forward pass of one example of shape ``input_shape`` (no batch dim).

    Counts Conv2d and Linear layers (where nearly all the arithmetic is); FLOPs = 2 x MACs, as
    ``torch.utils.flop_counter`` counts them. With ``per_layer`` returns ``{module name: MACs}``.
    """
    shape = _check_input_shape(input_shape)
    macs: dict[str, int] = {}

    def hook(name):
        def record(module, inputs, output):
            # Each output element is one dot product of length fan_in = C_in/groups * kernel area.
            fan_in = module.weight[0].numel()
            macs[name] = macs.get(name, 0) + output.numel() * fan_in

        return record

    hooks = [(module, hook(name)) for name, module in model.named_modules()
             if isinstance(module, (nn.Conv2d, nn.Linear))]
    try:
        with hooks_attached(forward=hooks), torch.no_grad(), eval_mode(model):
            model(torch.zeros(1, *shape))
    except RuntimeError as err:
        raise ValueError(
            f"input_shape {shape} does not fit {type(model).__name__}: the forward pass failed ({err})"
        ) from err
    return macs if per_layer else sum(macs.values())
