"""Each lesson-10 check passes on a correct answer and fails, naming the case, on plausible wrong ones."""

import math

import torch
from check_helpers import assert_check_passes_and_rejects

from course_lib import recipes
from course_lib.checks import lesson10 as check


def test_perplexity():
    def correct(losses):
        return math.exp(float(losses.mean()))

    def mean_of_exp(losses):
        return float(losses.exp().mean())

    def base_two(losses):
        return 2 ** float(losses.mean())

    def exp_of_sum(losses):
        return math.exp(float(losses.sum()))

    def mean_loss(losses):
        return float(losses.mean())

    assert_check_passes_and_rejects(check.perplexity, correct, [mean_of_exp, base_two, exp_of_sum, mean_loss])


def test_obs_update():
    def correct(w, hinv, q):
        return w - (w[q] / hinv[q, q]) * hinv[:, q]

    def zero_only(w, hinv, q):  # magnitude pruning: no correction of the others
        out = w.clone()
        out[q] = 0
        return out

    def uses_h_not_inverse(w, hinv, q):
        h = torch.linalg.inv(hinv)
        return w - (w[q] / h[q, q]) * h[:, q]

    def squared_diagonal(w, hinv, q):
        return w - (w[q] / hinv[q, q] ** 2) * hinv[:, q]

    def sign_flipped(w, hinv, q):
        return w + (w[q] / hinv[q, q]) * hinv[:, q]

    assert_check_passes_and_rejects(check.obs_update, correct,
                                    [zero_only, uses_h_not_inverse, squared_diagonal, sign_flipped])


def test_drop_head_columns():
    def correct(weight, head, head_dim):
        keep = [c for c in range(weight.shape[1]) if c // head_dim != head]
        return weight[:, keep]

    def rows_instead(weight, head, head_dim):
        keep = [r for r in range(weight.shape[0]) if r // head_dim != head]
        return weight[keep]

    def zeroes_instead(weight, head, head_dim):
        out = weight.clone()
        out[:, head * head_dim:(head + 1) * head_dim] = 0
        return out

    def one_column(weight, head, head_dim):
        return torch.cat([weight[:, :head], weight[:, head + 1:]], dim=1)

    def interleaved(weight, head, head_dim):  # assumes column c belongs to head c % H
        n_head = weight.shape[1] // head_dim
        keep = [c for c in range(weight.shape[1]) if c % n_head != head]
        return weight[:, keep]

    assert_check_passes_and_rejects(check.drop_head_columns, correct,
                                    [rows_instead, zeroes_instead, one_column, interleaved])


def test_allocate_sparsity_passes_a_depth_ramp_and_measures_what_others_achieve():
    assert check.allocate_sparsity(recipes.depth_ramp_sparsities)

    def uniform(layer_sizes, target):
        return dict.fromkeys(layer_sizes, target)

    def early_blocks_hardest(layer_sizes, target):  # the ramp reversed
        return recipes.depth_ramp_sparsities(layer_sizes, target, step=-0.05)

    def under_budget(layer_sizes, target):
        return dict.fromkeys(layer_sizes, target - 0.1)

    def missing_a_layer(layer_sizes, target):
        return dict.fromkeys(list(layer_sizes)[1:], target)

    trained_but_not_better = "of the block weights removed, "
    for design, message in [(uniform, trained_but_not_better), (early_blocks_hardest, trained_but_not_better),
                            (under_budget, "only 60.1% of the block weights removed"),
                            (missing_a_layer, "missing ['blocks.0.attn.q']"),
                            (lambda layer_sizes, target: target, "not a {layer")]:
        result = check.allocate_sparsity(design)
        assert not result and message in repr(result), repr(result)
