import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import fx, nn

from course_lib.core import apply_masks
from course_lib.hardware import linear_zero_outputs, observed_zero_channels, propagate_sparsity
from course_lib.models import MLP, TinyResNet, load_pretrained


def channel_masks(model, layer_to_bn, keep):
    """Prune output channels of conv layers together with their BatchNorm scale and shift."""
    params = dict(model.named_parameters())
    masks = {}
    for conv, bn in layer_to_bn.items():
        w = params[f"{conv}.weight"]
        k = keep[conv]
        masks[f"{conv}.weight"] = k.view(-1, *[1] * (w.dim() - 1)).expand_as(w).clone()
        if bn:
            masks[f"{bn}.weight"], masks[f"{bn}.bias"] = k.clone(), k.clone()
    return masks


class SkipDeadWork(fx.Interpreter):
    """Runs the model as hardware that skips the dead work would: channels marked unused are not
    computed (here: filled with noise) and channels marked zero are emitted as zeros without
    computing them. The model's output must not change."""

    def __init__(self, gm, report):
        super().__init__(gm)
        self.report = report

    def run_node(self, n):
        out = super().run_node(n)
        if n.name in self.report.unused and isinstance(out, torch.Tensor) and out.dim() >= 2:
            shape = (1, -1, *[1] * (out.dim() - 2))
            out = out + torch.randn_like(out) * self.report.unused[n.name].view(shape)
            out = out * ~self.report.zero[n.name].view(shape)
        return out


def assert_sound(model, masks, report, inputs):
    seen = observed_zero_channels(model, masks, inputs)
    for name, zero in report.zero.items():
        if name in seen:
            assert not (zero & ~seen[name]).any(), f"{name}: marked zero but is not"
    masked = apply_masks(copy.deepcopy(model), masks)
    gm = fx.symbolic_trace(masked)
    with torch.no_grad():
        torch.testing.assert_close(SkipDeadWork(gm, report).run(inputs), masked(inputs))


LAYERS = {"stem.0": "stem.1", "layer1.conv1": "layer1.bn1", "layer1.conv2": "layer1.bn2",
          "layer2.conv1": "layer2.bn1", "layer2.conv2": "layer2.bn2"}


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 1000), keep_fraction=st.floats(0.0, 1.0), elementwise=st.booleans())
def test_marked_zero_is_zero_and_unused_does_not_matter(seed, keep_fraction, elementwise):
    torch.manual_seed(seed)
    model = TinyResNet().eval()
    with torch.no_grad():  # random running statistics, so BatchNorm shifts are not all zero
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2)
                m.bias.normal_()
    g = torch.Generator().manual_seed(seed)
    keep = {c: torch.rand(dict(model.named_parameters())[f"{c}.weight"].shape[0], generator=g)
            < keep_fraction for c in LAYERS}
    masks = channel_masks(model, LAYERS, keep)
    if elementwise:  # fine-grained holes too, and one whole input column of layer2.conv2
        w = masks["layer2.conv2.weight"]
        masks["layer2.conv2.weight"] = w & (torch.rand(w.shape, generator=g) < 0.7)
        masks["layer2.conv2.weight"][:, 0] = False
    report = propagate_sparsity(model, torch.randn(2, 1, 8, 8), masks)
    assert report.dead_by_masks <= report.dead_macs <= report.total_macs
    assert_sound(model, masks, report, torch.randn(16, 1, 8, 8, generator=g))


def test_channel_pruned_tiny_resnet_finds_dead_compute_in_the_next_layer():
    model = load_pretrained("tiny_resnet")
    keep = torch.arange(16) >= 4  # channels 0..3 of layer1.conv1 pruned with their BatchNorm
    masks = channel_masks(model, {"layer1.conv1": "layer1.bn1"}, {"layer1.conv1": keep})
    report = propagate_sparsity(model, torch.randn(1, 1, 8, 8), masks)
    assert report.zero["layer1_relu"].tolist() == (~keep).tolist()
    total, by_masks, dead = report.layers["layer1_conv2"]
    assert by_masks == 0 and dead == total * 4 // 16  # its 4 input channels are zero
    assert report.layers["layer1_conv1"][1] == report.layers["layer1_conv1"][2] == total * 4 // 16
    assert report.total_macs == sum(v[0] for v in report.layers.values())
    assert report.rounds >= 2
    assert_sound(model, masks, report, torch.randn(8, 1, 8, 8))


def test_batchnorm_shift_keeps_a_pruned_channel_alive():
    """Pruning only the conv: BatchNorm adds its shift, so the channel is not zero after it."""
    model = load_pretrained("tiny_resnet")
    w = model.layer1.conv1.weight
    masks = {"layer1.conv1.weight": torch.ones_like(w, dtype=torch.bool)}
    masks["layer1.conv1.weight"][:3] = False
    report = propagate_sparsity(model, torch.randn(1, 1, 8, 8), masks)
    assert report.zero["layer1_conv1"][:3].all()
    bn = model.layer1.bn1
    shift = bn.bias - bn.running_mean * bn.weight / torch.sqrt(bn.running_var + bn.eps)
    assert report.zero["layer1_bn1"][:3].tolist() == (shift[:3] == 0).tolist()


