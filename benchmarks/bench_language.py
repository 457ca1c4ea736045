"""Lesson 10: pruning the character language model after training.

Times ``recipes.prune_post_training`` over the whole shipped ``charlm`` model (every Linear of its 4 blocks)
for the four methods at 50% unstructured and 2:4, from 4,096 calibration characters of training text,
with one torch thread and with all of them (on a busy shared machine the single-thread figure is the
steadier one), and measures the validation perplexity table (50%, 4:8, 2:4) on the first 32,768
validation characters, with each method's paired loss difference from the dense model, beside the
Wanda paper's LLaMA-2-7B figures (per token: another unit).
"""

import torch
from common import fmt_seconds, time_call

from course_lib import analysis, data, models, recipes
from course_lib.core import markdown_table

PATTERNS = {"50%": dict(sparsity=0.5), "4:8": dict(n=4, m=8), "2:4": dict(n=2, m=4)}
PAPER = {"magnitude": "magnitude", "wanda": "wanda", "sparsegpt": "sparsegpt"}  # magnitude_per_row: none


def timed_with_threads(fn, threads: int, repeats: int = 3) -> str:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return fmt_seconds(time_call(fn, repeats=repeats, warmup=1))
    finally:
        torch.set_num_threads(previous)


def run() -> str:
    splits = data.shakespeare_splits()
    dense = models.load_pretrained("charlm")
    calibration = data.calibration_windows(splits.train, dense.context, n_windows=64)
    thread_counts = sorted({1, torch.get_num_threads()})
    timing_rows = []
    for pattern in ("50%", "2:4"):
        for method in recipes.METHODS:
            def prune(method=method, pattern=pattern):
                return recipes.prune_post_training(dense, calibration, method, **PATTERNS[pattern])
            times = [timed_with_threads(prune, t) for t in thread_counts]
            timing_rows.append([f"{method}, {pattern}", *times])
    llama = analysis.WANDA_LLAMA2_WIKITEXT["7B"]
    dense_losses = analysis.window_losses(dense, splits.validation)
    table_rows = [["dense", "-", f"{analysis.perplexity(dense_losses):.3f}", "-", f"{llama['dense']:.2f}"]]
    for pattern, target in PATTERNS.items():
        for method in recipes.METHODS:
            pruned, _ = recipes.prune_post_training(dense, calibration, method, **target)
            losses = analysis.window_losses(pruned, splits.validation)
            diff = analysis.compare_losses(losses, dense_losses)
            paper = f"{llama[pattern][PAPER[method]]:.2f}" if method in PAPER else "-"
            table_rows.append([method, pattern, f"{analysis.perplexity(losses):.3f}",
                               "{:+.4f} [{:+.4f}, {:+.4f}]".format(diff.difference, *diff.interval), paper])
    layers = recipes.prunable_layers(dense, recipes.default_blocks(dense))
    blocks = sum(m.weight.numel() for m in layers.values())
    return "\n".join([
        "## Lesson 10: pruning the character language model",
        "",
        f"`recipes.prune_post_training` over all {len(layers)} block Linear layers ({blocks:,} weights), "
        f"{calibration.numel():,} calibration characters; median (min-max) of 3 runs:",
        "",
        markdown_table(["method, pattern"] + [f"{t} thread(s)" for t in thread_counts], timing_rows),
        "",
        f"Validation perplexity **per character** on the first {analysis.EVAL_CHARS:,} validation characters "
        "(paired loss difference from dense in nats/char, 95% bootstrap interval over windows), beside "
        "LLaMA-2-7B's WikiText-2 perplexity **per token** in Sun et al. 2023 (another model and unit: "
        "compare the order of methods, not the numbers):",
        "",
        markdown_table(["method", "pattern", "perplexity (per char)", "loss − dense",
                        "LLaMA-2-7B (per token)"], table_rows),
    ])


if __name__ == "__main__":
    print(run())
