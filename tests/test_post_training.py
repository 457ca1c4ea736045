import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from course_lib.core import keep_largest_per_row
from course_lib.models import ConvNet
from course_lib.pruning import kept_per_group, magnitude_mask, nm_mask, wanda_scores
from course_lib.recipes import (
    layer_inputs,
    post_training_prune,
    recalibrate_batchnorm,
    reconstruct_weight,
)
from course_lib.recipes.post_training import choose_post_training, post_training_sweep


def row_mask(scores, sparsity):
    """The per-row selection post_training_prune uses: the same fraction pruned in every output row."""
    return keep_largest_per_row(scores, round(sparsity * scores[0].numel()))


def small_model(seed=0):
    torch.manual_seed(seed)
    return ConvNet().eval()


def test_layer_inputs_are_what_each_layer_multiplies():
    """Conv2d's unfolded inputs times the flattened weight give the conv's output (im2col)."""
    model = small_model()
    x = torch.randn(4, 1, 8, 8)
    inputs = layer_inputs(model, x)
    assert list(inputs) == ["conv1.weight", "conv2.weight", "conv3.weight", "fc1.weight", "fc2.weight"]
    assert inputs["conv1.weight"].shape == (4 * 64, 9)
    assert inputs["conv3.weight"].shape == (4 * 16, 32 * 9)
    assert inputs["fc1.weight"].shape == (4, 256)
    conv1_out = F.conv2d(x, model.conv1.weight, padding=1)  # (4, 16, 8, 8)
    as_matmul = inputs["conv1.weight"] @ model.conv1.weight.flatten(1).T  # (4*64, 16)
    assert torch.allclose(as_matmul, conv1_out.permute(0, 2, 3, 1).reshape(-1, 16), atol=1e-5)
    with torch.no_grad():
        h = model.relu(model.bn1(model.conv1(x)))
        h = model.pool(model.relu(model.bn2(model.conv2(h))))
        h = model.pool(model.relu(model.bn3(model.conv3(h))))
    assert torch.allclose(inputs["fc1.weight"], model.flatten(h))
    assert not model.training


def test_layer_inputs_rejects_integer_batches():
    with pytest.raises(TypeError, match="x must be a floating-point tensor"):
        layer_inputs(small_model(), torch.zeros(2, 1, 8, 8, dtype=torch.long))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 8), st.floats(0.1, 10.0), st.integers(0, 10_000))
def test_wanda_with_constant_activations_reduces_to_magnitude(rows, cols, norm, seed):
    torch.manual_seed(seed)
    weight = torch.randn(rows, cols)
    scores = wanda_scores(weight, torch.full((cols,), norm))
    assert torch.allclose(scores, weight.abs() * norm)
    assert torch.equal(row_mask(scores, 0.5), row_mask(weight.abs(), 0.5))


def test_wanda_scales_columns_by_input_norm():
    weight = torch.tensor([[1.0, -1.0, 2.0], [0.5, 3.0, -0.1]])
    norm = torch.tensor([10.0, 1.0, 0.5])
    expected = torch.tensor([[10.0, 1.0, 1.0], [5.0, 3.0, 0.05]])
    assert torch.allclose(wanda_scores(weight, norm), expected)
    # magnitude would drop the 1.0 and 0.5 in column 0; Wanda drops the weights of the quiet inputs
    assert row_mask(wanda_scores(weight, norm), 1 / 3).tolist() == [[True, False, True],
                                                                     [True, True, False]]


def test_wanda_conv_shape_and_bad_norm():
    weight = torch.randn(4, 2, 3, 3)
    norm = torch.rand(18)
    scores = wanda_scores(weight, norm)
    assert torch.allclose(scores.flatten(1), weight.flatten(1).abs() * norm)
    with pytest.raises(ValueError, match=r"input_norm must have shape \(18,\)"):
        wanda_scores(weight, torch.rand(2))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5), st.integers(1, 12), st.floats(0, 1), st.integers(0, 10_000))
