"""Lesson 10: pruning the character language model after training.

Times ``recipes.prune_post_training`` over the whole shipped ``charlm`` model (every Linear of its 4 blocks)
for the four methods at 50% unstructured and 2:4, from 4,096 calibration characters of training text,
with one torch thread and with all of them (on a busy shared machine the single-thread figure is the
steadier one), and measures the validation perplexity table (50%, 4:8, 2:4) on the first 16,384
validation characters, with each method's paired loss difference from the dense model, beside the
Wanda paper's LLaMA-2-7B figures (per token: another unit). Then the same table after lesson 10's
function-preserving rescaling (8 hidden channels made 32x louder, the model's outputs identical to the
bit), with each method's paired loss change caused by the rescaling alone.
"""

import torch
from common import fmt_seconds, time_call

from course_lib import analysis, data, models, recipes
from course_lib.core import markdown_table

PATTERNS = {"50%": dict(sparsity=0.5), "4:8": dict(n=4, m=8), "2:4": dict(n=2, m=4)}
RESCALED_CHANNELS, ALPHA = 8, 32.0  # lesson 10's outlier features: 8 random channels (seed 0) made 32x louder
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
    order = torch.randperm(dense.config.width, generator=torch.Generator().manual_seed(0))
    channels = order[:RESCALED_CHANNELS]
    louder = models.rescale_features(dense, channels.tolist(), ALPHA)
    table_rows = [["dense", "-", f"{analysis.perplexity(dense_losses):.3f}", "-", f"{llama['dense']:.2f}"]]
    rescaled_rows = []
    for pattern, target in PATTERNS.items():
        for method in recipes.METHODS:
            pruned, _ = recipes.prune_post_training(dense, calibration, method, **target)
            losses = analysis.window_losses(pruned, splits.validation)
            paper = f"{llama[pattern][PAPER[method]]:.2f}" if method in PAPER else "-"
            table_rows.append([method, pattern, f"{analysis.perplexity(losses):.3f}",
                               interval(analysis.compare_losses(losses, dense_losses)), paper])
            pruned_louder, _ = recipes.prune_post_training(louder, calibration, method, **target)
            louder_losses = analysis.window_losses(pruned_louder, splits.validation)
            rescaled_rows.append([method, pattern, f"{analysis.perplexity(losses):.3f}",
                                  f"{analysis.perplexity(louder_losses):.3f}",
                                  interval(analysis.compare_losses(louder_losses, losses))])
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
        "",
        f"After rescaling {RESCALED_CHANNELS} hidden channels by {ALPHA:g} (`models.rescale_features`: the "
        "same function, now with outlier features), the same methods and patterns; the last column is the "
        "paired loss change the rescaling alone causes (nats/char, 95% interval):",
        "",
        markdown_table(["method", "pattern", "perplexity before", "perplexity after rescaling",
                        "loss change"], rescaled_rows),
    ])


def interval(result) -> str:
    """A paired loss difference as '+d [low, high]' (nats/char)."""
    return "{:+.4f} [{:+.4f}, {:+.4f}]".format(result.difference, *result.interval)


if __name__ == "__main__":
    print(run())
