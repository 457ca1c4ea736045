import pytest
import torch
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

from course_lib.core import apply_masks, prunable_weights
from course_lib.models import ConvNet
from course_lib.pruning import global_magnitude_masks, magnitude_mask
from course_lib.recipes import (
    LoRAConv2d,
    LoRALinear,
    adapter_parameters,
    add_lora,
    count_trainable,
    frozen_batchnorm,
    lora_linear,
    merge_lora,
)


def pruned_linear(seed=0, sparsity=0.6):
    torch.manual_seed(seed)
    layer = nn.Linear(12, 7)
    return apply_masks(layer, {"weight": magnitude_mask(layer.weight, sparsity)})


def pruned_conv(seed=0):
    torch.manual_seed(seed)
    layer = nn.Conv2d(3, 5, 3, padding=1, stride=2, bias=True)
    with torch.no_grad():
        layer.weight[layer.weight.abs() < 0.1] = 0
    return layer


def randomize_b(layer, seed=1):
    torch.manual_seed(seed)
    with torch.no_grad():
        layer.b.normal_()


@pytest.mark.parametrize("make, wrapper, x_shape", [
    (pruned_linear, LoRALinear, (4, 12)),
    (pruned_conv, LoRAConv2d, (2, 3, 9, 9)),
])
def test_b_zero_leaves_outputs_unchanged(make, wrapper, x_shape):
    base = make()
    x = torch.randn(x_shape)
    expected = base(x)
    adapted = wrapper(base, rank=2)
    assert torch.equal(adapted.b, torch.zeros_like(adapted.b))
    assert torch.allclose(adapted(x), expected, atol=1e-6)


@pytest.mark.parametrize("make, wrapper, x_shape", [
    (pruned_linear, LoRALinear, (4, 12)),
    (pruned_conv, LoRAConv2d, (2, 3, 9, 9)),
])
def test_only_a_and_b_receive_gradients(make, wrapper, x_shape):
    adapted = wrapper(make(), rank=3)
    randomize_b(adapted)  # with B = 0 the gradient of A would be zero too
    adapted(torch.randn(x_shape)).square().sum().backward()
    assert adapted.base.weight.grad is None and adapted.base.bias.grad is None
    assert adapted.a.grad is not None and adapted.a.grad.abs().sum() > 0
    assert adapted.b.grad is not None and adapted.b.grad.abs().sum() > 0
    assert count_trainable(adapted) == 3 * (adapted.base.weight[0].numel() + adapted.base.weight.shape[0])


@pytest.mark.parametrize("make, wrapper, x_shape", [
    (pruned_linear, LoRALinear, (4, 12)),
    (pruned_conv, LoRAConv2d, (2, 3, 9, 9)),
])
def test_adapter_equals_dense_weight_update(make, wrapper, x_shape):
    """The low-rank path computes exactly what the layer would with weight W + s B A."""
    adapted = wrapper(make(), rank=2, alpha=3.0)
    randomize_b(adapted)
    x = torch.randn(x_shape)
    merged_weight = adapted.base.weight + 1.5 * (adapted.b @ adapted.a).view_as(adapted.base.weight)
    assert torch.allclose(adapted(x), adapted.with_weight(x, merged_weight), atol=1e-5)


def test_lora_linear_matches_formula():
    torch.manual_seed(0)
    x, w, bias = torch.randn(5, 6), torch.randn(4, 6), torch.randn(4)
    a, b = torch.randn(2, 6), torch.randn(4, 2)
    expected = x @ w.T + bias + 0.5 * x @ (b @ a).T
    assert torch.allclose(lora_linear(x, w, bias, a, b, 0.5), expected, atol=1e-5)


@pytest.mark.parametrize("keep_sparsity", [True, False])
def test_merge_then_unmerge_restores_the_base(keep_sparsity):
    base = pruned_linear()
    original = base.weight.detach().clone()
    adapted = LoRALinear(base, rank=2)
    randomize_b(adapted)
    adapted.merge(keep_sparsity)
    assert not torch.allclose(base.weight, original)
    assert torch.equal(base.weight == 0, original == 0) is keep_sparsity
    adapted.unmerge()
    assert torch.allclose(base.weight, original, atol=1e-6)
    assert torch.equal(base.weight == 0, original == 0)  # the zeros are exact again