def test_row_mask_prunes_the_same_count_in_every_row(rows, cols, sparsity, seed):
    torch.manual_seed(seed)
    scores = torch.randn(rows, cols).abs()
    mask = row_mask(scores, sparsity)
    n_pruned = round(sparsity * cols)
    assert (mask.sum(dim=1) == cols - n_pruned).all()
    for r in range(rows):  # per row, the same selection as the library's magnitude mask
        assert torch.equal(mask[r], magnitude_mask(scores[r], n_pruned / cols))


def test_reconstruction_lowers_the_output_error_and_keeps_the_mask():
    torch.manual_seed(0)
    weight, x = torch.randn(6, 10), torch.randn(200, 10) @ torch.randn(10, 10)  # correlated inputs
    mask = row_mask(weight.abs(), 0.5)
    refit = reconstruct_weight(weight, mask, x, damping=1e-6)
    assert torch.equal(refit[~mask], torch.zeros(int((~mask).sum())))
    error_masked = (x @ (weight * mask).T - x @ weight.T).norm()
    error_refit = (x @ refit.T - x @ weight.T).norm()
    assert error_refit < 0.8 * error_masked
    # the refit is the least-squares solution: compare one row with numpy-style lstsq
    keep = mask[0]
    best = torch.linalg.lstsq(x[:, keep].double(), (x @ weight[0]).double().unsqueeze(1)).solution
    assert torch.allclose(refit[0, keep].double(), best.squeeze(1), atol=1e-4)


def test_reconstruction_with_nothing_pruned_is_the_identity():
    torch.manual_seed(1)
    weight, x = torch.randn(4, 2, 3, 3), torch.randn(50, 18)
    refit = reconstruct_weight(weight, torch.ones_like(weight, dtype=torch.bool), x)
    assert torch.allclose(refit, weight, atol=1e-5)


@pytest.mark.parametrize("method", ["magnitude", "wanda"])
def test_post_training_prune_leaves_the_model_and_prunes_a_copy(method):
    model = small_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pruned, masks = post_training_prune(model, torch.randn(16, 1, 8, 8), sparsity=0.5, method=method)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert set(masks) == {"conv1.weight", "conv2.weight", "conv3.weight", "fc1.weight", "fc2.weight"}
    for name, mask in masks.items():
        weight = pruned.get_parameter(name)
        assert torch.equal(weight != 0, mask)
        assert (mask.flatten(1).sum(dim=1) == weight[0].numel() - round(0.5 * weight[0].numel())).all()


def test_post_training_nm_skips_layers_m_does_not_divide():
    pruned, masks = post_training_prune(small_model(), torch.randn(8, 1, 8, 8), n_m=(2, 4))
    assert "conv1.weight" not in masks  # fan_in 9
    assert torch.count_nonzero(pruned.conv1.weight) == 144
    for name, mask in masks.items():
        assert (kept_per_group(mask, 4) == 2).all(), name  # groups as the 2:4 hardware sees them


@pytest.mark.parametrize("method", ["magnitude", "wanda"])
def test_post_training_nm_is_nm_mask_of_the_scores(method):
    model, x = small_model(), torch.randn(8, 1, 8, 8)
    _, masks = post_training_prune(model, x, n_m=(2, 4), method=method)
    inputs = layer_inputs(model, x)
    for name in ("conv2.weight", "fc1.weight"):
        weight = model.get_parameter(name).detach()
        scores = weight.abs() if method == "magnitude" else wanda_scores(weight, inputs[name].norm(dim=0))
        assert torch.equal(masks[name], nm_mask(scores, 2, 4))


def test_wanda_differs_from_magnitude_when_activations_differ():
    model, x = small_model(), torch.randn(32, 1, 8, 8)
    _, wanda = post_training_prune(model, x, sparsity=0.5, method="wanda")
    _, magnitude = post_training_prune(model, x, sparsity=0.5, method="magnitude")
    assert not torch.equal(wanda["fc1.weight"], magnitude["fc1.weight"])


