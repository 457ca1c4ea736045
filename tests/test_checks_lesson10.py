"""Each lesson-10 check passes on a correct answer and fails, naming the case, on plausible wrong ones."""

import copy

import torch
from check_helpers import assert_check_passes_and_rejects, learners_copy

from course_lib import core, models, recipes
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


def _block(w, u, sparsity, saliency=lambda w, u: w.square() / u.diagonal().square(), err_scale=True):
    """A learner's SparseGPT block, with knobs for the plausible mistakes."""
    w = w.clone()
    scores = saliency(w, u)
    keep = core.keep_largest(scores, round(sparsity * scores.numel()))
    err = torch.zeros_like(w)
    for i in range(w.shape[1]):
        removed = torch.where(keep[:, i], 0.0, w[:, i])
        err[:, i] = removed / u[i, i] if err_scale else removed
        w[:, i:] -= (removed / u[i, i])[:, None] * u[i:i + 1, i:]
    return w, keep, err


def test_sparsegpt_block():
    def correct(w, u, sparsity):
        return _block(w, u, sparsity)

    def no_update(w, u, sparsity):  # the mask alone, as Wanda or magnitude would leave it
        new, keep, err = _block(w, u, sparsity)
        return w * keep, keep, err

    def magnitude_mask(w, u, sparsity):  # |w| instead of the OBS saliency w² / U_qq²
        return _block(w, u, sparsity, saliency=lambda w, u: w.abs())

    def unscaled_error(w, u, sparsity):
        return _block(w, u, sparsity, err_scale=False)

    def calls_the_library(w, u, sparsity):
        return recipes.sparsegpt_block(w, u, sparsity)

    assert_check_passes_and_rejects(check.sparsegpt_block, correct,
                                    [no_update, magnitude_mask, unscaled_error])
    called = repr(check.sparsegpt_block(calls_the_library))
    assert "your code called course_lib.recipes.sparsegpt_block" in called


def _rescaled(model, channels, alpha, biases=True, readers=True):
    scaled = copy.deepcopy(model)
    with torch.no_grad():
        for block in scaled.blocks:
            attention = (block.attn.q, block.attn.k, block.attn.v)
            for norm, layers in ((block.ln1, attention), (block.ln2, (block.mlp.fc,))):
                norm.weight[channels] *= alpha
                if biases:
                    norm.bias[channels] *= alpha
                for layer in layers if readers else ():
                    layer.weight[:, channels] /= alpha
    return scaled


def test_rescale_features():
    def correct(model, channels, alpha):
        return _rescaled(model, channels, alpha)

    def norms_only(model, channels, alpha):  # louder features, but the function changes
        return _rescaled(model, channels, alpha, readers=False)

    def gains_but_not_biases(model, channels, alpha):
        return _rescaled(model, channels, alpha, biases=False)

    def in_place(model, channels, alpha):
        model.load_state_dict(_rescaled(model, channels, alpha).state_dict())
        return model

    assert_check_passes_and_rejects(check.rescale_features, correct, [norms_only, gains_but_not_biases])
    assert "was changed" in repr(check.rescale_features(in_place))
    assert "itself" in repr(check.rescale_features(models.rescale_features))


def test_allocate_sparsity_passes_a_depth_ramp_and_measures_what_others_achieve():
    assert check.allocate_sparsity(learners_copy(recipes.depth_ramp_sparsities))

    def uniform(layer_sizes, target):
        return dict.fromkeys(layer_sizes, target)

    def early_blocks_hardest(layer_sizes, target):  # the ramp reversed
        depth = {name: int(name.split(".")[1]) for name in layer_sizes}
        mean = sum(depth[n] * size for n, size in layer_sizes.items()) / sum(layer_sizes.values())
        return {name: target - 0.05 * (depth[name] - mean) for name in layer_sizes}

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
