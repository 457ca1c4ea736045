"""Checks for lesson 06's exercises (the three stages of pruning)."""

import torch

from ..core.seeds import seed_offset, shifted
from ..data import digits_splits, make_loader
from ..models import load_pretrained
from ..pruning import wanda_scores as _wanda_scores
from ..recipes import adapter_parameters as _adapter_parameters
from ..recipes import lora_linear as _lora_linear
from ..recipes import prune_post_training
from ..recipes.post_training import POST_TRAINING_RECIPES, choose_post_training, post_training_sweep
from ..train import evaluate
from . import Case, CheckResult, call_learner, exercise, run_check


def _random(*shape, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@exercise("6.1", mirrors=[_lora_linear])
def lora_forward(fn):
    """Exercise 6.1: a LoRA linear layer's output x W^T + bias + scale * (x A^T) B^T."""
    cases = [
        Case("B = 0: the frozen layer alone",
             (_random(3, 5, seed=0), _random(4, 5, seed=1), _random(4, seed=2), _random(2, 5, seed=3),
              torch.zeros(4, 2), 1.0)),
        Case("rank 1, scale 1, no bias",
             (_random(2, 3, seed=4), _random(2, 3, seed=5), None, _random(1, 3, seed=6),
              _random(2, 1, seed=7), 1.0)),
        Case("rank 2 on a pruned weight, scale 0.5",
             (_random(6, 8, seed=8), _random(5, 8, seed=9) * (_random(5, 8, seed=10) > 0.5),
              _random(5, seed=11), _random(2, 8, seed=12), _random(5, 2, seed=13), 0.5)),
        Case("a batch of sequences (2, 3, 4), scale 2",
             (_random(2, 3, 4, seed=14), _random(3, 4, seed=15), _random(3, seed=16),
              _random(2, 4, seed=17), _random(3, 2, seed=18), 2.0)),
    ]
    return run_check("6.1", fn, _lora_linear, cases)


@exercise("6.2", mirrors=[_adapter_parameters])
def lora_parameters(fn):
    """Exercise 6.2: trainable numbers of a rank-r adapter on a weight (C_out, ...): r * (fan_in + C_out)."""
    cases = [
        Case("a Linear weight (64, 256), rank 4", ((64, 256), 4)),
        Case("a square Linear weight (10, 10), rank 1", ((10, 10), 1)),
        Case("a Conv weight (64, 32, 3, 3), rank 2", ((64, 32, 3, 3), 2)),
        Case("a Conv weight (16, 1, 3, 3), rank 9", ((16, 1, 3, 3), 9)),
    ]
    return run_check("6.2", fn, _adapter_parameters, cases)


@exercise("6.3", mirrors=[_wanda_scores])
def wanda_scores(fn):
    """Exercise 6.3: Wanda's |W_ij| * ||X_j||_2 for a Linear weight (C_out, C_in) and inputs (N, C_in)."""

    def reference(weight, inputs):
        return _wanda_scores(weight, inputs.norm(dim=0))

    cases = [
        Case("2x3 weight, inputs of very different sizes",
             (torch.tensor([[1.0, -1.0, 2.0], [0.5, 3.0, -0.1]]),
              torch.tensor([[10.0, 1.0, 0.5], [0.0, 0.0, 0.0]]))),
        Case("negative weights and inputs", (-_random(4, 6, seed=20).abs(), -_random(9, 6, seed=21).abs())),
        Case("constant inputs: scores proportional to |W|", (_random(3, 5, seed=22), torch.ones(7, 5))),
        Case("64x256 weight, 128 calibration rows", (_random(64, 256, seed=23), _random(128, 256, seed=24))),
    ]
    return run_check("6.3", fn, reference, cases)


# ---------------------------------------------------------------- exercise 6.4 (a design task)

CHOICE_SPARSITIES = (0.5, 0.6, 0.7)  # the grid the learner chooses from (fraction of weights pruned)
CHOICE_MAX_DROP = 0.02  # at most 2 points of validation accuracy below the dense model
_reference_sweeps: dict = {}


def _choice_setup():
    """The kit's dense ConvNet, a 128-image calibration batch from the training split and the
    validation loader: what the learner's function receives and what the outcome is measured on."""
    splits = digits_splits()
    order = torch.randperm(len(splits.train), generator=torch.Generator().manual_seed(shifted(0)))
    return load_pretrained("convnet"), splits.train.x[order[:128]], make_loader(splits.validation, 512)


@exercise("6.4", mirrors=[choose_post_training])
def post_training_choice(fn, max_drop: float = CHOICE_MAX_DROP) -> CheckResult:
    """Exercise 6.4: ``fn(dense, calibration, val_loader, sparsities, max_drop)`` returns a
    (recipe, sparsity) pair. Measured here: the dense model pruned after training with that choice
    must stay within ``max_drop`` of dense validation accuracy, and be as sparse as the sparsest
    recipe in ``POST_TRAINING_RECIPES`` on the grid that meets the target."""
    where = f"Exercise 6.4, case 1 (validation accuracy at most {max_drop:.0%} below dense)"
    dense, calibration, val_loader = _choice_setup()
    choice = call_learner("6.4", where, fn, dense, calibration, val_loader, CHOICE_SPARSITIES, max_drop)
    if not (isinstance(choice, tuple) and len(choice) == 2 and choice[0] in POST_TRAINING_RECIPES
            and choice[1] in CHOICE_SPARSITIES):
        return CheckResult("6.4", False, f"✗ {where}: expected a pair (recipe, sparsity) with a recipe "
                           f"from {list(POST_TRAINING_RECIPES)} and a sparsity from {CHOICE_SPARSITIES}, "
                           f"got {choice!r}")
    baseline = evaluate(dense, val_loader)
    key = seed_offset()
    if key not in _reference_sweeps:
        _reference_sweeps[key] = post_training_sweep(dense, calibration, val_loader, CHOICE_SPARSITIES)
    best = choose_post_training(_reference_sweeps[key], baseline, max_drop)
    recipe, sparsity = choice
    pruned, _ = prune_post_training(dense, calibration, POST_TRAINING_RECIPES[recipe], sparsity=sparsity)
    accuracy = evaluate(pruned, val_loader)
    if accuracy < baseline - max_drop - 1e-12:
        target = baseline - max_drop
        return CheckResult("6.4", False, f"✗ {where}: expected validation accuracy >= {target:.2%}, "
                           f"got {accuracy:.2%} with {recipe} at {sparsity:.0%}")
    if best is not None and sparsity < best[1]:
        return CheckResult("6.4", False, f"✗ {where}: expected a sparsity of at least {best[1]:.0%} "
                           f"that meets the target, got {sparsity:.0%} ({recipe}, {accuracy:.2%} "
                           "on validation)")
    return CheckResult("6.4", True, f"✓ Exercise 6.4: {recipe} at {sparsity:.0%} keeps "
                       f"{accuracy:.2%} validation accuracy (dense {baseline:.2%}): the sparsest choice "
                       "that meets the target.")
