"""Channel pruning: dependency groups, importance, physical removal, sensitivity and budgets."""

import copy

import pytest
import torch
import torch.nn.functional as F
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from course_lib import analysis, pruning, structured
from course_lib.analysis import count_macs, count_params, model_size_bytes
from course_lib.models import ConvNet, TinyResNet

DIGIT = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
IMAGE = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny convolutions: one thread is faster


def trained_like(model: nn.Module, seed: int = 0) -> nn.Module:
    """``model`` in eval mode with non-trivial BatchNorm statistics and affine parameters."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                c = module.num_features
                module.weight.copy_(torch.rand(c, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(c, generator=generator) * 0.1)
                module.running_mean.copy_(torch.randn(c, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(c, generator=generator) + 0.5)
    return model.eval()


def models():
    torch.manual_seed(0)
    return [
        ("convnet", trained_like(ConvNet()), DIGIT),
        ("tiny_resnet", trained_like(TinyResNet()), DIGIT),
        ("resnet18", trained_like(torchvision.models.resnet18()), IMAGE),
    ]


MODELS = models()
MODEL_IDS = [name for name, _, _ in MODELS]


def group(groups, name):
    return next(g for g in groups if g.name == name)


# ---------------------------------------------------------------- dependency groups


def test_convnet_groups_follow_conv_bn_and_flatten():
    groups = structured.channel_groups(ConvNet(), DIGIT)
    assert [(g.name, g.channels, g.prunable) for g in groups] == [
        ("conv1", 16, True), ("conv2", 32, True), ("conv3", 64, True), ("fc1", 64, True),
        ("fc2", 10, False),
    ]  # fmt: skip
    conv3 = group(groups, "conv3")
    assert conv3.norms == ["bn3"]
    assert conv3.consumers == [("fc1", 4)]  # (B, 64, 2, 2) flattened: 4 features per channel


def test_tiny_resnet_residual_channels_form_one_group():
    groups = structured.channel_groups(TinyResNet(), DIGIT)
    stem = group(groups, "stem.0")
    assert stem.producers == ["stem.0", "layer1.conv2"]
    assert stem.norms == ["stem.1", "layer1.bn2"]
    assert sorted(n for n, _ in stem.consumers) == ["layer1.conv1", "layer2.conv1", "layer2.shortcut.0"]
    out = group(groups, "layer2.conv2")
    assert out.producers == ["layer2.conv2", "layer2.shortcut.0"]
    assert out.consumers == [("fc", 1)]
    assert not group(groups, "fc").prunable


def test_resnet18_every_conv_belongs_to_exactly_one_group():
    model = torchvision.models.resnet18()
    groups = structured.channel_groups(model, IMAGE)
    producers = [p for g in groups for p in g.producers]
    convs = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert sorted(producers) == sorted(convs)
    assert len([g for g in groups if g.prunable]) == 12  # 4 residual stages + 8 block-internal


def test_tracing_leaves_the_model_in_its_mode_and_batchnorm_statistics_alone():
    model = TinyResNet().train()
    before = copy.deepcopy(model.state_dict())
    structured.channel_groups(model, DIGIT)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


class GatedResidual(nn.Module):
    """GELU and SiLU (as modules and as functions), a sigmoid gate, a residual sum, pooling and a
    reshape: every operation is one of the op table's, none is special-cased for this model."""

    def __init__(self):
        super().__init__()
        self.stem, self.bn, self.gelu = nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.GELU()
        self.conv, self.gate, self.silu = nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 1), nn.SiLU()
        self.pool, self.head = nn.MaxPool2d(2), nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = self.gelu(self.bn(self.stem(x)))  # (B, 8, 8, 8)
        y = F.silu(self.conv(x)) * torch.sigmoid(self.gate(x))  # the product ties conv and gate
        x = self.pool(self.silu(x + y))  # the sum ties the stem to both: (B, 8, 4, 4)
        return self.head(F.gelu(x).reshape(x.shape[0], -1))


