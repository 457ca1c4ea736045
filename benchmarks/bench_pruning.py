"""Pruning-core speed: global magnitude masks over ResNet-50 against torch.nn.utils.prune.

ResNet-50 is built by torchvision with random weights (no download): 25.5M Conv2d/Linear weights.
Both sides prune 90% of them with one global threshold. torch.nn.utils.prune also attaches the masks
(weight_orig, weight_mask buffers, forward hooks); each of its runs gets a fresh copy of the model,
copied outside the timed region.
"""

import copy
import statistics
import time

import torch
import torchvision
from common import fmt_seconds, time_call
from torch import nn
from torch.nn.utils import prune

from course_lib import core, pruning

SPARSITY = 0.9
REPEATS = 3


def _time_torch_prune(model: torch.nn.Module) -> tuple[tuple[float, float, float], dict]:
    times, masks = [], {}
    for _ in range(REPEATS):
        fresh = copy.deepcopy(model)
        layers = [(m, "weight") for m in fresh.modules() if isinstance(m, core.PRUNABLE_TYPES)]
        start = time.perf_counter()
        prune.global_unstructured(layers, pruning_method=prune.L1Unstructured, amount=SPARSITY)
        times.append(time.perf_counter() - start)
        names = [name for name, m in fresh.named_modules() if isinstance(m, core.PRUNABLE_TYPES)]
        masks = {f"{name}.weight": m.weight_mask.bool() for name, (m, _) in zip(names, layers)}
    return (statistics.median(times), min(times), max(times)), masks


def _with_threads(threads: int, fn):
    """Run ``fn()`` with torch limited to ``threads`` intra-op threads, restoring the setting after."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return fn()
    finally:
        torch.set_num_threads(before)


def run() -> str:
    torch.manual_seed(0)
    model = torchvision.models.resnet50()  # random weights, nothing downloaded
    total = sum(w.numel() for w in core.prunable_weights(model).values())
    default_threads = torch.get_num_threads()

    rows = []
    speedups = []
    for threads in sorted({default_threads, 1}, reverse=True):
        ours = _with_threads(threads, lambda: time_call(
            lambda: pruning.global_magnitude_masks(model, SPARSITY), repeats=REPEATS))
        theirs, torch_masks = _with_threads(threads, lambda: _time_torch_prune(model))
        rows += [
            f"| `pruning.global_magnitude_masks` | {threads} | {fmt_seconds(ours)} |",
            f"| `torch.nn.utils.prune.global_unstructured` (L1) | {threads} | {fmt_seconds(theirs)} |",
        ]
        speedups.append(f"{theirs[0] / ours[0]:.1f}x with {threads} thread{'s' if threads > 1 else ''}")
    def conv_masks(granularity):
        return pruning.granularity_masks(model, SPARSITY, granularity, layer_types=(nn.Conv2d,))

    for g in ("kernel", "channel", "pattern"):
        t = time_call(lambda g=g: conv_masks(g), repeats=REPEATS)
        rows.append(f"| `pruning.granularity_masks(..., {g!r})`, every conv layer | {default_threads} | "
                    f"{fmt_seconds(t)} |")

    our_masks = pruning.global_magnitude_masks(model, SPARSITY)
    pruned = sum(int((~m).sum()) for m in our_masks.values())
    torch_pruned = sum(int((~m).sum()) for m in torch_masks.values())
    differ = sum(int((our_masks[k] != torch_masks[k]).sum()) for k in our_masks)
    agreement = ("the masks are identical" if differ == 0 else
                 f"the masks differ at {differ:,} positions: ties at the threshold, broken differently")
    return "\n".join(
        [
            "## Pruning core: global magnitude masks on ResNet-50",
            "",
            f"torchvision `resnet50()` with random weights: {total:,} Conv2d/Linear weights, "
            f"{SPARSITY:.0%} pruned with one global threshold; median (min-max) of {REPEATS} runs. "
            "torch.nn.utils.prune also attaches its masks to the model (a fresh copy per run, copied "
            "outside the timing). On a shared machine, one thread avoids waiting for a busy second core.",
            "",
            "| what | torch threads | time |",
            "| --- | --- | --- |",
            *rows,
            "",
            f"Speed-up over torch.nn.utils.prune (medians): {', '.join(speedups)}. Both prune exactly "
            f"{pruned:,} weights (torch: {torch_pruned:,}); {agreement}.",
            "",
        ]
    )


if __name__ == "__main__":
    print(run())
