"""analysis.libraries: the kit agrees with torch.nn.utils.prune and Torch-Pruning (DepGraph)."""

import copy

import pytest
import torch
import torchvision
from torch import nn
from torch.nn.utils import prune

from course_lib import analysis, pruning
from course_lib.models import ConvNet, TinyResNet

DIGIT = torch.zeros(1, 1, 8, 8)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def trained_like(model):
    """Random weights with distinct magnitudes (no ties), BatchNorm statistics away from identity."""
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model.eval()


@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.9, 1.0])
def test_global_masks_agree_with_global_unstructured(sparsity):
    result = analysis.agreement_with_torch_prune(trained_like(ConvNet()), sparsity)
    assert result["agree"]
    total = sum(m.numel() for m in result["kit"].values())
    assert result["pruned"] == round(sparsity * total)


def test_torch_prune_masks_reads_the_mask_buffers():
    model = analysis.global_unstructured_copy(trained_like(ConvNet()), 0.5)
    masks = analysis.torch_prune_masks(model)
    assert set(masks) == set(pruning.global_magnitude_masks(model, 0.5))
    assert all(m.dtype == torch.bool for m in masks.values())
    assert not analysis.masks_agree(masks, {})


def test_global_unstructured_copy_leaves_the_model_alone_and_rejects_layerless_models():
    model = trained_like(ConvNet())
    before = copy.deepcopy(model.state_dict())
    analysis.global_unstructured_copy(model, 0.5)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="no Conv2d or Linear"):
        analysis.global_unstructured_copy(nn.ReLU(), 0.5)
    with pytest.raises(ValueError, match="sparsity must be in"):
        analysis.global_unstructured_copy(model, 1.5)


@pytest.mark.parametrize("amounts", [(0.5,), (0.3,), (0.0,), (0.5, 0.5), (0.25, 0.5, 0.2)])
def test_criterion_pruning_with_magnitude_equals_l1_unstructured(amounts):
    weight = torch.randn(12, 10, generator=torch.Generator().manual_seed(1))
    ours, theirs = nn.Linear(10, 12), nn.Linear(10, 12)
    ours.weight.data, theirs.weight.data = weight.clone(), weight.clone()
    for a in amounts:
        analysis.CriterionPruning.apply(ours, "weight", amount=a)
        prune.l1_unstructured(theirs, "weight", amount=a)
    assert torch.equal(ours.weight_mask, theirs.weight_mask)
    assert torch.equal(ours.weight, theirs.weight)


def test_criterion_pruning_takes_any_data_free_criterion_and_checks_amount():
    layer = nn.Linear(8, 8)
    analysis.CriterionPruning.apply(layer, "weight", amount=0.25, criterion=pruning.Random(seed=0))
    assert int((layer.weight_mask == 0).sum()) == 16
    with pytest.raises(ValueError, match="amount must be in"):
        analysis.CriterionPruning(1.5)


MODELS = [("convnet", ConvNet, DIGIT), ("tiny_resnet", TinyResNet, DIGIT)]


@pytest.mark.parametrize("name, make, x", MODELS, ids=[m[0] for m in MODELS])
@pytest.mark.parametrize("ratio", [0.25, 0.5])
def test_kit_importance_in_torch_pruning_builds_the_kits_model(name, make, x, ratio):
    result = analysis.agreement_with_torch_pruning(trained_like(make()), ratio, x)
    assert result["same_counts"] and result["same_outputs"]
    assert result["kit"]["params"] == result["torch_pruning"]["params"]
    assert result["kit"]["macs"] == result["torch_pruning"]["macs"]


def test_torch_prunings_own_importance_removes_the_same_counts():
    model = trained_like(TinyResNet())
    result = analysis.agreement_with_torch_pruning(model, 0.3, DIGIT, importance="magnitude")
    assert result["same_counts"] and result["kit"]["macs"] == result["torch_pruning"]["macs"]


def test_the_rounding_rules_explain_every_difference_on_resnet18():
    r18 = torchvision.models.resnet18().eval()
    image = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    original = analysis.channel_counts(r18)
    result = analysis.agreement_with_torch_pruning(r18, 0.3, image)
    assert not result["same_counts"]
    for name, c in original.items():
        if name == "fc":
            assert result["kit"]["channels"][name] == result["torch_pruning"]["channels"][name] == 1000
            continue
        assert result["kit"]["channels"][name] == analysis.kit_kept(c, 0.3)
        assert result["torch_pruning"]["channels"][name] == analysis.torch_pruning_kept(c, 0.3)
    rounded = analysis.torch_pruning_copy(r18, 0.3, image, round_to=8)
    for name, c in analysis.channel_counts(rounded).items():
        if name != "fc":
            assert c == analysis.torch_pruning_kept(original[name], 0.3, round_to=8) and c % 8 == 0


@pytest.mark.parametrize(
    "channels, ratio, round_to, kept",
    [(64, 0.3, None, 44), (16, 0.3, None, 11), (64, 0.3, 8, 40), (100, 0.5, 16, 48), (20, 0.0, 8, 20),
     (12, 0.25, 8, 8), (64, 0.5, None, 32)],
)  # fmt: skip
def test_torch_pruning_kept(channels, ratio, round_to, kept):
    assert analysis.torch_pruning_kept(channels, ratio, round_to) == kept


def test_kit_kept_rounds_the_removed_count_and_keeps_one():
    assert analysis.kit_kept(64, 0.3) == 45 and analysis.kit_kept(16, 0.3) == 11
    assert analysis.kit_kept(4, 0.99) == 1


def test_output_layers_are_the_classifiers_and_are_left_alone():
    model = trained_like(TinyResNet())
    assert analysis.output_layers(model, DIGIT) == [model.fc]
    pruned = analysis.torch_pruning_copy(model, 0.5, DIGIT, importance="magnitude", global_pruning=True)
    assert pruned(DIGIT).shape == (1, 10)
    assert analysis.count_params(model) == analysis.count_params(trained_like(TinyResNet()))  # unchanged


def test_iterative_steps_reach_the_ratio():
    once = analysis.torch_pruning_copy(trained_like(TinyResNet()), 0.5, DIGIT)
    steps = analysis.torch_pruning_copy(trained_like(TinyResNet()), 0.5, DIGIT, iterative_steps=3)
    assert analysis.channel_counts(once) == analysis.channel_counts(steps)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="importance must be"):
        analysis.torch_pruning_copy(ConvNet(), 0.5, DIGIT, importance="l7")
    with pytest.raises(ValueError, match="ratio must be in"):
        analysis.torch_pruning_copy(ConvNet(), 1.0, DIGIT)
    with pytest.raises(TypeError, match="round_to must be a positive integer"):
        analysis.torch_pruning_kept(16, 0.5, round_to=2.5)
    with pytest.raises(ValueError, match="channels must hold"):
        analysis.channel_latency([])


def test_channel_latency_rows():
    rows = analysis.channel_latency([8, 9], spatial=4, batch_size=2, rounds=1, repeats=1)
    assert [r["channels"] for r in rows] == [8, 9]
    assert rows[0]["macs"] == 2 * 4 * 4 * 8 * 8 * 9
    assert all(r["ms"] > 0 and r["ns_per_mac"] > 0 for r in rows)
