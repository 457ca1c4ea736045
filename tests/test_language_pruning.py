"""Pruning the character language model: magnitude / Wanda / SparseGPT over the whole model,
perplexity and paired intervals, the slider's explorer, LoRA recovery keeping 2:4."""

import pytest
import torch

from course_lib.analysis.language import (
    block_weight_nonzeros,
    feature_norms,
    outlier_ratio,
    paired_loss_interval,
    parameter_breakdown,
    perplexity,
    sample_text,
    tokens_per_second,
    window_losses,
)
from course_lib.core.selection import keep_largest_per_row
from course_lib.data.text import CharVocab
from course_lib.models.transformer import CharConfig, CharTransformer
from course_lib.pruning.nm import kept_per_group
from course_lib.recipes.lm_pruning import (
    PruneExplorer,
    block_linears,
    calibration_windows,
    capture_inputs,
    depth_ramp_sparsities,
    layer_output_errors,
    prune_lm,
    sparsity_of,
    train_lm,
)
from course_lib.recipes.lora import add_lora, merge_lora

VOCAB = CharVocab("\n abcdefgh")
CONFIG = CharConfig(vocab_size=len(VOCAB), context=16, width=32, n_layer=2, n_head=2, head_dim=16,
                    mlp_hidden=64)


@pytest.fixture(scope="module")
def text_tokens():
    g = torch.Generator().manual_seed(0)
    # a learnable toy text: runs of letters that repeat with noise
    base = torch.arange(4000) // 3 % len(VOCAB)
    noise = torch.randint(len(VOCAB), (4000,), generator=g)
    return torch.where(torch.rand(4000, generator=g) < 0.1, noise, base)


@pytest.fixture(scope="module")
def trained(text_tokens):
    torch.manual_seed(0)
    model = CharTransformer(CONFIG)
    train_lm(model, text_tokens[:3000], steps=60, batch_size=8, lr=3e-3, progress=False)
    return model


def state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_training_lowers_the_loss(text_tokens):
    torch.manual_seed(0)
    model = CharTransformer(CONFIG)
    losses = train_lm(model, text_tokens[:3000], steps=40, batch_size=8, lr=3e-3, progress=False)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.5


@pytest.mark.parametrize("method", ["magnitude", "wanda", "sparsegpt"])
def test_prune_lm_reaches_the_sparsity_and_leaves_the_model_alone(trained, text_tokens, method):
    before = state(trained)
    calib = calibration_windows(text_tokens[:3000], 16, n_windows=16)
    pruned, masks = prune_lm(trained, calib, method, 0.5)
    assert sparsity_of(masks) == pytest.approx(0.5, abs=1e-3)
    assert set(masks) == {f"{name}.weight" for name in block_linears(trained)}
    assert all(torch.equal(before[k], v) for k, v in trained.state_dict().items())
    torch.testing.assert_close(pruned.tok_emb.weight, trained.tok_emb.weight)
    torch.testing.assert_close(pruned.head.weight, trained.head.weight)
    for name, mask in masks.items():
        assert (pruned.get_parameter(name)[~mask] == 0).all()
    nm_pruned, nm_masks = prune_lm(trained, calib, method, n=2, m=4)
    assert all((kept_per_group(mask, 4) == 2).all() for mask in nm_masks.values())
    assert block_weight_nonzeros(nm_pruned) <= block_weight_nonzeros(trained) // 2


def test_magnitude_is_per_row_largest_weights(trained):
    pruned, masks = prune_lm(trained, None, "magnitude", 0.25)
    w = trained.blocks[1].mlp.fc.weight
    assert torch.equal(masks["blocks.1.mlp.fc.weight"], keep_largest_per_row(w.abs(), round(0.25 * 32)))


def test_wanda_uses_the_first_blocks_input_norms(trained, text_tokens):
    calib = calibration_windows(text_tokens[:3000], 16, n_windows=16)
    _, masks = prune_lm(trained, calib, "wanda", 0.5)
    x = capture_inputs(trained, calib)["blocks.0.attn.q"]  # block 0 sees the dense model's inputs
    w = trained.blocks[0].attn.q.weight
    expected = keep_largest_per_row(w.abs() * x.norm(dim=0), round(0.5 * 32))
    assert torch.equal(masks["blocks.0.attn.q.weight"], expected)


def test_sparsegpt_has_the_lowest_layer_error(trained, text_tokens):
    calib = calibration_windows(text_tokens[:3000], 16, n_windows=32)
    held_out = calibration_windows(text_tokens[3000:], 16, n_windows=32, seed=7)
    total = {}
    for method in ("magnitude", "wanda", "sparsegpt"):
        pruned, _ = prune_lm(trained, calib, method, 0.5)
        total[method] = sum(layer_output_errors(trained, pruned, held_out).values())
    assert total["sparsegpt"] < total["magnitude"], total


def test_per_layer_sparsities_prune_each_layer_to_its_own_fraction(trained, text_tokens):
    calib = calibration_windows(text_tokens[:3000], 16, n_windows=16)
    names = list(block_linears(trained))
    chosen = {name: (0.25 if name.startswith("blocks.0.") else 0.75) for name in names}
    _, masks = prune_lm(trained, calib, "wanda", chosen)
    for name in names:
        assert (~masks[f"{name}.weight"]).float().mean() == pytest.approx(chosen[name], abs=1e-6)
    _, uniform = prune_lm(trained, calib, "wanda", dict.fromkeys(names, 0.5))
    _, same = prune_lm(trained, calib, "wanda", 0.5)
    assert all(torch.equal(uniform[k], same[k]) for k in same)  # a dict of equal values is the float
    with pytest.raises(ValueError, match="one value for each block Linear.*missing \\['blocks.0.attn.q'\\]"):
        prune_lm(trained, calib, "wanda", {n: 0.5 for n in names[1:]})
    with pytest.raises(ValueError, match="sparsity\\['blocks.0.attn.q'\\] must be"):
        prune_lm(trained, calib, "wanda", chosen | {"blocks.0.attn.q": 1.5})
    with pytest.raises(ValueError, match="per-layer sparsities or n and m"):
        prune_lm(trained, calib, "wanda", chosen, n=2, m=4)


