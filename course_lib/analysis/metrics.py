"""What a pruned model costs: parameters, non-zeros, sparsity, bytes, MACs and latency."""

from contextlib import contextmanager

import torch
from torch import nn
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode

from ..core.modules import eval_mode, prunable_weights


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


# Operations torch.utils.flop_counter has a formula for elsewhere but not under this name: PyTorch
# runs F.scaled_dot_product_attention on the CPU as its own fused kernel, which the counter's table
# lacks (pytorch/pytorch#195460, fixed after 2.14), so it would count that attention as 0 FLOPs.
def _sdpa_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return flop_counter.sdpa_flop_count(query_shape, key_shape, value_shape)  # (B, H, L, E) shapes


_MISSING_FORMULAS = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_flops}


@contextmanager
def _attention_unfused():
    """Run nn.MultiheadAttention through its composite path (linear projections and
    scaled_dot_product_attention), which the counter sees, not its inference fast path (one fused
    kernel the counter has no formula for)."""
    enabled = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(enabled)


def count_macs(model: nn.Module, input_shape, per_layer: bool = False):
    """Multiply-accumulates of one forward pass of one example of shape ``input_shape`` (no batch dim).

    Counted by ``torch.utils.flop_counter.FlopCounterMode`` at the dispatcher, so every matrix
    product counts: convolutions, linear layers and functional ones (``F.linear``, ``torch.matmul``,
    ``bmm``, ``F.scaled_dot_product_attention``, attention inside ``nn.MultiheadAttention``); MACs =
    FLOPs / 2, as the counter counts 2 FLOPs per multiply-add. Elementwise work (activations,
    normalisation, pooling) is not counted. A model on the ``meta`` device (built under
    ``with torch.device("meta"):``) is counted without computing anything. With ``per_layer``
    returns ``{module name: MACs}`` for the modules that do the arithmetic themselves (not through a
    child), whose values sum to the total.
    """
    shape = _check_input_shape(input_shape)
    first = next(model.parameters(), None)  # the example goes where the weights are (CPU, GPU, meta)
    example = torch.zeros(1, *shape, device=None if first is None else first.device)
    counter = FlopCounterMode(display=False, custom_mapping=_MISSING_FORMULAS)
    try:
        with torch.no_grad(), eval_mode(model), _attention_unfused(), counter:
            model(example)
    except RuntimeError as err:
        raise ValueError(
            f"input_shape {shape} does not fit {type(model).__name__}: the forward pass failed ({err})"
        ) from err
    if not per_layer:
        return counter.get_total_flops() // 2
    # The counter keys each module by its class name and path ("ResNet.layer1.0.conv1"); a parent's
    # count includes its children's.
    totals = {name: sum(counter.get_flop_counts().get(_counter_key(model, name), {}).values())
              for name, _ in model.named_modules()}
    own = {}
    for name, module in model.named_modules():
        children = sum(totals[f"{name}.{child}" if name else child] for child, _ in module.named_children())
        if totals[name] > children:
            own[name] = (totals[name] - children) // 2
    return own


def _counter_key(model: nn.Module, name: str) -> str:
    root = type(model).__name__
    return f"{root}.{name}" if name else root
