"""The one post-training pipeline (recipes.prune_post_training): layer by layer on a CNN, block by block on
a transformer, every method, against hand-computed references."""

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from course_lib.core import keep_largest, keep_largest_per_row
from course_lib.data import calibration_windows
from course_lib.models import ConvNet
from course_lib.pruning import (
    input_rows,
    kept_per_group,
    layer_inputs,
    magnitude_mask,
    masks_sparsity,
    nm_mask,
    reduction_matrix,
    wanda_scores,
)
from course_lib.recipes import (
    METHODS,
    ScoreMask,
    default_blocks,
    depth_ramp_sparsities,
    layer_output_errors,
    prunable_layers,
    prune_post_training,
    recalibrate_batchnorm,
    reconstruct_weight,
)
from course_lib.recipes.post_training import choose_post_training, post_training_sweep

CONVNET_LAYERS = ["conv1", "conv2", "conv3", "fc1", "fc2"]


def row_mask(scores, sparsity):
    """The per-row selection: the same fraction pruned in every output row."""
    return keep_largest_per_row(scores, round(sparsity * scores[0].numel()))


def small_model(seed=0):
    torch.manual_seed(seed)
    return ConvNet().eval()


def state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def calib(toy_text):
    return calibration_windows(toy_text[:3000], 16, n_windows=16)


# --- what a layer sees --------------------------------------------------------------------------------

def test_layer_inputs_are_what_each_layer_multiplies():
    """A conv's unfolded inputs times its reduction matrix give the conv's output (im2col)."""
    model = small_model()
    x = torch.randn(4, 1, 8, 8)
    inputs = layer_inputs(model, x)
    assert list(inputs) == CONVNET_LAYERS
    assert inputs["conv1"].shape == (4 * 64, 9) and inputs["conv3"].shape == (4 * 16, 32 * 9)
    assert inputs["fc1"].shape == (4, 256)
    with torch.no_grad():
        conv2_in = model.relu(model.bn1(model.conv1(x)))  # what conv2 receives, (4, 16, 8, 8)
        for name, layer_in in (("conv1", x), ("conv2", conv2_in)):
            layer = getattr(model, name)
            out = layer(layer_in)  # (B, C, H, W)
            as_matmul = inputs[name] @ reduction_matrix(layer.weight).T  # one row per output position
            assert torch.allclose(as_matmul, out.permute(0, 2, 3, 1).reshape(-1, out.shape[1]), atol=1e-5)
    assert not model.training


def test_input_rows_reject_grouped_convs_by_name():
    with pytest.raises(ValueError, match="groups=1"):
        input_rows(nn.Conv2d(4, 4, 3, groups=2), torch.randn(1, 4, 5, 5))


# --- masks: per row, per layer, N:M ---------------------------------------------------------------------

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
    assert torch.allclose(wanda_scores(weight, norm), torch.tensor([[10.0, 1.0, 1.0], [5.0, 3.0, 0.05]]))
    # magnitude would drop the 1.0 and 0.5 in column 0; Wanda drops the weights of the quiet inputs
    assert row_mask(wanda_scores(weight, norm), 1 / 3).tolist() == [[True, False, True], [True, True, False]]
    with pytest.raises(ValueError, match=r"input_norm must have shape \(3,\)"):
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


@pytest.mark.parametrize("method", ["magnitude_per_row", "wanda", "sparsegpt"])
def test_the_pipeline_prunes_a_copy_row_by_row(method):
    model = small_model()
    before = state(model)
    pruned, report = prune_post_training(model, torch.randn(16, 1, 8, 8), method, sparsity=0.5)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert set(report.masks) == {f"{n}.weight" for n in CONVNET_LAYERS}
    assert list(report.layers) == CONVNET_LAYERS
    for name, mask in report.masks.items():
        weight = pruned.get_parameter(name)
        assert torch.equal(weight != 0, mask) or method == "sparsegpt"  # SparseGPT may zero a kept weight
        assert (weight[~mask] == 0).all()
        if method != "sparsegpt":  # SparseGPT prunes half of each block of columns, not of each row
            assert (mask.flatten(1).sum(dim=1) == weight[0].numel() - round(0.5 * weight[0].numel())).all()
    assert report.sparsity == pytest.approx(0.5, abs=0.01)
    assert all(0 < r.error < 1 and abs(r.sparsity - 0.5) < 0.06 for r in report.layers.values())  # 4 of 9


