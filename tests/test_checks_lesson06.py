"""Each lesson-06 check passes on a correct answer and fails, naming the case, on plausible wrong ones."""

import math

from check_helpers import assert_check_passes_and_rejects, learners_copy

from course_lib.checks import lesson06 as check
from course_lib.recipes.post_training import choose_post_training as choose_post_training_from
from course_lib.recipes.post_training import post_training_sweep
from course_lib.train import evaluate

choose_from_sweep = learners_copy(choose_post_training_from)  # the library's rule, as a learner's own


def lora_forward(x, weight, bias, a, b, scale):
    out = x @ weight.T + scale * (x @ a.T) @ b.T
    return out if bias is None else out + bias


def test_lora_forward():
    assert check.lora_forward(lora_forward)
    no_scale = check.lora_forward(lambda x, w, bias, a, b, s: lora_forward(x, w, bias, a, b, 1.0))
    assert not no_scale and "case 3 (rank 2 on a pruned weight, scale 0.5)" in repr(no_scale)
    scaled_all = check.lora_forward(  # scales the frozen layer too
        lambda x, w, bias, a, b, s: s * lora_forward(x, w, bias, a, b, 1.0)
    )
    assert not scaled_all and "case 3" in repr(scaled_all)
    adapter_only = check.lora_forward(lambda x, w, bias, a, b, s: s * (x @ a.T) @ b.T)
    assert not adapter_only and "case 1 (B = 0" in repr(adapter_only)
    no_bias = check.lora_forward(lambda x, w, bias, a, b, s: lora_forward(x, w, None, a, b, s))
    assert not no_bias and "case 1" in repr(no_bias)


def test_lora_parameters():
    assert check.lora_parameters(lambda shape, r: r * (math.prod(shape[1:]) + shape[0]))
    full_matrix = check.lora_parameters(lambda shape, r: math.prod(shape))
    assert not full_matrix and "case 1 (a Linear weight (64, 256), rank 4)" in repr(full_matrix)
    one_factor = check.lora_parameters(lambda shape, r: r * math.prod(shape[1:]))
    assert not one_factor and "case 1" in repr(one_factor)
    conv_as_channels = check.lora_parameters(lambda shape, r: r * (shape[1] + shape[0]))  # forgets Kh*Kw
    assert not conv_as_channels and "case 3 (a Conv weight (64, 32, 3, 3), rank 2)" in repr(conv_as_channels)


def test_wanda_scores():
    assert check.wanda_scores(lambda w, x: w.abs() * x.norm(dim=0))
    magnitude = check.wanda_scores(lambda w, x: w.abs())
    assert not magnitude and "case 1" in repr(magnitude)
    signed = check.wanda_scores(lambda w, x: w * x.norm(dim=0))
    assert not signed and "case 1" in repr(signed)
    signed_norm = check.wanda_scores(lambda w, x: w.abs() * x.sum(dim=0))  # a signed sum, not a norm
    assert not signed_norm and "case 2 (negative weights and inputs)" in repr(signed_norm)
    squared = check.wanda_scores(lambda w, x: w.abs() * x.square().sum(dim=0))  # ||X||^2, not ||X||
    assert not squared and "case 1" in repr(squared)
    per_row = check.wanda_scores(lambda w, x: w.abs() * x.norm(dim=1)[: w.shape[1]])  # wrong axis
    assert not per_row and "case 1" in repr(per_row)


def choose_post_training(dense, calibration, val_loader, sparsities, max_drop):
    """The reference design: sweep every recipe at every sparsity on validation, keep the sparsest
    choice within max_drop of dense."""
    accuracies = post_training_sweep(dense, calibration, val_loader, sparsities)
    return choose_from_sweep(accuracies, evaluate(dense, val_loader), max_drop)


def fixed(recipe, sparsity):
    def choose(dense, calibration, val_loader, sparsities, max_drop):
        return recipe, sparsity
    choose.__name__ = f"always {recipe} at {sparsity}"
    return choose


def test_post_training_choice():
    assert_check_passes_and_rejects(check.post_training_choice, choose_post_training, [
        fixed("wanda + least squares", 0.7),  # the sparsest, whatever it costs
        fixed("magnitude", 0.5),              # meets the target, but far from the sparsest
    ])
    not_a_pair = check.post_training_choice(lambda *args: "wanda")
    assert not not_a_pair and "expected a pair" in repr(not_a_pair)