def test_dense_merge_is_exact_sparse_merge_keeps_the_pattern():
    base = pruned_linear()
    x = torch.randn(8, 12)
    adapted = LoRALinear(base, rank=2)
    randomize_b(adapted)
    before = adapted(x)
    adapted.merge(keep_sparsity=False)
    assert torch.allclose(adapted(x), before, atol=1e-5)
    adapted.unmerge()
    adapted.merge(keep_sparsity=True)
    assert torch.equal(base.weight != 0, adapted.mask)
    assert not torch.allclose(adapted(x), before, atol=1e-3)


def test_sparse_delta_makes_the_sparse_merge_exact():
    adapted = LoRALinear(pruned_linear(), rank=2, sparse_delta=True)
    randomize_b(adapted)
    x = torch.randn(8, 12)
    before = adapted(x)
    adapted.merge(keep_sparsity=True)
    assert torch.allclose(adapted(x), before, atol=1e-5)
    assert torch.equal(adapted.base.weight != 0, adapted.mask)


def test_merge_twice_and_unmerge_unmerged_are_errors():
    adapted = LoRALinear(pruned_linear(), rank=1)
    with pytest.raises(RuntimeError, match="not merged"):
        adapted.unmerge()
    adapted.merge(True)
    with pytest.raises(RuntimeError, match="already merged"):
        adapted.merge(True)


def test_add_lora_freezes_a_copy_and_merge_restores_plain_layers():
    torch.manual_seed(0)
    model = ConvNet().eval()
    apply_masks(model, global_magnitude_masks(model, 0.7))
    x = torch.randn(3, 1, 8, 8)
    adapted = add_lora(model, rank=2).eval()
    assert all(p.requires_grad for p in model.parameters())  # the original is untouched
    trainable = {n for n, p in adapted.named_parameters() if p.requires_grad}
    assert trainable and all(n.endswith((".a", ".b")) for n in trainable)
    assert count_trainable(adapted) == 2 * sum(
        w[0].numel() + w.shape[0] for w in (model.conv1.weight, model.conv2.weight,
                                            model.conv3.weight, model.fc1.weight, model.fc2.weight)
    ) == sum(adapter_parameters(w.shape, 2) for w in prunable_weights(model).values())
    assert torch.allclose(adapted(x), model(x), atol=1e-5)
    merged = merge_lora(adapted, keep_sparsity=True)
    assert type(merged.conv2) is nn.Conv2d and type(merged.fc1) is nn.Linear


@pytest.mark.parametrize("rank, match", [(0, "rank"), (-1, "rank"), (8, r"rank must be <= min")])
def test_bad_rank_is_a_clear_error(rank, match):
    with pytest.raises(ValueError, match=match):
        LoRALinear(nn.Linear(7, 12), rank=rank)


def test_rank_too_large_for_a_layer_names_it():
    with pytest.raises(ValueError, match="conv1"):
        add_lora(ConvNet(), rank=10)  # conv1 has fan_in 1*3*3 = 9


def test_bad_base_and_alpha():
    with pytest.raises(TypeError, match="nn.Linear"):
        LoRALinear(nn.Conv2d(1, 2, 3), rank=1)
    with pytest.raises(TypeError, match="groups=1"):
        LoRAConv2d(nn.Conv2d(4, 4, 3, groups=2), rank=1)
    with pytest.raises(ValueError, match="alpha"):
        LoRALinear(nn.Linear(4, 4), rank=1, alpha=0)


def test_add_lora_freezes_batchnorm_statistics():
    torch.manual_seed(0)
    model = ConvNet().eval()
    with torch.no_grad():
        model.bn2.running_mean.uniform_(-1, 1)
        model.bn2.running_var.uniform_(0.5, 2)
    x = torch.randn(8, 1, 8, 8)
    adapted = add_lora(model, rank=1).train()  # train mode, as during adapter training
    assert isinstance(adapted.bn2, FrozenBatchNorm2d)
    assert torch.allclose(adapted(x), model(x), atol=1e-5)  # normalises with the stored statistics
    assert torch.equal(adapted.bn2.running_mean, model.bn2.running_mean)


def test_frozen_batchnorm_needs_running_statistics():
    with pytest.raises(ValueError, match="track running statistics"):
        frozen_batchnorm(nn.BatchNorm2d(3, track_running_stats=False))