def test_magnitude_is_one_threshold_per_layer_and_needs_no_data():
    model = small_model()
    pruned, report = prune_post_training(model, None, "magnitude", sparsity=0.6)
    for name in CONVNET_LAYERS:
        weight = getattr(model, name).weight.detach()
        expected = keep_largest(weight.abs(), round(0.6 * weight.numel()))
        assert torch.equal(report.masks[f"{name}.weight"], expected)
        assert report.layers[name].error is None
    with pytest.raises(ValueError, match="needs calibration data"):
        prune_post_training(model, None, "wanda", sparsity=0.5)


def test_layers_are_calibrated_on_the_outputs_of_the_pruned_layers_before_them():
    """fc2's Wanda mask uses the norms of what fc1 *after* pruning feeds it, not the dense fc1."""
    model, x = small_model(), torch.randn(32, 1, 8, 8)
    pruned, report = prune_post_training(model, x, "wanda", sparsity=0.5)
    before_fc2 = _with_layers_of(model, pruned, ["conv1", "conv2", "conv3", "fc1"])
    sequential = layer_inputs(before_fc2, x, ["fc2"])["fc2"]
    expected = row_mask(wanda_scores(model.fc2.weight.detach(), sequential.norm(dim=0)), 0.5)
    assert torch.equal(report.masks["fc2.weight"], expected)
    dense_inputs = layer_inputs(model, x, ["conv1"])["conv1"]  # the first layer sees the dense input
    first = reduction_matrix(model.conv1.weight.detach())
    assert torch.equal(reduction_matrix(report.masks["conv1.weight"]),
                       row_mask(wanda_scores(first, dense_inputs.norm(dim=0)), 0.5))


def _with_layers_of(model, pruned, names):
    mixed = copy.deepcopy(model)
    for name in names:
        getattr(mixed, name).weight.data.copy_(getattr(pruned, name).weight)
    return mixed


def test_nm_skips_layers_m_does_not_divide_unless_strict():
    model = small_model()
    pruned, report = prune_post_training(model, torch.randn(8, 1, 8, 8), "wanda", n=2, m=4)
    assert "conv1.weight" not in report.masks and "K = 9" in report.skipped["conv1"]
    assert torch.count_nonzero(pruned.conv1.weight) == 144
    for name, mask in report.masks.items():
        assert (kept_per_group(mask, 4) == 2).all(), name  # groups as the 2:4 hardware sees them
    with pytest.raises(ValueError, match="2:4 does not fit layer 'conv1'"):
        prune_post_training(model, torch.randn(8, 1, 8, 8), "wanda", n=2, m=4, strict=True)


def test_nm_of_the_first_pruned_layer_is_nm_mask_of_its_scores():
    model, x = small_model(), torch.randn(8, 1, 8, 8)
    _, report = prune_post_training(model, x, "wanda", n=2, m=4)  # conv1 stays dense: conv2 sees dense inputs
    seen = layer_inputs(model, x, ["conv2"])["conv2"]
    scores = wanda_scores(reduction_matrix(model.conv2.weight.detach()), seen.norm(dim=0))
    assert torch.equal(reduction_matrix(report.masks["conv2.weight"]), nm_mask(scores, 2, 4))


def test_least_squares_refit_brings_outputs_closer_to_dense():
    model, x = small_model(), torch.randn(64, 1, 8, 8)
    plain, _ = prune_post_training(model, x, "wanda", sparsity=0.7)
    refit, report = prune_post_training(model, x, ScoreMask("wanda", refit=True), sparsity=0.7)
    with torch.no_grad():
        dense_out = model(x)
        assert (refit(x) - dense_out).norm() < (plain(x) - dense_out).norm()
    assert all(torch.equal(refit.get_parameter(n) != 0, m) for n, m in report.masks.items())


def test_reconstruction_is_the_least_squares_solution():
    torch.manual_seed(0)
    weight, x = torch.randn(6, 10), torch.randn(200, 10) @ torch.randn(10, 10)  # correlated inputs
    mask = row_mask(weight.abs(), 0.5)
    refit = reconstruct_weight(weight, mask, x.T @ x, damping=1e-6)
    assert torch.equal(refit[~mask], torch.zeros(int((~mask).sum())))
    assert (x @ refit.T - x @ weight.T).norm() < 0.8 * (x @ (weight * mask).T - x @ weight.T).norm()
    keep = mask[0]
    best = torch.linalg.lstsq(x[:, keep].double(), (x @ weight[0]).double().unsqueeze(1)).solution
    assert torch.allclose(refit[0, keep].double(), best.squeeze(1), atol=1e-4)
    full = torch.ones_like(weight, dtype=torch.bool)
    assert torch.allclose(reconstruct_weight(weight, full, x.T @ x), weight, atol=1e-5)


