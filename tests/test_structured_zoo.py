"""Channel pruning, masks and MAC counts on the networks industry runs (issue 27).

First each construct of those networks on a tiny hand-made module (fast): depthwise and grouped
convolutions, concatenation, chunk and channel shuffle, channels-last LayerNorm with layer scale,
squeeze-and-excitation gates, and the patterns that must still be refused. Then twelve torchvision
architectures, built without weights (nothing is downloaded), pruned at 30% per group and compared
with Torch-Pruning; and ViT-B/16 and Swin-T for masks and MAC counts.

The strongest check of the surgery is exactness: when the channels about to be removed are first
made exactly zero (their producers' rows, norms' scale and shift, depthwise filters and per-channel
parameters), removing them must not change the model's output at all. It holds for every network
normalised per channel (BatchNorm); LayerNorm's statistics see all channels, so ConvNeXt is checked
for shapes and training instead.
"""

import copy
import io
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from course_lib import core, models, pruning, structured
from course_lib.analysis import count_macs
from course_lib.analysis.libraries import torch_pruning_copy

RATIO = 0.3


@pytest.fixture(scope="module", autouse=True)
def one_thread_for_the_module():
    """One torch thread, also while the module-scoped zoo fixture builds and prunes (small inputs:
    a second thread only adds synchronisation on a shared CPU)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def image(batch=2, size=16, channels=3, seed=0):
    return torch.randn(batch, channels, size, size, generator=torch.Generator().manual_seed(seed))


def randomised(model: nn.Module, seed: int = 0) -> nn.Module:
    """``model`` in eval mode with random norm parameters and statistics (so that zeroing a channel's
    scale and shift, not their initial values, is what silences it)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.BatchNorm2d, nn.LayerNorm)):
                n = module.weight.shape[0]
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
    return model.eval()


def zero_then_prune(model: nn.Module, x: torch.Tensor, ratio: float = 0.5, seed: int = 0):
    """(model with the channels to remove zeroed, that model pruned): random scores choose them."""
    groups = structured.channel_groups(model, x)
    generator = torch.Generator().manual_seed(seed)
    scores = {g.name: torch.rand(g.channels, generator=generator) for g in groups if g.prunable}
    zeroed = copy.deepcopy(model)
    modules, params = dict(zeroed.named_modules()), dict(zeroed.named_parameters())
    with torch.no_grad():
        for group in (g for g in groups if g.prunable):
            gone = torch.ones(group.channels, dtype=torch.bool)
            gone[structured.kept_indices(scores[group.name], ratio)] = False
            for (role, name), slots in group.slots.items():
                if role == "consumers":
                    continue  # they read zeros: nothing to silence
                rows = slots.positions[gone[slots.channels]]
                tensors = [params[name]] if role == "params" else [modules[name].weight, modules[name].bias]
                for tensor in (t for t in tensors if t is not None):
                    tensor.index_fill_(slots.axis, rows, 0.0)
    pruned = structured.prune_channels(zeroed, ratio, x, scores=scores)
    return zeroed, pruned


def assert_removal_is_exact(model: nn.Module, x: torch.Tensor, ratio: float = 0.5) -> nn.Module:
    zeroed, pruned = zero_then_prune(model, x, ratio)
    with torch.no_grad():
        torch.testing.assert_close(pruned(x), zeroed(x), rtol=1e-4, atol=1e-5)
    return pruned


def group_of(groups, name):
    return next(g for g in groups if name in g.producers)


# ---------------------------------------------------------------- each construct on a tiny module


def conv_bn(cin, cout, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, groups=groups, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU())


class Depthwise(nn.Module):
    """MobileNet's inverted residual: expand, depthwise (channel multiplier 2), project, residual."""

    def __init__(self):
        super().__init__()
        self.stem = conv_bn(3, 8)
        self.expand = conv_bn(8, 16)
        self.depthwise = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1, groups=16), nn.BatchNorm2d(32),
                                       nn.ReLU6())
        self.project = nn.Sequential(nn.Conv2d(32, 8, 1, bias=False), nn.BatchNorm2d(8))
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        x = self.stem(x)
        x = x + self.project(self.depthwise(self.expand(x)))
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


