"""Latency: timing a model on this CPU (median and min of repeated runs, with the thread count), and
side-by-side cost tables of dense vs pruned models (params, MACs, bytes, latency per batch size).

Timings are measurements of the machine they ran on: lessons print them and never assert speed ratios
tighter than the noise; ``make bench`` records them in docs/benchmarks.md.
"""

import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn

from ..core.modules import eval_mode
from ..core.tables import format_table
from ..core.validation import check_choice, check_int_in_range, check_positive_int
from ..structured.surgery import prune_channels
from .metrics import count_macs, count_params, model_size_bytes

LATENCY_STATISTICS = ("median", "min")


def measure_costs(models: dict, input_shape, batch_sizes=(1, 64), rounds: int = 5, repeats: int = 5) -> dict:
    """Parameters, MACs per example, bytes and CPU latency of each model in ``{label: model}``.

    ``input_shape`` is one example without the batch dimension, e.g. (1, 8, 8). Returns
    ``{label: {"params", "macs", "bytes", "latency_ms": {"median" | "min": {batch size: ms}}}}``,
    latencies from ``interleaved_latency`` on seeded random inputs.
    """
    if not models:
        raise ValueError("models must hold at least one {label: model} entry, got an empty dict")
    generator = torch.Generator().manual_seed(0)
    costs = {
        label: {
            "params": count_params(m),
            "macs": count_macs(m, input_shape),
            "bytes": model_size_bytes(m),
            "latency_ms": {stat: {} for stat in LATENCY_STATISTICS},
        }
        for label, m in models.items()
    }
    for b in batch_sizes:
        example = torch.randn(check_positive_int("batch_sizes", b), *input_shape, generator=generator)
        timings = interleaved_latency(list(models.values()), example, rounds, repeats)
        for c, timing in zip(costs.values(), timings):
            for stat in LATENCY_STATISTICS:
                c["latency_ms"][stat][b] = timing[stat]
    return costs


def costs_table(costs: dict, statistic: str = "median") -> str:
    """A text table of ``measure_costs``'s result, each cost also as a multiple of the first row's;
    latency is the ``statistic`` ("median" or "min") of the timed runs."""
    check_choice("statistic", statistic, LATENCY_STATISTICS)
    base = next(iter(costs.values()))
    batch_sizes = list(base["latency_ms"][statistic])
    header = ["model", "params", "MACs", "size KB"] + [f"{statistic} ms b={b}" for b in batch_sizes]
    rows = []
    for label, c in costs.items():
        cells = [("params", 1), ("macs", 1), ("bytes", 1e-3)]
        pairs = [(c[k] * scale, base[k] * scale) for k, scale in cells]
        pairs += [(c["latency_ms"][statistic][b], base["latency_ms"][statistic][b]) for b in batch_sizes]
        rows.append([label] + [f"{v:,.{0 if v >= 100 else 2}f} ({v / ref:.2f}x)" for v, ref in pairs])
    return format_table(header, rows, style="text")


def ratio_costs(
    model: nn.Module,
    ratio: float,
    example_input: torch.Tensor,
    batch_sizes=(1, 64),
    rounds: int = 3,
    statistic: str = "min",
) -> str:
    """The slider's work: ``costs_table`` of ``model`` against a copy with ``ratio`` of its channels
    removed (``model`` itself is never changed)."""
    pruned = prune_channels(model, ratio, example_input)
    shape = tuple(example_input.shape[1:])
    models = {"dense": model, f"{ratio:.0%} channels removed": pruned}
    return costs_table(measure_costs(models, shape, batch_sizes, rounds), statistic)


def speedups(
    model: nn.Module,
    example_input: torch.Tensor,
    ratios,
    batch_sizes=(1, 64),
    rounds: int = 5,
    repeats: int = 5,
) -> list[dict]:
    """MAC reduction against measured CPU latency speedup, one uniformly pruned copy per ratio.

    Returns one row per ratio: ``{"ratio", "mac_speedup", "latency_speedup": {"median" | "min":
    {batch size: x}}}``; speedups are dense / pruned, with latencies from ``measure_costs``.
    """
    models = {"dense": model} | {i: prune_channels(model, r, example_input) for i, r in enumerate(ratios)}
    costs = measure_costs(models, tuple(example_input.shape[1:]), batch_sizes, rounds, repeats)
    dense = costs["dense"]["latency_ms"]
    rows = []
    for i, ratio in enumerate(ratios):
        latency = costs[i]["latency_ms"]
        rows.append(
            {
                "ratio": ratio,
                "mac_speedup": costs["dense"]["macs"] / costs[i]["macs"],
                "latency_speedup": {
                    stat: {b: dense[stat][b] / latency[stat][b] for b in batch_sizes}
                    for stat in LATENCY_STATISTICS
                },
            }
        )
    return rows


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
def measure_latency(model: nn.Module, example_input: torch.Tensor, warmup: int = 5,
                    repeats: int = 30) -> Latency:
    """Time ``model(example_input)`` in eval mode: ``warmup`` untimed runs, then the median of ``repeats``."""
    check_positive_int("repeats", repeats)
    check_int_in_range("warmup", warmup, 0)
    times = []
    with eval_mode(model):
        for _ in range(warmup):
            model(example_input)
        for _ in range(repeats):
            start = time.perf_counter()
            model(example_input)
            times.append((time.perf_counter() - start) * 1e3)
    return Latency(statistics.median(times), min(times), max(times), repeats, torch.get_num_threads())


def interleaved_latency(
    models: list[nn.Module], example_input: torch.Tensor, rounds: int = 5, repeats: int = 5
) -> list[dict[str, float]]:
    """CPU latency (ms) of each model on ``example_input``, measured in ``rounds`` alternating turns.

    Each turn times every model with ``measure_latency`` (``repeats`` runs). Returns, per
    model, ``{"median": median over turns of each turn's median, "min": fastest run}``. Alternating
    means a burst of load on a shared machine slows all models alike; the fastest run estimates the
    time without interference at all, which is the steadier figure on a busy machine.
    """
    check_positive_int("rounds", rounds)
    turns = [[measure_latency(m, example_input, warmup=1, repeats=repeats) for m in models]
             for _ in range(rounds)]
    medians = torch.tensor([[t.median_ms for t in turn] for turn in turns]).median(dim=0).values
    fastest = torch.tensor([[t.min_ms for t in turn] for turn in turns]).min(dim=0).values
    return [{"median": m, "min": f} for m, f in zip(medians.tolist(), fastest.tolist())]
