import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from course_lib import analysis, hardware, plots, pruning, structured
from course_lib.core import pack_bits, unpack_bits
from course_lib.hardware import compress_nm, decompress_nm, nm_storage_bytes
from course_lib.models import MLP, ConvNet, TinyResNet, load_pretrained
from course_lib.pruning import (
    kept_magnitude,
    kept_per_group,
    nm_incompatible,
    nm_mask,
    nm_masks,
    search_permutation,
)
from course_lib.structured import permute_channels, permute_for_nm

FLOATS = [torch.float32, torch.float16, torch.bfloat16]
SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def nm_weights(draw, dtypes=(torch.float32,)):
    """(weight, n, m): a Linear or Conv weight whose reduction size m divides."""
    m = draw(st.integers(1, 8))
    n = draw(st.integers(1, m))
    co = draw(st.integers(1, 6))
    conv = draw(st.booleans())
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if conv else ()
    ci = m * draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**16))
    dtype = draw(st.sampled_from(dtypes))
    weight = torch.randn(co, ci, *kernel, generator=torch.Generator().manual_seed(seed)).to(dtype)
    return weight, n, m


# --- nm_mask ------------------------------------------------------------------------------------


@SETTINGS
@given(nm_weights(dtypes=FLOATS))
def test_every_group_keeps_exactly_n(case):
    weight, n, m = case
    mask = nm_mask(weight, n, m)
    assert mask.dtype == torch.bool and mask.shape == weight.shape
    assert (kept_per_group(mask, m) == n).all()


@SETTINGS
@given(nm_weights())
def test_kept_values_are_the_groups_largest(case):
    weight, n, m = case
    groups = pruning.reduction_matrix(weight).abs().reshape(weight.shape[0], -1, m)
    keep = pruning.reduction_matrix(nm_mask(weight, n, m)).reshape(groups.shape)
    smallest_kept = groups.masked_fill(~keep, float("inf")).amin(-1)
    largest_pruned = groups.masked_fill(keep, -1.0).amax(-1)
    assert (smallest_kept >= largest_pruned).all()


def test_groups_run_along_input_channels_channels_last():
    # Conv (Co, Ci, Kh, Kw) with Ci = m: each group is the m channels at one (co, kh, kw)
    weight = torch.randn(3, 4, 3, 3)
    mask = nm_mask(weight, 2, 4)
    assert (mask.sum(dim=1) == 2).all()
    expected = weight.abs().topk(2, dim=1).indices
    assert torch.equal(mask.gather(1, expected), torch.ones_like(expected, dtype=torch.bool))


def test_ties_prune_earlier_entries_first():
    mask = nm_mask(torch.ones(1, 8), 2, 4)
    assert mask.tolist() == [[False, False, True, True] * 2]


@SETTINGS
@given(st.integers(1, 8), st.data())
def test_matches_a_stable_sort_reference_with_many_ties(m, data):
    n = data.draw(st.integers(1, m))
    values = data.draw(st.lists(st.integers(-2, 2), min_size=3 * m, max_size=3 * m))
    weight = torch.tensor(values, dtype=torch.float32).view(3, m)  # small integers: ties everywhere
    order = weight.abs().argsort(dim=-1, stable=True)  # ascending, ties in position order
    expected = torch.ones_like(weight, dtype=torch.bool).scatter_(-1, order[:, : m - n], False)
    assert torch.equal(nm_mask(weight, n, m), expected)


def test_linear_mask_matches_torch_ao_weight_norm_sparsifier():
    from torch.ao.pruning import WeightNormSparsifier

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 16))
    sparsifier = WeightNormSparsifier(sparsity_level=1.0, sparse_block_shape=(1, 4), zeros_per_block=2)
    sparsifier.prepare(model, [{"tensor_fqn": "0.weight"}])
    sparsifier.step()
    parametrization = model[0].parametrizations.weight
    assert torch.equal(parametrization[0].mask.bool(), nm_mask(parametrization.original, 2, 4))