def test_gelu_silu_and_a_gate_are_traced_from_the_op_table():
    model = trained_like(GatedResidual())
    groups = structured.channel_groups(model, DIGIT)
    assert [(g.name, g.producers, g.norms, g.prunable) for g in groups] == [
        ("stem", ["stem", "conv", "gate"], ["bn"], True), ("head", ["head"], [], False)]
    assert sorted(group(groups, "stem").consumers) == [("conv", 1), ("gate", 1), ("head", 16)]
    torch.testing.assert_close(structured.prune_channels(model, 0.0, DIGIT)(DIGIT), model(DIGIT))
    pruned = structured.prune_channels(model, 0.5, DIGIT)
    assert pruned.stem.out_channels == pruned.gate.in_channels == 4 and pruned.head.in_features == 64


# ---------------------------------------------------------------- importance


CHANNEL_CRITERIA = ("magnitude", "l2", "bn_gamma", "next_layer_l2", "taylor", "random")


def test_criteria_match_their_definitions():
    torch.manual_seed(1)
    model = trained_like(ConvNet())
    groups = structured.channel_groups(model, DIGIT)
    batch = (DIGIT, torch.arange(4))
    scores = {c: structured.group_scores(model, groups, c, batch=batch) for c in CHANNEL_CRITERIA}
    w = model.conv2.weight.detach()
    torch.testing.assert_close(scores["magnitude"]["conv2"], w.abs().sum(dim=(1, 2, 3)))
    torch.testing.assert_close(scores["l2"]["conv2"], w.flatten(1).norm(dim=1))
    torch.testing.assert_close(scores["bn_gamma"]["conv2"], model.bn2.weight.detach().abs())
    assert "fc1" not in scores["bn_gamma"]  # no BatchNorm after fc1: no gamma to rank by
    next_w = model.conv3.weight.detach()
    torch.testing.assert_close(
        scores["next_layer_l2"]["conv2"], torch.stack([next_w[:, c].norm() for c in range(32)])
    )
    # fc1 reads conv3's channel c as features 4c..4c+3 of the flattened map
    fc1 = model.fc1.weight.detach()
    torch.testing.assert_close(
        scores["next_layer_l2"]["conv3"], torch.stack([fc1[:, 4 * c : 4 * c + 4].norm() for c in range(64)])
    )
    assert set(scores["random"]) == {"conv1", "conv2", "conv3", "fc1"}
    again = structured.group_scores(model, groups, "random")  # a fresh Random(seed=0): the same draws
    assert all(torch.equal(again[k], v) for k, v in scores["random"].items())


def _taylor_term(model, images, labels):
    """z = sum of w * dL/dw over conv2's filters and bn2's gamma and beta, per channel: (32,)."""
    model.zero_grad()
    nn.functional.cross_entropy(model(images), labels).backward()
    return sum(
        (p.detach() * p.grad).flatten(1).sum(dim=1) if p.ndim > 1 else p.detach() * p.grad
        for p in (model.conv2.weight, model.bn2.weight, model.bn2.bias)
    )


def test_taylor_is_the_squared_weight_times_gradient_sum_per_channel():
    torch.manual_seed(2)
    model = trained_like(ConvNet())
    labels = torch.tensor([0, 3, 5, 9])
    scores = structured.channel_importance(model, DIGIT, "taylor", batch=(DIGIT, labels))
    torch.testing.assert_close(scores["conv2"], _taylor_term(model, DIGIT, labels).square())
    as_list = structured.channel_importance(model, DIGIT, "taylor", batch=[(DIGIT, labels)])
    assert all(torch.equal(as_list[k], v) for k, v in scores.items())


def test_taylor_averages_the_squared_term_over_mini_batches():
    """Molchanov et al. 2019 average the squared first-order term over mini-batches: mean_b z_b^2,
    not (mean_b z_b)^2 and not one batch's |z|."""
    torch.manual_seed(3)
    model = trained_like(ConvNet())
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randn(4, 1, 8, 8, generator=g), torch.randint(0, 10, (4,), generator=g))
               for _ in range(3)]
    scores = structured.channel_importance(model, DIGIT, "taylor", batch=iter(batches))
    terms = torch.stack([_taylor_term(model, x, y) for x, y in batches])  # (3, 32)
    torch.testing.assert_close(scores["conv2"], terms.square().mean(dim=0))
    assert not torch.allclose(scores["conv2"], terms.mean(dim=0).square())
    assert set(scores) == {"conv1", "conv2", "conv3", "fc1"}