def test_a_depthwise_conv_is_pruned_with_its_producer():
    model, x = randomised(Depthwise()), image()
    groups = structured.channel_groups(model, x)
    expand = group_of(groups, "expand.0")
    assert expand.depthwise == ["depthwise.0"] and expand.norms == ["expand.1", "depthwise.1"]
    assert expand.channels == 16 and [n for n, _ in expand.consumers] == ["project.0"]
    # each input channel feeds 2 depthwise outputs, which the projection reads: 2 columns per channel
    assert expand.consumers == [("project.0", 2)]
    pruned = assert_removal_is_exact(model, x)
    depthwise = pruned.depthwise[0]
    assert (depthwise.in_channels, depthwise.groups, depthwise.out_channels) == (8, 8, 16)


class Grouped(nn.Module):
    """ResNeXt's bottleneck: 1x1, grouped 3x3 (4 groups of 4), 1x1."""

    def __init__(self):
        super().__init__()
        self.reduce, self.grouped, self.restore = conv_bn(3, 16), conv_bn(16, 16, groups=4), conv_bn(16, 6)

    def forward(self, x):
        return self.restore(self.grouped(self.reduce(x))).mean((2, 3))


def test_a_grouped_conv_loses_the_same_slices_in_every_group():
    model, x = randomised(Grouped()), image()
    groups = structured.channel_groups(model, x)
    reduce = group_of(groups, "reduce.0")
    assert reduce.channels == 4  # channel j of each of the 4 groups goes together: 4 units of 4
    slots = reduce.slots[("producers", "reduce.0")]
    assert torch.equal(slots.channels, torch.arange(16) % 4)
    pruned = assert_removal_is_exact(model, x)
    grouped = pruned.grouped[0]
    assert (grouped.in_channels, grouped.out_channels, grouped.groups) == (8, 8, 4)
    assert grouped.weight.shape == (8, 2, 3, 3)


class Concat(nn.Module):
    """Inception / DenseNet: branches concatenated, then one BatchNorm and one conv read them all."""

    def __init__(self):
        super().__init__()
        self.a, self.b = conv_bn(3, 4), conv_bn(3, 6)
        self.norm, self.head = nn.BatchNorm2d(13), nn.Conv2d(13, 5, 1)

    def forward(self, x):
        joined = torch.cat([self.a(x), x, self.b(x)], dim=1)  # (B, 4 + 3 + 6, H, W)
        return self.head(F.relu(self.norm(joined))).mean((2, 3))


def test_concatenation_carries_channel_offsets_into_every_consumer():
    model, x = randomised(Concat()), image()
    groups = structured.channel_groups(model, x)
    b = group_of(groups, "b.0")
    assert torch.equal(b.slots[("consumers", "head")].positions, torch.arange(7, 13))  # after a's 4 and x's 3
    assert torch.equal(b.slots[("norms", "norm")].positions, torch.arange(7, 13))
    pruned = assert_removal_is_exact(model, x)
    assert pruned.norm.num_features == pruned.head.in_channels == 2 + 3 + 3  # the input's 3 stay


def test_channel_criteria_read_each_layer_where_the_channel_sits():
    model, x = randomised(Concat()), image()
    groups = structured.channel_groups(model, x)
    b = group_of(groups, "b.0")
    scores = {c: structured.group_scores(model, groups, c)["b.0"]
              for c in ("magnitude", "bn_gamma", "next_layer_l2")}
    torch.testing.assert_close(scores["magnitude"], model.b[0].weight.detach().abs().sum((1, 2, 3)))
    # b's channel c sits at position 7 + c of the concatenation that norm and head read
    gammas = torch.stack([model.b[1].weight, model.norm.weight[7:]]).detach().abs().sum(0)
    torch.testing.assert_close(scores["bn_gamma"], gammas)
    reads = model.head.weight.detach()[:, 7:]  # (5, 6, 1, 1)
    torch.testing.assert_close(scores["next_layer_l2"], reads.transpose(0, 1).flatten(1).norm(dim=1))
    assert b.take("consumers", "head", model.head.weight).shape == (6, 1, 5, 1, 1)