def test_padding_keeps_n_per_group_including_the_padding():
    weight = torch.randn(16, 1, 3, 3)  # K = 9: the digits ConvNet's conv1
    with pytest.raises(ValueError, match=r"K = Ci·Kh·Kw = 9 .*m=4"):
        nm_mask(weight, 2, 4)
    mask = nm_mask(weight, 2, 4, pad=True)
    assert mask.shape == weight.shape
    assert (kept_per_group(mask, 4, pad=True)[:, :2] == 2).all()  # the two full groups
    assert mask.view(16, 9)[:, 8].all()  # the last real weight beats three padding zeros


@pytest.mark.parametrize(
    ("weight", "n", "m", "error", "match"),
    [
        (torch.randn(4, 8), 3, 2, ValueError, r"n must satisfy 0 < n <= m \(m=2\), got n=3"),
        (torch.randn(4, 8), 0, 4, ValueError, r"got n=0"),
        (torch.randn(4, 8), -1, 4, ValueError, r"got n=-1"),
        (torch.randn(4, 8), 2, 0, ValueError, r"m must be a positive integer, got 0"),
        (torch.randn(4, 8), 2.0, 4, TypeError, r"n must be an integer"),
        (torch.randn(4, 6), 2, 4, ValueError, r"K = Ci·Kh·Kw = 6 of weight with shape \(4, 6\).*m=4"),
        (torch.randn(8), 2, 4, ValueError, r"at least 2 dimensions.*got shape \(8,\)"),
        (torch.ones(4, 8, dtype=torch.int64), 2, 4, TypeError, r"floating dtype.*got torch.int64"),
        ([[1.0, 2.0]], 1, 2, TypeError, r"weight must be a torch.Tensor, got list"),
    ],
)
def test_bad_input_is_a_clear_error(weight, n, m, error, match):
    with pytest.raises(error, match=match):
        nm_mask(weight, n, m)


def test_nm_masks_skips_layers_m_does_not_divide_as_asp_does():
    masks = nm_masks(ConvNet(), 2, 4)
    assert nm_incompatible(ConvNet(), 4) == {"conv1.weight": 9}
    assert "conv1.weight" not in masks
    assert set(masks) == {"conv2.weight", "conv3.weight", "fc1.weight", "fc2.weight"}
    assert all((kept_per_group(mask, 4) == 2).all() for mask in masks.values())


def test_a_mask_interoperates_with_torch_nn_utils_prune():
    layer = nn.Linear(16, 4)
    mask = nm_mask(layer.weight, 2, 4)
    nn.utils.prune.custom_from_mask(layer, "weight", mask)
    nn.utils.prune.remove(layer, "weight")
    assert (kept_per_group(layer.weight, 4) == 2).all()


# --- compression --------------------------------------------------------------------------------


@SETTINGS
@given(nm_weights(dtypes=FLOATS))
def test_compress_then_decompress_is_exact(case):
    weight, n, m = case
    compressed = compress_nm(weight, n, m)
    restored = decompress_nm(compressed)
    assert restored.dtype == weight.dtype and restored.shape == weight.shape
    assert torch.equal(restored, weight * nm_mask(weight, n, m))
    assert compressed.values.numel() == weight.numel() * n // m


@SETTINGS
@given(nm_weights(dtypes=FLOATS))
def test_byte_counts_match_the_formula(case):
    weight, n, m = case
    compressed = compress_nm(weight, n, m)
    values, metadata = nm_storage_bytes(weight.numel(), n, m, weight.element_size())
    assert (compressed.values_bytes, compressed.metadata_bytes) == (values, metadata)
    assert compressed.nbytes == values + metadata


def test_fp16_two_four_is_nine_sixteenths_of_dense():
    compressed = compress_nm(torch.randn(64, 128, dtype=torch.float16), 2, 4)
    assert compressed.nbytes * 16 == compressed.dense_bytes * 9
    assert compressed.metadata_bytes == 64 * 128 // 8  # 4 bits per group of 4