def test_taylor_rejects_what_is_not_a_batch_of_labelled_inputs():
    model = ConvNet()
    for bad in (None, DIGIT, [], [DIGIT], [(DIGIT, torch.zeros(4).long()), "x"]):
        with pytest.raises((TypeError, ValueError), match="batch"):
            structured.channel_importance(model, DIGIT, "taylor", batch=bad)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 5), st.integers(1, 4), st.integers(0, 10_000))
def test_input_channel_norms_follow_a_permutation_of_channels(channels, repeat, seed):
    weight = torch.randn(3, channels * repeat, generator=torch.Generator().manual_seed(seed))
    perm = torch.randperm(channels, generator=torch.Generator().manual_seed(seed))
    permuted = weight.view(3, channels, repeat)[:, perm].reshape(3, -1)
    norms = structured.input_channel_norms(weight, repeat)
    torch.testing.assert_close(structured.input_channel_norms(permuted, repeat), norms[perm])
    torch.testing.assert_close(norms.square().sum(), weight.square().sum())


# ---------------------------------------------------------------- removing channels


@pytest.mark.parametrize("name, model, x", MODELS, ids=MODEL_IDS)
def test_ratio_zero_computes_exactly_what_the_original_does(name, model, x):
    pruned = structured.prune_channels(model, 0.0, x)
    assert pruned is not model
    with torch.no_grad():
        assert torch.equal(pruned(x), model(x))


@pytest.mark.parametrize("name, model, x", MODELS, ids=MODEL_IDS)
def test_pruned_layers_really_shrink_and_the_original_is_untouched(name, model, x):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pruned = structured.prune_channels(model, 0.5, x)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    layers = dict(pruned.named_modules())
    for g in structured.channel_groups(model, x):
        kept = g.channels - (structured.n_pruned(g.channels, 0.5) if g.prunable else 0)
        for p in g.producers:
            assert layers[p].weight.shape[0] == kept, p
        for n in g.norms:
            assert layers[n].num_features == layers[n].running_mean.numel() == kept, n
        for c, repeat in g.consumers:
            assert layers[c].weight.shape[1] == kept * repeat, c
    with torch.no_grad():
        assert pruned(x).shape == model(x).shape
    shape = tuple(x.shape[1:])
    assert count_params(pruned) < 0.3 * count_params(model)  # about (1 - 0.5)^2 of the weights
    assert count_macs(pruned, shape) < 0.3 * count_macs(model, shape)


@pytest.mark.parametrize("name, model, x", MODELS[:2], ids=MODEL_IDS[:2])
@settings(max_examples=15, deadline=None)
@given(ratio=st.floats(0.0, 0.99))
def test_pruning_equals_masking_what_consumers_read(name, model, x, ratio):
    """Removing channels computes what the dense model computes when every consumer ignores them."""
    groups = structured.channel_groups(model, x)
    scores = structured.group_scores(model, groups, "magnitude")
    masked = copy.deepcopy(model)
    layers = dict(masked.named_modules())
    for g in (g for g in groups if g.prunable):
        kept = structured.kept_indices(scores[g.name], ratio)
        assert 1 <= len(kept) == g.channels - structured.n_pruned(g.channels, ratio)
        dropped = torch.ones(g.channels, dtype=torch.bool)
        dropped[kept] = False
        for c, repeat in g.consumers:
            with torch.no_grad():
                layers[c].weight[:, dropped.repeat_interleave(repeat)] = 0
    pruned = structured.prune_channels(model, ratio, x)
    with torch.no_grad():
        torch.testing.assert_close(pruned(x), masked(x), atol=1e-5, rtol=1e-4)