# --- the transformer, block by block ---------------------------------------------------------------------

@pytest.mark.parametrize("method", ["magnitude", "magnitude_per_row", "wanda", "sparsegpt"])
def test_a_transformer_is_pruned_block_by_block_and_keeps_its_ends(toy_lm, calib, method):
    before = state(toy_lm)
    pruned, report = prune_post_training(toy_lm, calib, method, sparsity=0.5)
    assert report.sparsity == pytest.approx(0.5, abs=1e-3)
    assert set(report.masks) == {f"{n}.weight" for n in prunable_layers(toy_lm, default_blocks(toy_lm))}
    assert all(torch.equal(before[k], v) for k, v in toy_lm.state_dict().items())
    torch.testing.assert_close(pruned.tok_emb.weight, toy_lm.tok_emb.weight)
    torch.testing.assert_close(pruned.head.weight, toy_lm.head.weight)
    for name, mask in report.masks.items():
        assert (pruned.get_parameter(name)[~mask] == 0).all()
    _, nm = prune_post_training(toy_lm, calib, method, n=2, m=4)
    assert all((kept_per_group(mask, 4) == 2).all() for mask in nm.masks.values())


def test_block_zero_is_calibrated_on_the_dense_inputs_and_block_one_on_pruned_ones(toy_lm, calib):
    pruned, report = prune_post_training(toy_lm, calib, "wanda", sparsity=0.5)
    x0 = layer_inputs(toy_lm, calib, ["blocks.0.attn.q"])["blocks.0.attn.q"]
    w0 = toy_lm.blocks[0].attn.q.weight.detach()
    assert torch.equal(report.masks["blocks.0.attn.q.weight"],
                       row_mask(wanda_scores(w0, x0.norm(dim=0)), 0.5))
    half = _blocks_from(toy_lm, pruned, [0])  # block 0 pruned, block 1 dense: what block 1 is calibrated on
    x1 = layer_inputs(half, calib, ["blocks.1.mlp.fc"])["blocks.1.mlp.fc"]
    w1 = toy_lm.blocks[1].mlp.fc.weight.detach()
    assert torch.equal(report.masks["blocks.1.mlp.fc.weight"],
                       row_mask(wanda_scores(w1, x1.norm(dim=0)), 0.5))


def _blocks_from(model, pruned, indices):
    mixed = copy.deepcopy(model)
    for b in indices:
        mixed.blocks[b].load_state_dict(pruned.blocks[b].state_dict())
    return mixed


def test_sparsegpt_has_the_lowest_layer_error_on_held_out_text(toy_lm, toy_text, calib):
    held_out = calibration_windows(toy_text[3000:], 16, n_windows=32, seed=7)
    inputs = layer_inputs(toy_lm, held_out, list(prunable_layers(toy_lm, default_blocks(toy_lm))))
    total = {}
    for method in ("magnitude_per_row", "sparsegpt"):
        pruned, _ = prune_post_training(toy_lm, calib, method, sparsity=0.5)
        total[method] = sum(layer_output_errors(toy_lm, pruned, inputs).values())
    assert total["sparsegpt"] < total["magnitude_per_row"], total


def test_per_layer_sparsities_prune_each_layer_to_its_own_fraction(toy_lm, calib):
    names = list(prunable_layers(toy_lm, default_blocks(toy_lm)))
    chosen = {name: (0.25 if name.startswith("blocks.0.") else 0.75) for name in names}
    _, report = prune_post_training(toy_lm, calib, "wanda", sparsity=chosen)
    for name in names:
        assert report.layers[name].sparsity == pytest.approx(chosen[name], abs=1e-6)
    _, uniform = prune_post_training(toy_lm, calib, "wanda", sparsity=dict.fromkeys(names, 0.5))
    _, same = prune_post_training(toy_lm, calib, "wanda", sparsity=0.5)
    assert all(torch.equal(uniform.masks[k], same.masks[k]) for k in same.masks)
    with pytest.raises(ValueError, match="one value for each pruned layer.*missing \\['blocks.0.attn.q'\\]"):
        prune_post_training(toy_lm, calib, "wanda", sparsity={n: 0.5 for n in names[1:]})
    with pytest.raises(ValueError, match="sparsity\\['blocks.0.attn.q'\\] must be"):
        prune_post_training(toy_lm, calib, "wanda", sparsity=chosen | {"blocks.0.attn.q": 1.5})
    with pytest.raises(ValueError, match="per-layer sparsities or n and m"):
        prune_post_training(toy_lm, calib, "wanda", sparsity=chosen, n=2, m=4)