def test_backward_rule_on_an_mlp():
    """A pruned input column of the last layer makes the hidden unit feeding it unused."""
    model = MLP().eval()
    masks = {"layers.5.weight": torch.ones(10, 64, dtype=torch.bool)}
    masks["layers.5.weight"][:, 7] = False
    report = propagate_sparsity(model, torch.randn(3, 1, 8, 8), masks)
    assert report.unused["layers_3"][7] and report.unused["layers_3"].sum() == 1
    total, by_masks, dead = report.layers["layers_3"]
    assert by_masks == 0 and dead == 128  # the 128 MACs computing hidden unit 7
    assert report.layers["layers_5"][1] == 10


def test_linear_zero_outputs_rule():
    w = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    zero_in = torch.tensor([False, True])
    assert linear_zero_outputs(w, zero_in).tolist() == [False, True, True]
    assert linear_zero_outputs(w, zero_in, torch.tensor([0.0, 1.0, 0.0])).tolist() == [False, False, True]
    conv = torch.zeros(2, 2, 3, 3)
    conv[0, 1, 1, 1] = 1.0
    assert linear_zero_outputs(conv, zero_in).tolist() == [True, True]


class SmoothMLP(nn.Module):
    """GELU and SiLU as modules and as functions, a product of two branches and a sigmoid gate."""

    def __init__(self):
        super().__init__()
        self.fc1, self.gelu, self.fc2 = nn.Linear(64, 12), nn.GELU(), nn.Linear(12, 12)
        self.up, self.silu, self.out = nn.Linear(12, 12), nn.SiLU(), nn.Linear(12, 3)

    def forward(self, x):
        h = self.gelu(self.fc1(x.flatten(1)))
        g = nn.functional.silu(self.fc2(h)) * self.silu(self.up(h))  # zero where either is zero
        return self.out(nn.functional.gelu(g) + torch.sigmoid(h))  # sigmoid(0) = 1/2: not zero


def test_gelu_silu_keep_zeros_and_sigmoid_does_not():
    model = SmoothMLP().eval()
    dead = torch.arange(12) < 3  # units 0..2 of fc1 and up, units 3..5 of fc2 pruned (rows and biases)
    masks = {f"{layer}.{name}": ~rows[:, None].expand(12, fan_in) if name == "weight" else ~rows
             for layer, rows, fan_in in (("fc1", dead, 64), ("up", dead, 12), ("fc2", dead.roll(3), 12))
             for name in ("weight", "bias")}
    x = torch.randn(1, 1, 8, 8)
    report = propagate_sparsity(model, x, masks)
    assert report.zero["gelu"].tolist() == dead.tolist()  # nn.GELU
    assert report.zero["silu"].tolist() == dead.roll(3).tolist()  # F.silu of fc2
    assert report.zero["mul"].tolist() == (dead | dead.roll(3)).tolist()  # the product: either
    assert report.zero["gelu_1"].tolist() == report.zero["mul"].tolist()  # F.gelu
    assert not report.zero["sigmoid"].any() and not report.zero["add"].any()
    assert report.unused["silu_1"][3:6].all()  # up's units 3..5 are wasted: the product is zero there
    assert report.dead_macs > report.dead_by_masks
    assert_sound(model, masks, report, torch.randn(6, 1, 8, 8))


class Concat(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 3), nn.Linear(4, 3)
        self.out = nn.Linear(6, 2)

    def forward(self, x):
        return self.out(torch.cat([self.a(x), self.b(x)], dim=1))


def test_unknown_ops_are_treated_conservatively():
    model = Concat().eval()
    masks = {"a.weight": torch.zeros(3, 4, dtype=torch.bool), "a.bias": torch.zeros(3, dtype=torch.bool)}
    report = propagate_sparsity(model, torch.randn(2, 4), masks)
    assert report.zero["a"].all()  # known from the rule for Linear
    assert not report.zero["cat"].any() and not report.unused["b"].any()  # cat: nothing assumed
    assert_sound(model, masks, report, torch.randn(5, 4))


def test_bad_input_is_a_clear_error():
    model = load_pretrained("tiny_resnet")
    x = torch.randn(1, 1, 8, 8)
    with pytest.raises(ValueError, match="not a parameter"):
        propagate_sparsity(model, x, {"nope.weight": torch.ones(1, dtype=torch.bool)})
    with pytest.raises(ValueError, match="has shape"):
        propagate_sparsity(model, x, {"fc.weight": torch.ones(3, dtype=torch.bool)})
    with pytest.raises(TypeError, match="bool"):
        propagate_sparsity(model, x, {"fc.weight": torch.ones(10, 32)})
    with pytest.raises(TypeError, match="example_input"):
        propagate_sparsity(model, [1], {})
    with pytest.raises(ValueError, match="eval"):
        propagate_sparsity(TinyResNet().train(), x, {})
