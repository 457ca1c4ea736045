"""Compression table: what each pruning recipe removes from the ConvNet and what it costs in accuracy.

Every row starts from the shipped ConvNet (digits, 450 test images, one image = 0.22 points), with
seed 0 for the data order, so the table is the same on every rerun on one machine. Fine-tuning uses
Adam at lr 1e-3 with the masks held (``train.fine_tune(masks=...)``); channel pruning removes
channels physically and fine-tunes the smaller network. Post-training rows do no training: they use
128 training images as the calibration batch.

"MACs left" counts, per Conv/Linear layer, the multiply-accumulates whose weight is non-zero
(``analysis.count_macs`` times the layer's density): a saving that only zero-skipping hardware or
sparse kernels turn into time, except for channel pruning, whose smaller layers any hardware runs
faster. The wall time is one run of the recipe on this machine with one torch thread, training
included.
"""

import copy
import time

import torch

from course_lib import analysis, core, pruning, recipes, structured, train
from course_lib.data import digits_loaders, digits_splits
from course_lib.models import load_pretrained

CALIBRATION_IMAGES = 128
FINE_TUNE_EPOCHS = {"fine-grained": 20, "2:4": 5, "channel": 10}
LR = 1e-3


def weights_left(model) -> int:
    return sum(int(torch.count_nonzero(w)) for w in core.prunable_weights(model).values())


def macs_left(model) -> float:
    """MACs of one digit image on non-zero weights: sum over layers of MACs x (1 - sparsity)."""
    macs = analysis.count_macs(model, (1, 8, 8), per_layer=True)
    sparsity = analysis.layer_sparsity(model)
    return sum(m * (1 - sparsity[f"{name}.weight"]) for name, m in macs.items())


def fine_grained_agp(dense):
    model = copy.deepcopy(dense)
    epochs = FINE_TUNE_EPOCHS["fine-grained"]
    recipes.gradual_prune(model, digits_loaders(seed=0)[0], 0.9, epochs, ramp_epochs=epochs // 2,
                            lr=LR, progress=False)
    return model


def fine_grained_one_shot(dense):
    model = copy.deepcopy(dense)
    recipes.iterative_prune(model, digits_loaders(seed=0)[0], [0.9], FINE_TUNE_EPOCHS["fine-grained"],
                              lr=LR, progress=False)
    return model


def nm_fine_tuned(dense):
    masks = pruning.nm_masks(dense, 2, 4)
    model = copy.deepcopy(dense)
    train.fine_tune(model, digits_loaders(seed=0)[0], FINE_TUNE_EPOCHS["2:4"], lr=LR, masks=masks,
                    progress=False)
    return model


def channel_fine_tuned(dense):
    example = digits_splits()[0].x[:8]
    model = structured.prune_channels(dense, 0.3, example)
    train.fine_tune(model, digits_loaders(seed=0)[0], FINE_TUNE_EPOCHS["channel"], lr=LR, progress=False)
    return model


def run() -> str:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is as fast and does not stall on a shared CPU
    try:
        return _table()
    finally:
        torch.set_num_threads(threads)


def _table() -> str:
    dense = load_pretrained("convnet")
    train_split = digits_splits().train
    test_loader = digits_loaders().test
    order = torch.randperm(len(train_split), generator=torch.Generator().manual_seed(0))
    calibration = train_split.x[order[:CALIBRATION_IMAGES]]

    def post(method, **target):
        return lambda d: recipes.prune_post_training(d, calibration, method, **target)[0]

    refit = recipes.ScoreMask("wanda", refit=True)
    epochs = FINE_TUNE_EPOCHS
    recipe_table = {
        f"fine-grained 90%, AGP over {epochs['fine-grained']} epochs": fine_grained_agp,
        f"fine-grained 90%, one-shot + {epochs['fine-grained']} epochs fine-tuning": fine_grained_one_shot,
        f"2:4, one-shot + {epochs['2:4']} epochs fine-tuning": nm_fine_tuned,
        f"channel 30% (L1), removed + {epochs['channel']} epochs fine-tuning": channel_fine_tuned,
        "magnitude 50% per row, no retraining": post("magnitude_per_row", sparsity=0.5),
        "Wanda 50% per row, no retraining": post("wanda", sparsity=0.5),
        "Wanda 50% + least squares, no retraining": post(refit, sparsity=0.5),
        "magnitude 2:4, no retraining": post("magnitude_per_row", n=2, m=4),
        "Wanda 2:4, no retraining": post("wanda", n=2, m=4),
        "Wanda 2:4 + least squares, no retraining": post(refit, n=2, m=4),
    }
    dense_accuracy = train.evaluate(dense, test_loader)
    dense_weights, dense_macs = weights_left(dense), macs_left(dense)
    lines = [
        "## Compression: accuracy after each pruning recipe (ConvNet, digits)",
        "",
        __doc__.split("\n\n", 1)[1].strip(),
        "",
        f"Dense: {dense_weights:,} Conv/Linear weights, {dense_macs:,.0f} MACs per image, "
        f"test accuracy {dense_accuracy:.2%}.",
        "",
        "| recipe | weights removed | MACs left | test accuracy | vs dense (points) | wall time |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, recipe in recipe_table.items():
        train.seed_everything(0)
        start = time.perf_counter()
        model = recipe(dense)
        seconds = time.perf_counter() - start
        accuracy = train.evaluate(model, test_loader)
        lines.append(
            f"| {name} | {1 - weights_left(model) / dense_weights:.1%} | "
            f"{macs_left(model) / dense_macs:.1%} | {accuracy:.2%} | "
            f"{100 * (accuracy - dense_accuracy):+.2f} | {seconds:.2f} s |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run())