def test_depth_ramp_keeps_the_size_weighted_mean_and_rises_with_depth():
    sizes = {"blocks.0.attn.q": 100, "blocks.0.mlp.fc": 400, "blocks.1.attn.q": 100, "blocks.2.mlp.fc": 200}
    ramp = depth_ramp_sparsities(sizes, 0.6, step=0.1)
    assert sum(ramp[n] * s for n, s in sizes.items()) / sum(sizes.values()) == pytest.approx(0.6)
    assert ramp["blocks.0.attn.q"] == ramp["blocks.0.mlp.fc"]  # one sparsity per block
    assert ramp["blocks.0.attn.q"] < ramp["blocks.1.attn.q"] < ramp["blocks.2.mlp.fc"]
    with pytest.raises(ValueError, match="step=0.5 takes a sparsity outside"):
        depth_ramp_sparsities(sizes, 0.9, step=0.5)


def test_bad_arguments_name_what_is_allowed(trained):
    with pytest.raises(ValueError, match="method must be one of"):
        prune_lm(trained, None, "random", 0.5)
    with pytest.raises(ValueError, match="either sparsity or both n and m"):
        prune_lm(trained, None, "magnitude", 0.5, n=2, m=4)
    with pytest.raises(ValueError, match="calibration must be token windows"):
        prune_lm(trained, None, "wanda", 0.5)
    with pytest.raises(ValueError, match="model must have transformer blocks"):
        block_linears(torch.nn.Linear(3, 3))


def test_perplexity_and_paired_interval(trained, text_tokens):
    losses = window_losses(trained, text_tokens[3000:], max_chars=640)
    assert losses.shape == (40,)
    assert perplexity(losses) == pytest.approx(float(losses.mean().exp()))
    same = paired_loss_interval(losses, losses)
    assert same.difference == 0 and same.interval == (0.0, 0.0) and same.verdict == "within noise"
    worse = paired_loss_interval(losses, losses + 0.1 + 0.01 * torch.randn(40))
    assert worse.verdict == "A beats B" and worse.interval[1] < 0
    with pytest.raises(ValueError, match="same length"):
        paired_loss_interval(losses, losses[:5])


def test_parameter_breakdown_adds_up(trained):
    parts = parameter_breakdown(trained)
    assert sum(parts.values()) == sum(p.numel() for p in trained.parameters())
    assert parts["attention"] == 2 * (4 * 32 * 32 + 4 * 32) and parts["MLP"] == 2 * (2 * 32 * 64 + 64 + 32)


def test_explorer_caches_and_never_mutates_the_model(trained, text_tokens):
    before = state(trained)
    calib = calibration_windows(text_tokens[:3000], 16, n_windows=8)
    explore = PruneExplorer(trained, calib, text_tokens[3000:], VOCAB, prompt="abc", sample_chars=10,
                            eval_chars=320)
    ppl, sample = explore("wanda", 0.5)
    assert sample.startswith("abc") and len(sample) == 13 and ppl > 1
    assert explore("wanda", 0.5) == (ppl, sample) and len(explore.cache) == 1
    dense_ppl, _ = explore("magnitude", 0.0)
    assert dense_ppl == pytest.approx(perplexity(window_losses(trained, text_tokens[3000:], 320)))
    assert all(torch.equal(before[k], v) for k, v in trained.state_dict().items())
    with pytest.raises(ValueError, match="sparsity must be in"):
        explore("wanda", 1.2)


def test_lora_recovery_keeps_two_four(trained, text_tokens):
    calib = calibration_windows(text_tokens[:3000], 16, n_windows=16)
    pruned, _ = prune_lm(trained, calib, "magnitude", n=2, m=4)
    adapted = add_lora(pruned, rank=4, sparse_delta=True)
    train_lm(adapted, text_tokens[:3000], steps=5, batch_size=4, lr=1e-3, progress=False)
    merged = merge_lora(adapted, keep_sparsity=True)
    for layer in block_linears(merged).values():
        assert (kept_per_group(layer.weight != 0, 4) <= 2).all()
    assert sample_text(merged, VOCAB, "ab", 5).startswith("ab")


def test_speed_is_measured_for_every_model(trained, text_tokens):
    speed = tokens_per_second({"a": trained, "b": trained}, text_tokens, batch_size=2, rounds=1, repeats=2)
    assert set(speed) == {"a", "b"}
    assert all(v["evaluation"] > 0 and v["generation"] > 0 for v in speed.values())
    with pytest.raises(ValueError, match="share one context length"):
        tokens_per_second({"a": trained, "b": CharTransformer()}, text_tokens)


def test_feature_norms_and_outlier_ratio():
    x = torch.ones(10, 4)
    x[:, 2] = 30.0
    norms = feature_norms({"layer": x})["layer"]
    torch.testing.assert_close(norms, torch.tensor([1.0, 1.0, 30.0, 1.0]) * 10**0.5)
    assert outlier_ratio(norms) == pytest.approx(30.0)