def test_padded_compression_round_trips():
    weight = torch.randn(16, 1, 3, 3)
    restored = decompress_nm(compress_nm(weight, 2, 4, pad=True))
    assert torch.equal(restored, weight * nm_mask(weight, 2, 4, pad=True))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_values_and_metadata_match_pytorchs_cutlass_2_4_encoder(dtype):
    from torch.sparse import _semi_structured_conversions as cutlass

    weight = torch.randn(64, 128).to(dtype)
    weight = weight * nm_mask(weight, 2, 4)
    values, reordered = cutlass.sparse_semi_structured_from_dense_cutlass(weight)
    offsets = cutlass._calculate_meta_reordering_scatter_offsets(64, reordered.shape[1], torch.int16, "cpu")
    metadata = reordered.view(-1)[offsets]  # undo CUTLASS's interleaving: row-major int16 words
    compressed = compress_nm(weight, 2, 4)
    assert torch.equal(compressed.values, values)
    assert torch.equal(compressed.metadata, metadata.view(torch.uint8))


NO_SPARSE_TENSOR_CORES = not hardware.semi_structured_status()[0]


@pytest.mark.skipif(NO_SPARSE_TENSOR_CORES, reason="needs CUDA with compute capability >= 8.0")
def test_mask_agrees_with_to_sparse_semi_structured():
    from torch.sparse import to_sparse_semi_structured

    weight = torch.randn(128, 128, dtype=torch.float16, device="cuda")
    pruned = weight * nm_mask(weight, 2, 4)
    assert torch.equal(to_sparse_semi_structured(pruned).to_dense(), pruned)
    result = hardware.semi_structured_speedup(features=256, batch=256)
    assert result["max_error"] < 1e-1 and result["speedup"] > 0


def test_gpu_timing_says_why_it_cannot_run_without_cuda():
    available, reason = hardware.semi_structured_status()
    if available:
        pytest.skip("a capable GPU is present")
    assert "CUDA" in reason or "capability" in reason
    with pytest.raises(RuntimeError, match="compute capability >= 8.0"):
        hardware.semi_structured_speedup()


def test_pack_bits_uses_the_2_4_hardware_order():
    assert pack_bits(torch.tensor([0, 1, 2, 3]), 2).tolist() == [0b11100100]
    assert pack_bits(torch.tensor([1, 3, 0, 2, 3]), 2).tolist() == [0b10001101, 0b11]