class Shuffle(nn.Module):
    """ShuffleNetV2's unit: chunk, one branch, concatenate, channel shuffle (a view with literal groups)."""

    def __init__(self):
        super().__init__()
        self.stem = conv_bn(3, 8)
        self.branch = nn.Sequential(conv_bn(4, 4), nn.Conv2d(4, 4, 3, padding=1, groups=4), conv_bn(4, 4))
        self.head = nn.Conv2d(8, 5, 1)

    def forward(self, x):
        x = self.stem(x)
        for _ in range(2):
            kept, work = x.chunk(2, dim=1)
            x = torch.cat((kept, self.branch(work) if _ == 0 else work), dim=1)
            b, c, h, w = x.size()
            x = x.view(b, 2, c // 2, h, w).transpose(1, 2).contiguous().view(b, -1, h, w)
        return self.head(x).mean([2, 3])


def test_chunk_and_channel_shuffle_keep_the_pieces_equal():
    model, x = randomised(Shuffle()), image()
    groups = structured.channel_groups(model, x)
    trunk = group_of(groups, "stem.0")
    assert trunk.producers == ["stem.0", "branch.2.0"] and trunk.prunable
    assert trunk.channels < 8  # chunk and shuffle tie positions: fewer, larger units
    pruned = assert_removal_is_exact(model, x)
    assert pruned.stem[0].out_channels % 4 == 0  # two chunks of equal halves, twice


class LayerNorm2d(nn.LayerNorm):
    """torchvision's: LayerNorm over the channels of a (B, C, H, W) map, through channels-last."""

    def forward(self, x):
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class ChannelsLast(nn.Module):
    """ConvNeXt's block: depthwise conv, permute to channels-last, LayerNorm, MLP, permute back, layer
    scale, residual; after a stem normalised by LayerNorm2d (traced through: F.layer_norm)."""

    def __init__(self):
        super().__init__()
        self.stem, self.stem_norm = nn.Conv2d(3, 8, 2, stride=2), LayerNorm2d(8)
        self.dw, self.norm = nn.Conv2d(8, 8, 7, padding=3, groups=8), nn.LayerNorm(8)
        self.up, self.down = nn.Linear(8, 32), nn.Linear(32, 8)
        self.layer_scale = nn.Parameter(torch.full((8, 1, 1), 0.5))
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        x = self.stem_norm(self.stem(x))
        y = self.norm(torch.permute(self.dw(x), [0, 2, 3, 1]))
        y = self.down(F.gelu(self.up(y))).permute(0, 3, 1, 2)
        x = x + self.layer_scale * y
        return self.head(x.mean((2, 3)))


def test_channels_last_layer_norm_and_layer_scale_follow_the_channels():
    model, x = randomised(ChannelsLast()), image()
    groups = structured.channel_groups(model, x)
    stem = group_of(groups, "stem")
    assert stem.producers == ["stem", "down"] and stem.norms == ["stem_norm", "norm"]
    assert stem.depthwise == ["dw"] and stem.params == ["layer_scale"]
    assert sorted(n for n, _ in stem.consumers) == ["head", "up"]
    with torch.no_grad():
        torch.testing.assert_close(structured.prune_channels(model, 0.0, x)(x), model(x))
        pruned = structured.prune_channels(model, 0.5, x)
        assert pruned(x).shape == (2, 5)
    assert pruned.layer_scale.shape == (4, 1, 1) and pruned.norm.normalized_shape == (4,)
    assert pruned.up.weight.shape == (16, 4) and pruned.dw.groups == 4


class SqueezeExcite(nn.Module):
    """MobileNetV3 / EfficientNet: a gate computed from the channels multiplies them."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc1, self.fc2 = conv_bn(3, 8), nn.Conv2d(8, 4, 1), nn.Conv2d(4, 8, 1)
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        x = self.conv(x)
        scale = torch.sigmoid(self.fc2(F.silu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))  # (B, 8, 1, 1)
        return self.head(torch.flatten(F.adaptive_avg_pool2d(scale * x, 1), 1))


def test_a_squeeze_excitation_gate_is_pruned_with_the_channels_it_gates():
    model, x = randomised(SqueezeExcite()), image()
    groups = structured.channel_groups(model, x)
    assert group_of(groups, "conv.0").producers == ["conv.0", "fc2"]
    assert group_of(groups, "fc1").consumers == [("fc2", 1)]  # the squeezed channels are a group too
    pruned = assert_removal_is_exact(model, x)
    assert pruned.fc2.out_channels == pruned.conv[0].out_channels == 4


@pytest.mark.parametrize("model", [Depthwise(), Grouped(), Concat(), Shuffle(), ChannelsLast()],
                         ids=lambda m: type(m).__name__)
def test_nm_permutations_leave_such_channels_alone(model):
    """Permuting channels for N:M (lesson 03) needs plain chains: it must not change these models."""
    model, x = randomised(model), image()
    with torch.no_grad():
        before = model(x)
        structured.permute_for_nm(model, 2, 4, x)
        torch.testing.assert_close(model(x), before)


class ConvHead(nn.Module):
    """SqueezeNet: the classifier is a conv, so a conv produces the output."""

    def __init__(self):
        super().__init__()
        self.body, self.classifier = conv_bn(3, 8), nn.Conv2d(8, 5, 1)

    def forward(self, x):
        return torch.flatten(F.adaptive_avg_pool2d(F.relu(self.classifier(self.body(x))), 1), 1)


def test_the_layer_that_produces_the_output_keeps_its_channels_whatever_its_type():
    model, x = randomised(ConvHead()), image()
    assert not group_of(structured.channel_groups(model, x), "classifier").prunable
    pruned = structured.prune_channels(model, 0.5, x)
    assert pruned.classifier.out_channels == 5 and pruned.body[0].in_channels == 3


class HardCoded(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 4, 3), nn.Linear(4 * 14 * 14, 2)

    def forward(self, x):
        return self.fc(self.conv(x).view(-1, 784))


def test_a_hard_coded_channel_count_keeps_those_channels():
    groups = structured.channel_groups(HardCoded(), image())
    assert not group_of(groups, "conv").prunable
    assert structured.prune_channels(HardCoded(), 0.5, image()).conv.out_channels == 4


class Split(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.a, self.b = nn.Conv2d(3, 8, 1), nn.Conv2d(3, 4, 1), nn.Conv2d(5, 4, 1)

    def forward(self, x):
        first, second = torch.split(self.conv(x), [3, 5], dim=1)  # sizes written as numbers
        return torch.cat([self.a(first), self.b(second)], dim=1).mean((2, 3))


def test_split_sizes_written_as_numbers_keep_those_channels():
    groups = structured.channel_groups(Split(), image())
    assert not group_of(groups, "conv").prunable
    assert structured.prune_channels(Split(), 0.5, image()).conv.out_channels == 8


class LiteralLayerNorm(nn.Module):
    """F.layer_norm with the width written as a number: the graph cannot tell it from
    LayerNorm2d's ``self.normalized_shape``, so only running the pruned copy shows it."""

    def __init__(self):
        super().__init__()
        self.conv, self.norm = nn.Conv2d(3, 8, 1), nn.LayerNorm(8)

    def forward(self, x):
        x = self.conv(x).permute(0, 2, 3, 1)
        return F.layer_norm(x, (8,), self.norm.weight, self.norm.bias).mean((1, 2))


def test_a_width_hard_coded_where_the_trace_cannot_see_it_is_caught_after_pruning():
    model = nn.Sequential(LiteralLayerNorm(), nn.Linear(8, 2))
    with pytest.raises(ValueError, match="hard-codes a channel count"):
        structured.prune_channels(model, 0.5, image())


class Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return self.conv(self.conv(x))


class Transposed(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose2d(3, 4, 2, stride=2)

    def forward(self, x):
        return self.up(x)


class SoftmaxOverChannels(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return F.softmax(self.conv(x), dim=1)


class Sliced(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return self.conv(x)[:, :2]


class AuxHead(nn.Module):
    """GoogLeNet's auxiliary classifier: used in training only, so the eval-mode graph never sees it."""

    def __init__(self):
        super().__init__()
        self.conv, self.aux, self.fc = nn.Conv2d(3, 4, 1), nn.Linear(4, 2), nn.Linear(4, 2)

    def forward(self, x):
        x = self.conv(x).mean((2, 3))
        return (self.fc(x), self.aux(x)) if self.training else self.fc(x)


@pytest.mark.parametrize("model, words", [
    (Shared(), ["'conv'", "Conv2d", "more than once"]),
    (Transposed(), ["'up'", "ConvTranspose2d", "transposed"]),
    (SoftmaxOverChannels(), ["'softmax'", "not a layer or operation"]),
    (Sliced(), ["'getitem'", "slicing"]),
    (AuxHead(), ["'aux'", "aux_logits=False"]),
])  # fmt: skip
def test_unsupported_constructs_name_the_module_and_operation(model, words):
    with pytest.raises(ValueError) as err:
        structured.channel_groups(model, image())
    assert all(w in str(err.value) for w in words), str(err.value)


# ---------------------------------------------------------------- twelve torchvision architectures

SIZE = 64  # the smallest input every one of them takes comfortably (GoogLeNet ends at 2x2)
# Torch-Pruning 1.6 stops with ZeroDivisionError on ShuffleNetV2; on DenseNet-121 it needs ~27 s here,
# so that comparison is in `make bench` (docs/benchmarks.md) only.
NOT_COMPARED = {"shufflenet_v2_x0_5": "Torch-Pruning fails", "densenet121": "Torch-Pruning is slow"}
# Grouped convs with few channels per group: the kit removes round(0.3 * 4) = 1 of each group's 4
# (25%), Torch-Pruning floors the kept count to 2 (50%), so it removes more MACs.
FLOORS_PER_GROUP = {"resnext50_32x4d"}
LAYER_NORM = {"convnext_tiny"}  # statistics over all channels: removal is not exact, see the docstring


@pytest.fixture(scope="module", params=models.INDUSTRY_CNNS)
def zoo(request):
    torch.manual_seed(0)
    model = randomised(models.industry_model(request.param))
    x = image(size=SIZE)
    pruned = structured.prune_channels(model, RATIO, x)
    return SimpleNamespace(name=request.param, model=model, x=x, pruned=pruned)


def test_zoo_model_prunes_and_keeps_its_interface(zoo):
    with torch.no_grad():
        assert zoo.pruned(zoo.x).shape == zoo.model(zoo.x).shape == (2, 1000)
    convs = [m for m in zoo.pruned.modules() if isinstance(m, nn.Conv2d)]
    assert convs[0].in_channels == 3


def test_zoo_macs_drop_as_much_as_with_torch_pruning(zoo):
    dense, ours = count_macs(zoo.model, (3, SIZE, SIZE)), count_macs(zoo.pruned, (3, SIZE, SIZE))
    assert ours < 0.65 * dense  # 30% of the channels on both sides of most layers: about half the MACs
    if zoo.name in NOT_COMPARED:
        pytest.skip(f"no Torch-Pruning comparison here: {NOT_COMPARED[zoo.name]}")
    theirs = count_macs(torch_pruning_copy(zoo.model, RATIO, zoo.x[:1], importance="magnitude"),
                        (3, SIZE, SIZE))
    if zoo.name in FLOORS_PER_GROUP:
        assert theirs < ours
    else:
        assert abs(ours / theirs - 1) < 0.03, (ours / dense, theirs / dense)


def test_zoo_removal_of_zeroed_channels_is_exact(zoo):
    if zoo.name in LAYER_NORM:
        pytest.skip("LayerNorm's statistics see every channel")
    assert_removal_is_exact(zoo.model, zoo.x, RATIO)


def test_zoo_pruned_model_trains_one_step(zoo):
    model, labels = copy.deepcopy(zoo.pruned).train(), torch.tensor([1, 2])

    def loss():
        torch.manual_seed(0)  # the same dropout masks each time
        return F.cross_entropy(model(zoo.x), labels)

    before = loss()
    before.backward()
    for p in model.parameters():  # backpropagation reaches every parameter of the smaller layers
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.any()
    # a step that should lower the loss by 0.1% to first order (lr * |g|^2): random networks at
    # batch 2 are steep (GoogLeNet's |g| is in the hundreds), so the step is scaled, not fixed
    squared_norm = sum(float(p.grad.square().sum()) for p in model.parameters())
    torch.optim.SGD(model.parameters(), lr=1e-3 * float(before) / squared_norm).step()
    with torch.no_grad():
        assert loss() < before


def test_zoo_pruned_model_survives_saving(zoo):
    buffer = io.BytesIO()
    torch.save(zoo.pruned, buffer)
    loaded = torch.load(io.BytesIO(buffer.getvalue()), weights_only=False)  # a module this test built
    # or the state dict, loaded into the same ratio's architecture rebuilt from any channel choice
    rebuilt = structured.prune_channels(zoo.model, RATIO, zoo.x, criterion="random")
    rebuilt.load_state_dict(zoo.pruned.state_dict())
    with torch.no_grad():
        expected = zoo.pruned.eval()(zoo.x)
        torch.testing.assert_close(loaded.eval()(zoo.x), expected)
        torch.testing.assert_close(rebuilt.eval()(zoo.x), expected)


# ---------------------------------------------------------------- masks and MAC counts, 14 models

# Parameters no input is multiplied by: added to the tokens or to the attention logits.
ADDED = {"vit_b_16": {"class_token", "encoder.pos_embedding"},
         "swin_t": {f"features.{s}.{b}.attn.relative_position_bias_table"
                    for s, blocks in ((1, 2), (3, 2), (5, 6), (7, 2)) for b in range(blocks)}}


@pytest.mark.parametrize("name", models.INDUSTRY_TRANSFORMERS)
def test_masks_cover_every_weight_matrix_of_a_transformer(name):
    model = models.industry_model(name, "meta")  # shapes only: nothing is computed
    covered = core.prunable_weights(model)
    matrices = {n for n, p in model.named_parameters() if p.ndim >= 2}
    assert matrices - set(covered) == ADDED[name]
    assert any(n.endswith("in_proj_weight") for n in covered) == (name == "vit_b_16")


def test_global_masks_reach_multihead_attention():
    attention = nn.MultiheadAttention(16, 2)
    masks = pruning.global_magnitude_masks(attention, 0.5)
    assert set(masks) == {"in_proj_weight", "out_proj.weight"}
    assert pruning.masks_sparsity(masks) == 0.5
    core.apply_masks(attention, masks)
    assert (attention.in_proj_weight[~masks["in_proj_weight"]] == 0).all()


def _reference_macs(model: nn.Module, shape) -> int:
    """torch.utils.flop_counter on the composite attention path (math SDPA, no fast path), where
    attention is plain matrix products the counter knows."""
    with sdpa_kernel(SDPBackend.MATH), torch.enable_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(torch.zeros(1, *shape, device=next(model.parameters()).device))
    return counter.get_total_flops() // 2


@pytest.mark.parametrize("name", models.INDUSTRY_CNNS + models.INDUSTRY_TRANSFORMERS)
def test_macs_agree_with_torch_flop_counter_to_the_mac(name):
    shape = (3, 224, 224) if name in models.INDUSTRY_TRANSFORMERS else (3, SIZE, SIZE)
    model = models.industry_model(name, "meta")
    assert count_macs(model, shape) == _reference_macs(model, shape)


def test_attention_macs_are_counted():
    """(B, H, L, E) attention: L x L x E for the scores and again for the weighted sum, per head."""

    class Attention(nn.Module):
        def forward(self, x):  # (B, L, H * E) -> (B, H, L, E)
            q = x.unflatten(-1, (2, 8)).transpose(1, 2)
            return F.scaled_dot_product_attention(q, q, q)

    class SelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention = nn.MultiheadAttention(16, 2, batch_first=True)

        def forward(self, x):
            return self.attention(x, x, x, need_weights=False)[0]

    assert count_macs(Attention(), (5, 16)) == 2 * 2 * 5 * 5 * 8
    # in_proj (L x 16 x 48) + the same attention + out_proj (L x 16 x 16), L = 5
    assert count_macs(SelfAttention(), (5, 16)) == 5 * 16 * 48 + 2 * 2 * 5 * 5 * 8 + 5 * 16 * 16


def test_pruning_never_edits_the_model_nor_shares_a_tensor_with_it():
    model, x = randomised(Depthwise()), image()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pruned = structured.prune_channels(model, 0.5, x)
    originals = {id(t) for t in [*model.parameters(), *model.buffers()]}
    assert not any(id(t) in originals for t in [*pruned.parameters(), *pruned.buffers()])
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
