"""Measuring the character language model: training lowers the loss, perplexity and paired intervals
per window, parameter breakdown, speed, feature norms; the lesson's slider; LoRA recovery keeping 2:4."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from course_lib import widgets  # noqa: E402
from course_lib.analysis import compare_losses  # noqa: E402
from course_lib.analysis.language import (  # noqa: E402
    feature_norms,
    outlier_features,
    parameter_breakdown,
    perplexity,
    sample_text,
    tokens_per_second,
    window_losses,
)
from course_lib.data.text import CharVocab, calibration_windows  # noqa: E402
from course_lib.models.transformer import CharConfig, CharTransformer  # noqa: E402
from course_lib.pruning import kept_per_group  # noqa: E402
from course_lib.recipes import default_blocks, prunable_layers, prune_post_training  # noqa: E402
from course_lib.recipes.lora import add_lora, merge_lora  # noqa: E402
from course_lib.train import train_lm  # noqa: E402

VOCAB = CharVocab("\n abcdefgh")
CONFIG = CharConfig(vocab_size=len(VOCAB), context=16, width=32, n_layer=2, n_head=2, head_dim=16,
                    mlp_hidden=64)


def state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_training_lowers_the_loss(toy_text):
    torch.manual_seed(0)
    model = CharTransformer(CONFIG)
    losses = train_lm(model, toy_text[:3000], steps=40, batch_size=8, lr=3e-3, progress=False)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.5


def test_perplexity_and_paired_interval(toy_lm, toy_text):
    losses = window_losses(toy_lm, toy_text[3000:], max_chars=640)
    assert losses.shape == (40,)
    assert perplexity(losses) == pytest.approx(float(losses.mean().exp()))
    same = compare_losses(losses, losses)
    assert same.difference == 0 and same.interval == (0.0, 0.0) and same.verdict == "within noise"
    worse = compare_losses(losses, losses + 0.1 + 0.01 * torch.randn(40))
    assert worse.verdict == "A beats B" and worse.interval[1] < 0
    with pytest.raises(ValueError, match="must hold the same examples"):
        compare_losses(losses, losses[:5])


def test_parameter_breakdown_adds_up(toy_lm):
    parts = parameter_breakdown(toy_lm)
    assert sum(parts.values()) == sum(p.numel() for p in toy_lm.parameters())
    assert parts["attention"] == 2 * (4 * 32 * 32 + 4 * 32) and parts["MLP"] == 2 * (2 * 32 * 64 + 64 + 32)


def test_the_slider_panel_caches_and_never_mutates_the_model(toy_lm, toy_text, capsys):
    before = state(toy_lm)
    calib = calibration_windows(toy_text[:3000], 16, n_windows=8)
    panel = widgets.language_model_explorer(toy_lm, calib, toy_text[3000:3320], VOCAB, prompt="abc",
                                            sample_chars=10)
    first = capsys.readouterr().out
    assert "wanda at 50% unstructured: perplexity" in first and "abc" in first
    panel.children[1].value = 0.0  # the sparsity slider
    panel.update()
    dense = perplexity(window_losses(toy_lm, toy_text[3000:3320]))
    assert f"perplexity {dense:.2f} (dense {dense:.2f})" in capsys.readouterr().out
    assert all(torch.equal(before[k], v) for k, v in toy_lm.state_dict().items())
    widgets.language_model_explorer(toy_lm, calib, toy_text[3000:3320], VOCAB, prompt="abc", sample_chars=10,
                                    dense_perplexity=12.5)  # a perplexity the lesson measured already
    assert "(dense 12.50)" in capsys.readouterr().out


def test_lora_recovery_keeps_two_four(toy_lm, toy_text):
    calib = calibration_windows(toy_text[:3000], 16, n_windows=16)
    pruned, _ = prune_post_training(toy_lm, calib, "magnitude", n=2, m=4)
    adapted = add_lora(pruned, rank=4, sparse_delta=True)
    train_lm(adapted, toy_text[:3000], steps=5, batch_size=4, lr=1e-3, progress=False)
    merged = merge_lora(adapted, keep_sparsity=True)
    for layer in prunable_layers(merged, default_blocks(merged)).values():
        assert (kept_per_group(layer.weight != 0, 4) <= 2).all()
    assert sample_text(merged, VOCAB, "ab", 5).startswith("ab")


def test_speed_is_measured_for_every_model(toy_lm, toy_text):
    speed = tokens_per_second({"a": toy_lm, "b": toy_lm}, toy_text, batch_size=2, rounds=1, repeats=2)
    assert set(speed) == {"a", "b"}
    assert all(v["evaluation"] > 0 and v["generation"] > 0 for v in speed.values())
    with pytest.raises(ValueError, match="share one context length"):
        tokens_per_second({"a": toy_lm, "b": CharTransformer()}, toy_text)


def test_feature_norms_and_outlier_features_by_the_llm_int8_definition():
    x = torch.ones(10, 4)
    x[:, 2] = 30.0
    norms = feature_norms({"layer": x})["layer"]
    torch.testing.assert_close(norms, torch.tensor([1.0, 1.0, 30.0, 1.0]) * 10**0.5)
    # magnitude >= 6 at >= 6% of the positions, in >= 25% of the layers
    quiet, loud = torch.zeros(100, 4), torch.zeros(100, 4)
    loud[:6, 1] = 7.0  # dimension 1: 6% of the positions, large
    loud[:5, 3] = 7.0  # dimension 3: 5% of the positions only
    layers = {"a": loud, "b": quiet, "c": quiet, "d": quiet}
    assert outlier_features(layers) == [1]  # 1 of 4 layers = 25%
    assert outlier_features(layers | {"e": quiet}) == []  # 1 of 5 layers: too few
    assert outlier_features({"a": loud}, magnitude=7.5) == []