def test_pruning_keeps_the_highest_scores_in_their_order():
    model = trained_like(ConvNet())
    pruned = structured.prune_channels(model, {"conv2": 0.25}, DIGIT, scores={"conv2": -torch.arange(32.0)})
    torch.testing.assert_close(pruned.conv2.weight, model.conv2.weight[:24])
    torch.testing.assert_close(pruned.bn2.running_var, model.bn2.running_var[:24])
    torch.testing.assert_close(pruned.conv3.weight, model.conv3.weight[:, :24])
    assert pruned.conv1.weight.shape == model.conv1.weight.shape  # groups not named keep everything


def test_a_dict_may_name_any_producer_of_a_group():
    model = trained_like(TinyResNet())
    a = structured.prune_channels(model, {"layer1.conv2": 0.5}, DIGIT)
    b = structured.prune_channels(model, {"stem.0": 0.5, "layer1.conv2": 0.5}, DIGIT)
    assert a.stem[0].out_channels == b.stem[0].out_channels == a.layer1.conv2.out_channels == 8


def test_prune_conv_pair_matches_prune_channels():
    torch.manual_seed(3)
    pair = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3))
    conv, consumer = structured.prune_conv_pair(pair[0], pair[2], n_keep=5)
    pruned = structured.prune_channels(pair, {"0": 3 / 8}, DIGIT)
    torch.testing.assert_close(conv.weight, pruned[0].weight)
    torch.testing.assert_close(conv.bias, pruned[0].bias)
    torch.testing.assert_close(consumer.weight, pruned[2].weight)
    assert pair[0].out_channels == 8  # the originals are untouched
    with pytest.raises(ValueError, match="n_keep"):
        structured.prune_conv_pair(pair[0], pair[2], n_keep=9)


@pytest.mark.parametrize(
    "ratio, error, words",
    [
        (1.0, ValueError, "ratio must be in [0, 1)"),
        (-0.1, ValueError, "ratio must be in [0, 1)"),
        ("0.5", TypeError, "ratio must be a real number"),
        ({"conv9": 0.5}, ValueError, "'conv9' that is not a prunable layer"),
        ({"fc2": 0.5}, ValueError, "'fc2' whose output channels reach"),
        ({"conv1": 1.5}, ValueError, "ratio['conv1'] must be in [0, 1)"),
    ],
)
def test_bad_ratios_are_named(ratio, error, words):
    with pytest.raises(error) as err:
        structured.prune_channels(ConvNet(), ratio, DIGIT)
    assert words in str(err.value)


def test_one_group_gets_one_ratio():
    with pytest.raises(ValueError, match="one ratio"):
        structured.prune_channels(TinyResNet(), {"stem.0": 0.5, "layer1.conv2": 0.25}, DIGIT)


def test_bad_example_inputs_are_named():
    with pytest.raises(ValueError, match=r"example_input of shape \(2, 3, 8, 8\) does not fit ConvNet"):
        structured.prune_channels(ConvNet(), 0.5, torch.zeros(2, 3, 8, 8))
    with pytest.raises(TypeError, match="example_input must be a tensor"):
        structured.prune_channels(ConvNet(), 0.5, (1, 8, 8))
    with pytest.raises(ValueError, match="criterion must be one of"):
        structured.prune_channels(ConvNet(), 0.5, DIGIT, criterion="l3")
    with pytest.raises(ValueError, match="no scores for group 'fc1'"):
        structured.prune_channels(ConvNet(), 0.5, DIGIT, criterion="bn_gamma")
    with pytest.raises(ValueError, match="needs batch"):
        structured.prune_channels(ConvNet(), 0.5, DIGIT, criterion="taylor")


# ---------------------------------------------------------------- agreement with Torch-Pruning


