"""N:M sparsity: 2:4 masks and compression over a whole ResNet-50, and the channel-permutation search.

torchvision's ``resnet50()`` is built without weights (random initialisation: the time depends on the
shapes, not on the values). Every Conv2d/Linear whose reduction size 4 divides gets a 2:4 mask (the
stem conv, K = 3·7·7 = 147, is left dense as ASP does); the same layers are compressed in fp16 to
values + 2-bit metadata. The permutation search runs on random 512x512 (Linear-shaped) weights.
Each step is timed with one torch thread and with all of them: on a busy shared machine, extra
threads wait for each other and the single-thread figure is the steadier one.
"""

import torch
import torchvision
from common import fmt_seconds, time_call

from course_lib.core import prunable_weights
from course_lib.hardware import compress_nm
from course_lib.pruning import kept_magnitude, nm_incompatible, nm_mask, nm_masks, search_permutation


def timed_with_threads(fn, threads: int, repeats: int = 3, warmup: int = 1) -> str:
    """``fmt_seconds`` of ``fn`` run with ``threads`` torch threads (restored afterwards)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return fmt_seconds(time_call(fn, repeats=repeats, warmup=warmup))
    finally:
        torch.set_num_threads(previous)


def run() -> str:
    torch.manual_seed(0)
    thread_counts = sorted({1, torch.get_num_threads()})
    model = torchvision.models.resnet50()
    masks, skipped = nm_masks(model, 2, 4), nm_incompatible(model, 4)
    weights = prunable_weights(model)
    masked = sum(weights[name].numel() for name in masks)
    half = [weights[name].detach().half() for name in masks]
    compressed = [compress_nm(w, 2, 4) for w in half]
    stored = sum(c.nbytes for c in compressed)
    dense_bytes = sum(c.dense_bytes for c in compressed)
    steps = {
        "`nm_masks(resnet50, 2, 4)`": (lambda: nm_masks(model, 2, 4), f"{len(masks)} masks"),
        "`compress_nm` on every masked layer (fp16)": (
            lambda: [compress_nm(w, 2, 4) for w in half],
            f"{stored / 2**20:.1f} MiB of {dense_bytes / 2**20:.1f} MiB dense ({stored / dense_bytes:.4f})",
        ),
    }
    left_dense = ", ".join(f"{name} (K = {k})" for name, k in skipped.items())
    lines = [
        "## N:M sparsity: 2:4 masks, compression, channel permutation",
        "",
        f"torchvision ResNet-50 (no weights): 2:4 masks on {len(masks)} Conv2d/Linear weights "
        f"({masked / 1e6:.1f}M weights; left dense: {left_dense}). Compression stores the kept fp16 "
        "values and 2-bit positions. Target: masks in about 1 s on a 2-core CPU. Each step is timed "
        "with one torch thread and with all of them (on a busy shared machine the single-thread "
        "figure is the steadier one).",
        "",
        "| step | threads | time (median, min-max) | result |",
        "| --- | --- | --- | --- |",
    ]
    for step, (fn, result) in steps.items():
        for threads in thread_counts:
            lines.append(f"| {step} | {threads} | {timed_with_threads(fn, threads)} | {result} |")

    lines += [
        "",
        "Channel-permutation search (`search_permutation`, greedy channel swaps) on random "
        "512x512 weights; gain = kept |w| under the mask after / before - 1.",
        "",
        "| pattern | weight | threads | search time (median, min-max) | kept-magnitude gain |",
        "| --- | --- | --- | --- | --- |",
    ]
    for n, m in ((2, 4), (4, 8)):
        weight = torch.randn(512, 512, generator=torch.Generator().manual_seed(n * m))
        permuted = weight[:, search_permutation(weight, n, m)]
        before = kept_magnitude(weight, nm_mask(weight, n, m))
        gain = kept_magnitude(permuted, nm_mask(permuted, n, m)) / before - 1
        def search(w=weight, n=n, m=m):
            return search_permutation(w, n, m)

        for threads in thread_counts:
            search_time = timed_with_threads(search, threads, warmup=0)
            lines.append(f"| {n}:{m} | 512x512 N(0, 1) | {threads} | {search_time} | {gain:+.2%} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run())