def test_row_splits_prune_side_by_side_matrices_as_separate_layers(toy_lm, calib):
    """A layer-wide threshold over a fused matrix differs from one per part; row_splits restores the parts."""
    names = ["blocks.0.attn.q"]
    whole, _ = prune_post_training(toy_lm, calib, "magnitude", sparsity=0.5, layers=names)
    split, report = prune_post_training(toy_lm, calib, "magnitude", sparsity=0.5, layers=names,
                                        row_splits={"blocks.0.attn.q": [8, 24]})
    mask = report.masks["blocks.0.attn.q.weight"]
    w = toy_lm.blocks[0].attn.q.weight.detach()
    assert torch.equal(mask[:8], keep_largest(w[:8].abs(), round(0.5 * 8 * 32)))
    assert torch.equal(mask[8:], keep_largest(w[8:].abs(), round(0.5 * 24 * 32)))
    with pytest.raises(ValueError, match="must add up to the layer's 32 rows"):
        prune_post_training(toy_lm, calib, "magnitude", sparsity=0.5, row_splits={"blocks.0.attn.q": [8, 8]})


def test_inplace_prunes_the_model_itself(toy_lm, calib):
    model = copy.deepcopy(toy_lm)
    out, report = prune_post_training(model, calib, "wanda", sparsity=0.5, inplace=True, batch_size=4)
    assert out is model and (model.blocks[0].mlp.fc.weight == 0).float().mean() == 0.5
    _, again = prune_post_training(toy_lm, calib, "wanda", sparsity=0.5)  # chunks of 4: same Gram sums
    assert all(torch.equal(report.masks[k], again.masks[k]) for k in again.masks)


def test_bad_arguments_name_what_is_allowed(toy_lm, calib):
    with pytest.raises(ValueError, match="method must be one of"):
        prune_post_training(toy_lm, calib, "taylor", sparsity=0.5)
    with pytest.raises(ValueError, match="needs \\['grad'\\]"):
        ScoreMask("taylor")
    with pytest.raises(ValueError, match="either sparsity or both n and m"):
        prune_post_training(toy_lm, calib, "magnitude", sparsity=0.5, n=2, m=4)
    with pytest.raises(ValueError, match="sparsity must be in"):
        prune_post_training(toy_lm, calib, "wanda", sparsity=1.5)
    with pytest.raises(ValueError, match="n must satisfy 0 < n <= m"):
        prune_post_training(toy_lm, calib, "wanda", n=3, m=2)
    with pytest.raises(TypeError, match="calibration must be a tensor"):
        prune_post_training(toy_lm, [calib], "wanda", sparsity=0.5)
    with pytest.raises(ValueError, match="layers has \\['nope'\\]"):
        prune_post_training(toy_lm, calib, "wanda", sparsity=0.5, layers=["nope"])


def test_depth_ramp_keeps_the_size_weighted_mean_and_rises_with_depth():
    sizes = {"blocks.0.attn.q": 100, "blocks.0.mlp.fc": 400, "blocks.1.attn.q": 100, "blocks.2.mlp.fc": 200}
    ramp = depth_ramp_sparsities(sizes, 0.6, step=0.1)
    assert sum(ramp[n] * s for n, s in sizes.items()) / sum(sizes.values()) == pytest.approx(0.6)
    assert ramp["blocks.0.attn.q"] == ramp["blocks.0.mlp.fc"]  # one sparsity per block
    assert ramp["blocks.0.attn.q"] < ramp["blocks.1.attn.q"] < ramp["blocks.2.mlp.fc"]
    with pytest.raises(ValueError, match="step=0.5 takes a sparsity outside"):
        depth_ramp_sparsities(sizes, 0.9, step=0.5)


def test_report_table_and_masks_sparsity_agree(toy_lm, calib):
    _, report = prune_post_training(toy_lm, calib, "sparsegpt", n=2, m=4)
    assert report.sparsity == masks_sparsity(report.masks) == 0.5
    assert report.table().count("\n") == len(report.layers) + 1
    assert set(METHODS) == {"magnitude", "magnitude_per_row", "wanda", "sparsegpt"}


# --- lesson 06's helpers ------------------------------------------------------------------------------------

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
    before = state(model)
    result = post_training_sweep(model, x, loader, [0.5, 0.9], ["magnitude", "wanda + least squares"])
    assert set(result) == {(r, s) for r in ("magnitude", "wanda + least squares") for s in (0.5, 0.9)}
    assert all(0.0 <= a <= 1.0 for a in result.values())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="recipe"):
        post_training_sweep(model, x, loader, [0.5], ["sparsegpt"])