@pytest.mark.parametrize("name, model, x", MODELS, ids=MODEL_IDS)
def test_same_channels_as_torch_pruning_give_the_same_model(name, model, x):
    tp = pytest.importorskip("torch_pruning")
    ours = structured.prune_channels(model, 0.4, x)
    reference = copy.deepcopy(model)
    graph = tp.DependencyGraph().build_dependency(reference, example_inputs=x)
    groups = structured.channel_groups(model, x)
    scores = structured.group_scores(model, groups, "magnitude")
    layers = dict(reference.named_modules())
    for g in (g for g in groups if g.prunable):
        dropped = torch.ones(g.channels, dtype=torch.bool)
        dropped[structured.kept_indices(scores[g.name], 0.4)] = False
        leader = layers[g.producers[0]]
        how = tp.prune_conv_out_channels if isinstance(leader, nn.Conv2d) else tp.prune_linear_out_channels
        tp_group = graph.get_pruning_group(leader, how, idxs=dropped.nonzero().flatten().tolist())
        assert graph.check_pruning_group(tp_group)
        tp_group.prune()
    shape = tuple(x.shape[1:])
    assert count_params(ours) == count_params(reference)
    assert count_macs(ours, shape) == count_macs(reference, shape)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x))


# ---------------------------------------------------------------- sensitivity and budgets


def accuracy_proxy(model):
    """Agreement of a model's predictions with the dense model's on fixed inputs (higher is better)."""
    with torch.no_grad():
        return (model(PROBE).argmax(1) == DENSE(PROBE).argmax(1)).float().mean().item()


torch.manual_seed(4)
DENSE = trained_like(ConvNet())
PROBE = torch.randn(64, 1, 8, 8, generator=torch.Generator().manual_seed(5))


def test_sensitivity_scan_prunes_one_group_at_a_time():
    ratios = (0.0, 0.5, 0.9)
    scan = analysis.channel_sensitivity(DENSE, DIGIT, accuracy_proxy, ratios, progress=False)
    assert scan.ratios == ratios and scan.dense == 1.0
    assert set(scan.curves) == {"conv1", "conv2", "conv3", "fc1"}
    for name, curve in scan.curves.items():
        assert curve[0] == 1.0  # nothing removed
        expected = accuracy_proxy(structured.prune_channels(DENSE, {name: 0.9}, DIGIT))
        assert curve[2] == expected


def test_largest_safe_ratio():
    ratios, values = (0.1, 0.3, 0.5, 0.7), (0.99, 0.98, 0.9, 0.95)
    assert analysis.largest_safe_ratio(ratios, values, 1.0, 0.02) == 0.3
    assert analysis.largest_safe_ratio(ratios, values, 1.0, 0.05) == 0.7  # any ratio within the drop
    assert analysis.largest_safe_ratio(ratios, values, 1.0, 0.001) == 0.0


def test_ratios_for_a_mac_budget_fit_it_and_spare_sensitive_groups():
    ratios = (0.1, 0.3, 0.5, 0.7, 0.9)
    scan = analysis.channel_sensitivity(DENSE, DIGIT, accuracy_proxy, ratios, progress=False)
    chosen = {}
    for budget in (0.6, 0.4, 0.2):
        chosen[budget] = analysis.ratios_for_mac_budget(DENSE, DIGIT, scan, budget)
        pruned = structured.prune_channels(DENSE, chosen[budget], DIGIT)
        assert analysis.mac_fraction(DENSE, pruned, DIGIT) <= budget
    # a tighter budget never gives any group fewer pruned channels
    assert all(chosen[0.2][g] >= chosen[0.4][g] >= chosen[0.6][g] for g in chosen[0.2])
    with pytest.raises(ValueError, match="budget=0.001 is below"):
        analysis.ratios_for_mac_budget(DENSE, DIGIT, scan, 0.001)


# ---------------------------------------------------------------- costs


