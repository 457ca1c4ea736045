"""Dynamic channel gates: top-k masks, gated copies, skipping, MAC counts, the static baseline."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import analysis, data, models, recipes
from course_lib import train as training

STAGES = {"conv2": "bn2", "conv3": "bn3"}


@pytest.fixture(scope="module")
def setup():
    model = models.load_pretrained("convnet")
    train, _, test = data.digits_splits()
    return model, recipes.fit_gates(model, STAGES, train.x[:400]), train.x[:400], test


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 12), st.data())
def test_topk_mask_keeps_the_k_largest_of_each_row(rows, cols, draw):
    k = draw.draw(st.integers(1, cols))
    scores = torch.randperm(rows * cols).float().view(rows, cols)  # distinct: topk is unambiguous
    expected = torch.zeros(rows, cols, dtype=torch.bool).scatter_(1, scores.topk(k, dim=1).indices, True)
    assert torch.equal(recipes.topk_mask(scores, k), expected)


def test_topk_mask_breaks_ties_toward_the_higher_index_and_checks_k():
    assert recipes.topk_mask(torch.tensor([[1.0, 2.0, 2.0, 2.0]]), 2).tolist() == [[False, False, True, True]]
    with pytest.raises(ValueError, match="k must be at most"):
        recipes.topk_mask(torch.zeros(2, 3), 4)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        recipes.topk_mask(torch.zeros(2, 3), 0)
    with pytest.raises(TypeError, match=r"\(B, C\)"):
        recipes.topk_mask(torch.zeros(3), 1)


def test_keeping_every_channel_computes_exactly_the_model(setup):
    model, gates, _, test = setup
    gated = recipes.gated_copy(model, STAGES, gates, kept_fraction=1.0)
    with torch.no_grad():
        assert torch.allclose(gated(test.x), model(test.x), atol=1e-6)


def test_gated_stage_zeroes_all_but_k_channels_and_skipping_gives_the_same_output(setup):
    model, gates, _, test = setup
    gated = recipes.gated_copy(model, STAGES, gates, kept_fraction=0.25)
    with torch.no_grad():
        h = gated.relu(gated.bn1(gated.conv1(test.x[:8])))
        out = gated.conv2(h)  # (8, 32, 8, 8)
        assert ((out.abs().sum(dim=(2, 3)) > 0).sum(dim=1) <= 8).all()
        assert torch.allclose(out, gated.conv2.forward_skipping(h), atol=1e-5)
    masks = gated.conv2.mask(h)
    assert (masks.sum(dim=1) == 8).all() and len({tuple(m.tolist()) for m in masks}) > 1  # per input
    assert isinstance(model.bn2, torch.nn.BatchNorm2d)  # the trained model is unchanged


def test_gates_are_the_least_squares_fit_of_the_saliency(setup):
    model, gates, x, _ = setup
    saliency = recipes.channel_saliency(model, STAGES, x)["conv3"]
    h = model.relu(model.bn1(model.conv1(x)))
    pooled = model.pool(model.relu(model.bn2(model.conv2(h)))).mean(dim=(2, 3))
    design = torch.cat([pooled, torch.ones(len(x), 1)], dim=1).detach().double()
    residual = saliency.double() - gates["conv3"](pooled).double()
    assert (design.T @ residual).abs().max() < 1e-3  # normal equations: residual orthogonal to inputs


def test_gated_macs_are_the_static_macs_plus_the_gates(setup):
    model, _, x, _ = setup
    static = recipes.static_copy(model, STAGES, 0.5, x)
    assert [static.conv2.out_channels, static.conv3.out_channels] == [16, 32]
    static_macs = analysis.count_macs(static, (1, 8, 8))
    assert recipes.gated_macs(model, x[:1], STAGES, 0.5) == static_macs + 16 * 32 + 32 * 64
    cost = analysis.ChannelCostModel(model, x[:1])
    assert static_macs == cost.macs({"conv2": 0.5, "conv3": 0.5})


def test_compare_reports_both_models_and_leaves_the_model_alone(setup):
    model, gates, x, test = setup
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loader = data.make_loader(test, 512)
    result = recipes.gated_vs_static(model, STAGES, gates, 0.5, x, loader)
    assert set(result) == {"dynamic", "static"}
    assert result["dynamic"]["macs"] > result["static"]["macs"]
    assert all(0 <= r["accuracy"] <= 1 for r in result.values())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_bad_arguments_are_clear_errors(setup):
    model, gates, x, _ = setup
    with pytest.raises(ValueError, match="kept_fraction must be in \\(0, 1\\]"):
        recipes.gated_copy(model, STAGES, gates, 0.0)
    with pytest.raises(ValueError, match="must name a Conv2d and its BatchNorm2d"):
        recipes.fit_gates(model, {"conv2": "bn3x"}, x)
    with pytest.raises(TypeError, match="non-empty dict"):
        recipes.gated_copy(model, {}, gates, 0.5)


def test_trainable_gates_get_gradients_and_keep_the_hard_forward(setup):
    model, gates, x, _ = setup
    fixed = recipes.gated_copy(model, STAGES, gates, 0.5)
    assert not any(p.requires_grad for p in fixed.conv2.gate.parameters())
    gated = recipes.gated_copy(model, STAGES, gates, 0.5, trainable=True)
    assert all(p.requires_grad for p in gated.conv2.gate.parameters())
    assert all(not p.requires_grad for p in gates["conv2"].parameters())  # the fitted gates are untouched
    batch = x[:32]
    gated.train()
    out = gated(batch)
    out.logsumexp(dim=1).sum().backward()
    assert gated.conv2.gate.weight.grad is not None and gated.conv2.gate.weight.grad.abs().sum() > 0
    # the straight-through estimator changes the gradient, not the value: eval == train forward
    # (compared with BatchNorm in eval mode in both, so only the mask path differs)
    gated.eval()
    with torch.no_grad():
        hard = gated(batch)
    for m in gated.modules():
        if isinstance(m, recipes.GatedStage):
            m.training = True  # the stage alone: its BatchNorm stays in eval mode
    with torch.enable_grad():
        soft = gated(batch)
    assert torch.allclose(hard, soft, atol=1e-5)


def test_training_the_gates_changes_them_and_keeps_k_channels(setup):
    model, gates, x, test = setup
    gated = recipes.gated_copy(model, STAGES, gates, 0.375, trainable=True)
    train_split = data.digits_splits().train
    training.seed_everything(0)
    training.train(gated, data.make_loader(train_split, 64, shuffle=True), 1, progress=False)
    assert not torch.equal(gated.conv2.gate.weight, gates["conv2"].weight)
    h = gated.relu(gated.bn1(gated.conv1(test.x[:8])))
    assert (gated.conv2.mask(h).sum(dim=1) == gated.conv2.k).all()


def test_gating_tradeoff_and_lookup(setup):
    model, gates, x, test = setup
    loader = data.make_loader(test, 512)
    keeps = (0.25, 0.5)
    rows = recipes.gating_tradeoff(model, STAGES, gates, keeps, x, loader)
    assert rows == [recipes.gated_vs_static(model, STAGES, gates, k, x, loader) for k in keeps]
    assert recipes.lookup_kept_fraction(keeps, rows, 0.5) is rows[1]
    with pytest.raises(ValueError, match="was not computed"):
        recipes.lookup_kept_fraction(keeps, rows, 0.375)
    with pytest.raises(ValueError, match="same length"):
        recipes.lookup_kept_fraction(keeps, rows[:1], 0.25)
    with pytest.raises(ValueError, match="at least one"):
        recipes.gating_tradeoff(model, STAGES, gates, (), x, loader)