@SETTINGS
@given(st.integers(0, 8), st.integers(0, 40), st.integers(0, 2**16))
def test_unpack_inverts_pack(bits, count, seed):
    values = torch.randint(0, 2**bits, (count,), generator=torch.Generator().manual_seed(seed))
    packed = pack_bits(values, bits)
    assert packed.dtype == torch.uint8 and packed.numel() == -(-count * bits // 8)
    assert torch.equal(unpack_bits(packed, bits, count), values)


@pytest.mark.parametrize(
    ("values", "bits", "error", "match"),
    [
        (torch.tensor([0, 4]), 2, ValueError, r"values must lie in \[0, 4\) to fit in bits=2, got range"),
        (torch.tensor([-1]), 2, ValueError, r"values must lie in \[0, 4\)"),
        (torch.tensor([0.5]), 2, TypeError, r"values must be an integer torch.Tensor, got torch.float32"),
        (torch.tensor([1]), 9, ValueError, r"bits must be an integer in \[0, 8\], got 9"),
    ],
)
def test_pack_bits_bad_input(values, bits, error, match):
    with pytest.raises(error, match=match):
        pack_bits(values, bits)


def test_storage_formula_bad_input():
    with pytest.raises(ValueError, match=r"numel must be a non-negative multiple of m=4, got 10"):
        nm_storage_bytes(10, 2, 4, 2)
    with pytest.raises(ValueError, match="compress_nm needs m <= 256 .*got m=512"):
        compress_nm(torch.randn(2, 512), 2, 512)
    with pytest.raises(TypeError, match="compressed must be an NMCompressed"):
        decompress_nm(torch.zeros(4))


# --- channel permutation ------------------------------------------------------------------------


@SETTINGS
@given(nm_weights())
def test_permutation_never_lowers_the_kept_magnitude(case):
    weight, n, m = case
    perm = search_permutation(weight, n, m)
    assert torch.equal(perm.sort().values, torch.arange(weight.shape[1]))
    permuted = weight[:, perm]
    assert kept_magnitude(permuted, nm_mask(permuted, n, m)) >= kept_magnitude(weight, nm_mask(weight, n, m))


def test_permutation_spreads_clustered_large_channels():
    # channels 0-3 are large, 4-7 small: 2:4 keeps only half of the large ones unless they are split
    weight = torch.cat([torch.full((4, 4), 10.0), torch.full((4, 4), 1.0)], dim=1)
    perm = search_permutation(weight, 2, 4)
    permuted = weight[:, perm]
    assert kept_magnitude(permuted, nm_mask(permuted, 2, 4)) == 4 * 4 * 10.0
    assert kept_magnitude(weight, nm_mask(weight, 2, 4)) == 4 * (2 * 10.0 + 2 * 1.0)


def test_permutation_needs_whole_channel_groups():
    with pytest.raises(ValueError, match=r"Ci = 6 .*multiple of m=4"):
        search_permutation(torch.randn(8, 6, 3, 3), 2, 4)
    with pytest.raises(ValueError, match="max_swaps must be a positive integer, got 0"):
        search_permutation(torch.randn(8, 8), 2, 4, max_swaps=0)


@SETTINGS
@given(st.integers(0, 2**16))
def test_permuting_channels_leaves_the_network_function_unchanged(seed):
    generator = torch.Generator().manual_seed(seed)
    model = ConvNet().eval()
    for bn in (model.bn1, model.bn2):  # non-trivial statistics so that a wrong BN permutation shows
        bn.running_mean.normal_(generator=generator)
        bn.running_var.uniform_(0.5, 2.0, generator=generator)
        bn.weight.data.normal_(generator=generator)
        bn.bias.data.normal_(generator=generator)
    x = torch.randn(5, 1, 8, 8, generator=generator)
    before = model(x)
    for consumer, producer, norm in structured.permutation_chains(model, x):
        channels = model.get_submodule(consumer).weight.shape[1]
        permute_channels(model, torch.randperm(channels, generator=generator), consumer, producer, norm)
    torch.testing.assert_close(model(x), before, rtol=1e-4, atol=1e-5)


def test_permuting_an_mlp_without_batchnorm():
    model = MLP().eval()
    x = torch.randn(3, 1, 8, 8)
    before = model(x)
    permute_channels(model, torch.randperm(128), "layers.3", "layers.1")
    torch.testing.assert_close(model(x), before)


def test_permute_for_nm_gains_magnitude_and_keeps_outputs():
    dense = load_pretrained("convnet")
    model = copy.deepcopy(dense)
    report = permute_for_nm(model, 2, 4, torch.zeros(1, 1, 8, 8))
    assert [row["layer"] for row in report] == ["conv2", "conv3", "fc2"]
    assert all(row["after"] >= row["before"] and row["gain"] >= 0 for row in report)
    assert any(row["gain"] > 0 for row in report)
    x = torch.randn(8, 1, 8, 8)
    torch.testing.assert_close(model(x), dense(x), rtol=1e-4, atol=1e-5)


def test_permutation_chains_are_traced_from_the_dependency_groups():
    x = torch.zeros(1, 1, 8, 8)
    # fc1 reads conv3's channels through a flatten (4 features each): not a chain
    assert structured.permutation_chains(ConvNet(), x) == [
        ("conv2", "conv1", "bn1"), ("conv3", "conv2", "bn2"), ("fc2", "fc1", None)]
    # residual groups (several producers) are left out; the convs inside the blocks are chains
    assert structured.permutation_chains(TinyResNet(), x) == [
        ("layer1.conv2", "layer1.conv1", "layer1.bn1"), ("layer2.conv2", "layer2.conv1", "layer2.bn1")]


class SmoothNet(nn.Module):
    """Not the ConvNet: GELU and SiLU activations, dropout, and a view where the ConvNet flattens."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1, self.act = nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.GELU()
        self.conv2, self.fc1, self.fc2 = nn.Conv2d(8, 12, 3), nn.Linear(12 * 6 * 6, 16), nn.Linear(16, 10)
        self.drop = nn.Dropout(0.2)

    def forward(self, x):
        x = nn.functional.silu(self.conv2(self.act(self.bn1(self.conv1(x)))))  # (B, 12, 6, 6)
        return self.fc2(self.drop(nn.functional.gelu(self.fc1(x.view(x.shape[0], -1)))))


def test_permute_for_nm_works_on_any_traceable_model():
    model = SmoothNet().eval()
    with torch.no_grad():
        model.bn1.running_mean.normal_()
        model.bn1.running_var.uniform_(0.5, 2.0)
    x = torch.randn(4, 1, 8, 8)
    before = model(x)
    assert structured.permutation_chains(model, x) == [("conv2", "conv1", "bn1"), ("fc2", "fc1", None)]
    assert permute_for_nm(copy.deepcopy(model), 2, 3, x) == []  # 8 and 16 channels: no groups of 3
    report = permute_for_nm(model, 2, 4, x)
    assert [row["layer"] for row in report] == ["conv2", "fc2"]
    assert all(row["after"] >= row["before"] for row in report)
    torch.testing.assert_close(model(x), before, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("perm", "consumer", "producer", "norm", "match"),
    [
        (torch.arange(16), "conv9", "conv1", None, r"consumer must name one of.*got 'conv9'"),
        (torch.arange(16), "conv2", "bn1", None, r"producer must name one of.*got 'bn1'"),
        (torch.arange(32), "conv3", "conv1", "bn1", r"must have 32 channels to feed consumer 'conv3'"),
        (torch.zeros(16, dtype=torch.long), "conv2", "conv1", "bn1", r"perm must be a permutation of range"),
    ],
)
def test_permute_channels_bad_input(perm, consumer, producer, norm, match):
    with pytest.raises(ValueError, match=match):
        permute_channels(ConvNet(), perm, consumer, producer, norm)


# --- pattern comparison and figures -------------------------------------------------------------


def test_compare_patterns_orders_kept_magnitude_and_leaves_the_model_alone():
    model = load_pretrained("convnet")
    state = copy.deepcopy(model.state_dict())
    x, y = torch.randn(32, 1, 8, 8), torch.randint(0, 10, (32,))
    rows = analysis.nm_vs_unstructured(model, [(2, 4), (4, 8)], [(x, y)])
    assert [row["pattern"] for row in rows] == ["2:4", "unstructured 50%", "4:8"]
    kept = {row["pattern"]: row["kept_fraction"] for row in rows}
    # every 2:4 mask is a 4:8 mask, and every 4:8 mask is a 50% unstructured mask
    assert kept["2:4"] <= kept["4:8"] <= kept["unstructured 50%"] <= 1
    assert all(0 <= row["accuracy"] <= 1 and row["sparsity"] == 0.5 for row in rows)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_plots_draw_without_changing_the_weight():
    import matplotlib

    matplotlib.use("Agg")
    weight = torch.randn(32, 16, 3, 3)
    copy_before = weight.clone()
    ax = plots.plot_nm_pattern(weight, pruning.nm_mask(weight, 2, 4), 2, 4)
    assert torch.equal(weight, copy_before)
    assert "2:4 mask: 50% sparse" in ax.get_title()
    rows = [{"pattern": "2:4", "sparsity": 0.5, "kept_fraction": 0.7, "accuracy": 0.9}]
    assert len(plots.plot_pattern_comparison(rows)) == 2
