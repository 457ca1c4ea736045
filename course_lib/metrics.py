"""What a pruned model costs: parameters, non-zeros, sparsity, bytes, MACs and latency."""

import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn

from .pruning import prunable_weights
from .validation import check_positive_int


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

    handles = [
        module.register_forward_hook(hook(name))
        for name, module in model.named_modules()
        if isinstance(module, (nn.Conv2d, nn.Linear))
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *shape))
    except RuntimeError as err:
        raise ValueError(
            f"input_shape {shape} does not fit {type(model).__name__}: the forward pass failed ({err})"
        ) from err
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return macs if per_layer else sum(macs.values())


@dataclass(frozen=True)
class Latency:
    """Wall-clock time of one forward pass, in milliseconds, over ``repeats`` timed runs."""

    median_ms: float
    min_ms: float
    max_ms: float
    repeats: int
    threads: int

    def __str__(self) -> str:
        return (
            f"{self.median_ms:.3f} ms (min {self.min_ms:.3f}, max {self.max_ms:.3f}, "
            f"{self.repeats} runs, {self.threads} threads)"
        )


@torch.no_grad()
def measure_latency(model: nn.Module, example: torch.Tensor, warmup: int = 5, repeats: int = 30) -> Latency:
    """Time ``model(example)`` in eval mode: ``warmup`` untimed runs, then the median of ``repeats``."""
    check_positive_int("repeats", repeats)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an int >= 0, got {warmup!r}")
    was_training = model.training
    model.eval()
    for _ in range(warmup):
        model(example)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(example)
        times.append((time.perf_counter() - start) * 1e3)
    model.train(was_training)
    return Latency(statistics.median(times), min(times), max(times), repeats, torch.get_num_threads())


def interleaved_latency(
    models: list[nn.Module], example: torch.Tensor, rounds: int = 5, repeats: int = 5
) -> list[dict[str, float]]:
    """CPU latency (ms) of each model on ``example``, measured in ``rounds`` alternating turns.

    Each turn times every model with ``measure_latency`` (``repeats`` runs). Returns, per
    model, ``{"median": median over turns of each turn's median, "min": fastest run}``. Alternating
    means a burst of load on a shared machine slows all models alike; the fastest run estimates the
    time without interference at all, which is the steadier figure on a busy machine.
    """
    check_positive_int("rounds", rounds)
    turns = [[measure_latency(m, example, warmup=1, repeats=repeats) for m in models] for _ in range(rounds)]
    medians = torch.tensor([[t.median_ms for t in turn] for turn in turns]).median(dim=0).values
    fastest = torch.tensor([[t.min_ms for t in turn] for turn in turns]).min(dim=0).values
    return [{"median": m, "min": f} for m, f in zip(medians.tolist(), fastest.tolist())]
