"""Each lesson-10 check passes on a correct answer and fails, naming the case, on plausible wrong ones."""

import copy

import torch
from check_helpers import assert_check_passes_and_rejects

from course_lib import models, recipes
from course_lib.checks import lesson10 as check


def test_diagonal_obs_saliency():
    def correct(weight, inputs):
        return (weight.abs() * inputs.norm(dim=0)) ** 2  # Wanda's score, squared

    def wanda_unsquared(weight, inputs):
        return weight.abs() * inputs.norm(dim=0)

    def magnitude(weight, inputs):
        return weight.square()

    def inverse_not_taken(weight, inputs):  # w² / (2 H_qq): the Hessian where its inverse belongs
        return weight.square() / (4 * inputs.square().sum(dim=0))

    def full_inverse(weight, inputs):  # the full OBS saliency: not what a diagonal Hessian gives
        hinv = torch.linalg.pinv(2 * inputs.T @ inputs)
        return weight.square() / (2 * hinv.diagonal())

    assert_check_passes_and_rejects(check.diagonal_obs_saliency, correct,
                                    [wanda_unsquared, magnitude, inverse_not_taken, full_inverse])


def test_sparsegpt_block():
    def correct(w, u, sparsity):
        return recipes.sparsegpt_block(w, u, sparsity)

    def no_update(w, u, sparsity):  # the mask alone, as Wanda or magnitude would leave it
        new, keep, err = recipes.sparsegpt_block(w, u, sparsity)
        return w * keep, keep, err

    def magnitude_mask(w, u, sparsity):  # |w| instead of the OBS saliency w² / U_qq²
        return recipes.sparsegpt_block(w * u.diagonal(), u, sparsity)

    def unscaled_error(w, u, sparsity):
        new, keep, err = recipes.sparsegpt_block(w, u, sparsity)
        return new, keep, err * u.diagonal()

    assert_check_passes_and_rejects(check.sparsegpt_block, correct,
                                    [no_update, magnitude_mask, unscaled_error])


def test_rescale_features():
    def correct(model, channels, alpha):
        return models.rescale_features(model, channels, alpha)

    def norms_only(model, channels, alpha):  # louder features, but the function changes
        scaled = copy.deepcopy(model)
        with torch.no_grad():
            for block in scaled.blocks:
                for norm in (block.ln1, block.ln2):
                    norm.weight[channels] *= alpha
                    norm.bias[channels] *= alpha
        return scaled

    def gains_but_not_biases(model, channels, alpha):
        scaled = models.rescale_features(model, channels, alpha)
        with torch.no_grad():
            for block, original in zip(scaled.blocks, model.blocks):
                block.ln1.bias.copy_(original.ln1.bias)
        return scaled

    def in_place(model, channels, alpha):
        scaled = models.rescale_features(model, channels, alpha)
        model.load_state_dict(scaled.state_dict())
        return model

    assert_check_passes_and_rejects(check.rescale_features, correct, [norms_only, gains_but_not_biases])
    assert "was changed" in repr(check.rescale_features(in_place))


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