def test_reconstruct_brings_outputs_closer_to_dense():
    model = small_model()
    x = torch.randn(64, 1, 8, 8)
    plain, _ = post_training_prune(model, x, sparsity=0.7, method="wanda")
    refit, masks = post_training_prune(model, x, sparsity=0.7, method="wanda", reconstruct=True)
    with torch.no_grad():
        dense_out = model(x)
        assert (refit(x) - dense_out).norm() < (plain(x) - dense_out).norm()
    assert all(torch.equal(refit.get_parameter(n) != 0, m) for n, m in masks.items())


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(), ValueError, "exactly one of sparsity or n_m"),
    (dict(sparsity=0.5, n_m=(2, 4)), ValueError, "exactly one of sparsity or n_m"),
    (dict(sparsity=1.5), ValueError, "sparsity must be in"),
    (dict(n_m=(2, 0)), ValueError, "m must be a positive integer"),
    (dict(n_m=(3, 2)), ValueError, "n must satisfy 0 < n <= m"),
    (dict(n_m=[2, 4]), ValueError, r"n_m must be a pair"),
    (dict(sparsity=0.5, method="taylor"), ValueError, "method must be one of"),
])
def test_post_training_prune_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        post_training_prune(small_model(), torch.randn(2, 1, 8, 8), **kwargs)


def test_grouped_conv_is_rejected_by_name():
    model = nn.Sequential(nn.Conv2d(4, 4, 3, groups=2))
    with pytest.raises(ValueError, match="groups=1"):
        layer_inputs(model, torch.randn(1, 4, 5, 5))


def test_recalibrate_batchnorm_uses_the_batch_statistics_and_copies():
    model = small_model()
    x = torch.randn(32, 1, 8, 8) * 3 + 1
    fixed = recalibrate_batchnorm(model, x)
    assert torch.equal(model.bn1.running_mean, torch.zeros(16))  # the original is untouched
    with torch.no_grad():
        h = model.conv1(x)  # bn1's input, (32, 16, 8, 8)
    assert torch.allclose(fixed.bn1.running_mean, h.mean(dim=(0, 2, 3)), atol=1e-5)
    assert torch.allclose(fixed.bn1.running_var, h.var(dim=(0, 2, 3)), rtol=1e-4)
    assert fixed.bn1.momentum == model.bn1.momentum and not fixed.training


def test_recalibrate_batchnorm_needs_a_batchnorm():
    with pytest.raises(ValueError, match="no BatchNorm layer"):
        recalibrate_batchnorm(nn.Linear(3, 2), torch.randn(4, 3))


def test_choose_post_training_takes_the_sparsest_recipe_that_meets_the_target():
    accuracies = {("magnitude", 0.5): 0.97, ("magnitude", 0.6): 0.90, ("wanda", 0.5): 0.98,
                  ("wanda", 0.6): 0.96, ("wanda", 0.7): 0.80}
    assert choose_post_training(accuracies, 0.99, 0.03) == ("wanda", 0.6)
    assert choose_post_training(accuracies, 0.99, 0.015) == ("wanda", 0.5)  # most accurate at 50%
    assert choose_post_training(accuracies, 0.99, 0.0) is None
    with pytest.raises(ValueError, match="max_drop"):
        choose_post_training(accuracies, 0.99, 1.5)


def test_post_training_sweep_prunes_copies_and_scores_each_recipe():
    model = small_model()
    x = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    loader = [(x, torch.arange(16) % 10)]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = post_training_sweep(model, x, loader, [0.5, 0.9], ["magnitude", "wanda + least squares"])
    assert set(result) == {(r, s) for r in ("magnitude", "wanda + least squares") for s in (0.5, 0.9)}
    assert all(0.0 <= a <= 1.0 for a in result.values())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="recipe"):
        post_training_sweep(model, x, loader, [0.5], ["sparsegpt"])