def test_compare_costs_and_table_report_the_metrics():
    pruned = structured.prune_channels(DENSE, 0.5, DIGIT)
    costs = analysis.measure_costs({"dense": DENSE, "pruned": pruned}, (1, 8, 8), (1, 8), rounds=2, repeats=2)
    assert costs["pruned"]["params"] == count_params(pruned)
    assert costs["pruned"]["macs"] == count_macs(pruned, (1, 8, 8))
    assert costs["pruned"]["bytes"] == model_size_bytes(pruned)
    for c in costs.values():
        median, fastest = c["latency_ms"]["median"], c["latency_ms"]["min"]
        assert set(median) == set(fastest) == {1, 8}
        assert all(0 < fastest[b] <= median[b] for b in (1, 8))
    for statistic in ("median", "min"):
        lines = analysis.costs_table(costs, statistic).splitlines()
        assert len(lines) == 3 and lines[0].split()[-3:] == [statistic, "ms", "b=8"]
        assert lines[1].count("(1.00x)") == 5
        params_ratio = count_params(pruned) / count_params(DENSE)
        assert f"{count_params(pruned):,} ({params_ratio:.2f}x)" in lines[2]
        latency = costs["pruned"]["latency_ms"][statistic][8]
        assert f"{latency:.2f} ({latency / costs['dense']['latency_ms'][statistic][8]:.2f}x)" in lines[2]
    with pytest.raises(ValueError, match="statistic must be one of"):
        analysis.costs_table(costs, "mean")
    with pytest.raises(ValueError, match="models must hold"):
        analysis.measure_costs({}, (1, 8, 8))


def test_interleaved_latency_is_one_timing_per_model():
    times = analysis.interleaved_latency([DENSE, DENSE], DIGIT, rounds=3, repeats=2)
    assert len(times) == 2 and all(0 < t["min"] <= t["median"] for t in times)
    with pytest.raises(ValueError, match="rounds must be a positive integer"):
        analysis.interleaved_latency([DENSE], DIGIT, rounds=0)


def test_ratio_costs_leaves_the_model_alone_and_reports_the_pruned_copy():
    before = {k: v.clone() for k, v in DENSE.state_dict().items()}
    table = analysis.ratio_costs(DENSE, 0.3, DIGIT, batch_sizes=(1,), rounds=1)
    assert all(torch.equal(before[k], v) for k, v in DENSE.state_dict().items())
    pruned = structured.prune_channels(DENSE, 0.3, DIGIT)
    assert "30% channels removed" in table and f"{count_macs(pruned, (1, 8, 8)):,}" in table


def test_speedups_compare_macs_of_each_ratio_with_dense():
    rows = analysis.speedups(DENSE, DIGIT, (0.25, 0.5), batch_sizes=(2,), rounds=1, repeats=1)
    for row in rows:
        pruned = structured.prune_channels(DENSE, row["ratio"], DIGIT)
        assert row["mac_speedup"] == pytest.approx(1 / analysis.mac_fraction(DENSE, pruned, DIGIT))
        assert set(row["latency_speedup"]) == {"median", "min"}
        assert all(s > 0 for by_batch in row["latency_speedup"].values() for s in by_batch.values())


def test_group_scores_take_any_data_free_weight_criterion_of_the_one_protocol():
    model = trained_like(ConvNet())
    groups = structured.channel_groups(model, DIGIT)
    by_name = structured.group_scores(model, groups, "magnitude")
    by_criterion = structured.group_scores(model, groups, pruning.Magnitude())
    assert by_name.keys() == by_criterion.keys()
    for name in by_name:
        torch.testing.assert_close(by_criterion[name], by_name[name])
    with pytest.raises(ValueError, match="needs batch"):
        structured.group_scores(model, groups, pruning.OBD())


def test_pruned_channels_removes_the_lowest_scores_and_overlap_uses_them():
    scores = {"a": torch.tensor([4.0, 1.0, 3.0, 0.0]), "b": torch.tensor([0.0, 1.0, 3.0, 4.0])}
    assert structured.pruned_channels(scores["a"], 0.5).tolist() == [False, True, False, True]
    assert structured.pruned_channels(scores["a"], 0.99).sum() == 3  # at least one channel stays
    overlap = structured.pruned_overlap(scores, 0.5)  # a removes {1, 3}, b removes {0, 1}
    assert overlap.tolist() == [[1.0, 0.5], [0.5, 1.0]]
