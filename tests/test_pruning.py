"""course_lib.pruning: masks at every granularity, L0 projection, the Pruner, torch.nn.utils.prune
interop and the sensitivity scan. References: a stable argsort, brute force, torch.nn.utils.prune."""

import copy
import io
import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils import prune

from course_lib import analysis, core, data, models, pruning, train
from course_lib.core import selection

SETTINGS = settings(max_examples=40, deadline=None)
fractions = st.floats(0, 1, allow_nan=False)
shapes = st.lists(st.integers(1, 6), min_size=0, max_size=4).map(tuple)


def reference_keep_largest(scores: torch.Tensor, n_pruned: int) -> torch.Tensor:
    """A full stable sort: the n_pruned smallest go, earlier positions first among equals."""
    flat = scores.flatten()
    mask = torch.ones(flat.numel(), dtype=torch.bool)
    mask[flat.argsort(stable=True)[:n_pruned]] = False
    return mask.view(scores.shape)


def small_convnet(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return models.ConvNet(width=4)


@pytest.fixture(scope="module")
def small_test_loader():
    test = data.digits_splits().test
    return data.make_loader(data.Split(test.x[:120], test.y[:120]), batch_size=120)


# ---- magnitude masks -----------------------------------------------------------------------------


@SETTINGS
@given(shape=shapes, sparsity=fractions, seed=st.integers(0, 1000))
def test_magnitude_mask_prunes_exactly_round_sparsity_numel(shape, sparsity, seed):
    w = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    mask = pruning.magnitude_mask(w, sparsity)
    assert mask.dtype == torch.bool and mask.shape == w.shape
    assert int((~mask).sum()) == round(sparsity * w.numel())
    if mask.any() and (~mask).any():  # every kept |w| is >= every pruned |w|
        assert w.abs()[mask].min() >= w.abs()[~mask].max()


@SETTINGS
@given(sparsities=st.lists(fractions, min_size=2, max_size=5), values=st.integers(1, 5))
def test_magnitude_masks_nest_as_sparsity_grows_even_with_ties(sparsities, values):
    # few distinct values -> many ties; the positional tie-break must keep the masks nested
    w = torch.randint(0, values, (7, 9), generator=torch.Generator().manual_seed(values)).float()
    masks = [pruning.magnitude_mask(w, s) for s in sorted(sparsities)]
    for looser, tighter in zip(masks, masks[1:]):
        assert not (tighter & ~looser).any()


def test_ties_are_broken_by_position_earlier_pruned_first():
    mask = pruning.magnitude_mask(torch.ones(6), 0.5)
    assert mask.tolist() == [False, False, False, True, True, True]


@pytest.mark.parametrize("sparsity", [0.0, 1.0])
def test_sparsity_zero_and_one(sparsity):
    w = torch.randn(3, 4)
    assert pruning.magnitude_mask(w, sparsity).all() == (sparsity == 0)
    assert (~pruning.magnitude_mask(w, sparsity)).all() == (sparsity == 1)


@pytest.mark.parametrize("kind", ["continuous", "few values", "constant"])
def test_keep_largest_on_large_tensors_matches_a_full_sort(kind):
    # above the size where the threshold is bracketed on a sample first (and the fallback path)
    n = selection._SAMPLED_SELECTION_MIN + 12345
    gen = torch.Generator().manual_seed(1)
    scores = {
        "continuous": torch.rand(n, generator=gen),
        "few values": torch.randint(0, 7, (n,), generator=gen).float(),
        "constant": torch.zeros(n),
    }[kind]
    for sparsity in (0.1, 0.9):
        n_pruned = round(sparsity * n)
        assert torch.equal(core.keep_largest(scores, n_pruned), reference_keep_largest(scores, n_pruned))


def test_global_selection_over_several_large_tensors_matches_a_full_sort():
    gen = torch.Generator().manual_seed(2)
    scores = {
        "a": torch.randint(0, 50, (1000, 1500), generator=gen).float(),  # ties across tensors
        "b": torch.randint(0, 50, (3_000_000,), generator=gen).float(),
        "c": torch.rand(7, 11, generator=gen) * 50,
    }
    masks = pruning.masks_from_scores(scores, 0.37)
    flat = torch.cat([s.flatten() for s in scores.values()])
    expected = reference_keep_largest(flat, round(0.37 * flat.numel()))
    assert torch.equal(torch.cat([m.flatten() for m in masks.values()]), expected)


@pytest.mark.parametrize(
    ("sparsity", "error"),
    [(-0.1, ValueError), (1.5, ValueError), (math.nan, ValueError), ("0.5", TypeError), (True, TypeError)],
)
def test_bad_sparsity_is_a_clear_error(sparsity, error):
    with pytest.raises(error, match="sparsity"):
        pruning.magnitude_mask(torch.randn(4), sparsity)
    with pytest.raises(error, match="sparsity"):
        pruning.global_magnitude_masks(small_convnet(), sparsity)
    with pytest.raises(error, match="sparsity"):
        pruning.granularity_mask(torch.randn(2, 2, 3, 3), sparsity, "kernel")


# ---- global masks ------------------------------------------------------------------------------


@SETTINGS
@given(sparsity=fractions, seed=st.integers(0, 20))
def test_global_masks_agree_with_torch_prune_global_unstructured(sparsity, seed):
    model = small_convnet(seed)
    masks = pruning.global_magnitude_masks(model, sparsity)
    total = sum(m.numel() for m in masks.values())
    assert sum(int((~m).sum()) for m in masks.values()) == round(sparsity * total)

    reference = copy.deepcopy(model)
    layers = [(m, "weight") for m in reference.modules() if isinstance(m, core.PRUNABLE_TYPES)]
    prune.global_unstructured(layers, pruning_method=prune.L1Unstructured, amount=round(sparsity * total))
    # random normal weights have no ties, so the masks agree exactly
    for (name, mask), (module, _) in zip(masks.items(), layers):
        assert torch.equal(mask, module.weight_mask.bool()), name


def test_global_masks_with_ties_prune_the_same_count_as_torch_prune():
    model = small_convnet()
    with torch.no_grad():
        for w in core.prunable_weights(model).values():
            w.copy_(torch.randint(-2, 3, w.shape))  # integer weights: lots of ties
    masks = pruning.global_magnitude_masks(model, 0.5)
    layers = [(m, "weight") for m in model.modules() if isinstance(m, core.PRUNABLE_TYPES)]
    total = sum(m.numel() for m in masks.values())
    prune.global_unstructured(layers, pruning_method=prune.L1Unstructured, amount=round(0.5 * total))
    ours = sum(int((~m).sum()) for m in masks.values())
    theirs = sum(int((m.weight_mask == 0).sum()) for m, _ in layers)
    assert ours == theirs == round(0.5 * total)


def test_global_masks_can_include_biases_and_norm_layers():
    model = small_convnet()
    default = pruning.global_magnitude_masks(model, 0.5)
    assert all(name.endswith("weight") and not name.startswith("bn") for name in default)
    both = pruning.global_magnitude_masks(model, 0.5, include_biases=True, include_norm=True)
    assert {"fc1.bias", "bn1.weight", "bn1.bias"} <= set(both)
    assert set(default) < set(both)


@pytest.mark.parametrize("model", [nn.Sequential(), nn.ReLU(), nn.BatchNorm2d(3)])
def test_empty_model_is_a_clear_error(model):
    with pytest.raises(ValueError, match="no Conv2d or Linear"):
        pruning.global_magnitude_masks(model, 0.5)


@SETTINGS
@given(sparsity=fractions)
def test_layer_scope_prunes_each_tensor_by_the_same_fraction(sparsity):
    scores = {"a": torch.randn(10), "b": torch.randn(3, 7)}
    masks = pruning.masks_from_scores(scores, sparsity, scope="layer")
    for name, s in scores.items():
        assert int((~masks[name]).sum()) == round(sparsity * s.numel())


def test_masks_from_scores_rejects_a_bad_scope():
    with pytest.raises(ValueError, match="scope"):
        pruning.masks_from_scores({"a": torch.randn(3)}, 0.5, scope="model")


# ---- L0 projection -------------------------------------------------------------------------------


@SETTINGS
@given(n=st.integers(0, 8), seed=st.integers(0, 1000))
def test_project_l0_is_the_closest_point_with_n_nonzeros(n, seed):
    w = torch.randn(8, generator=torch.Generator().manual_seed(seed))
    projected = pruning.project_l0(w, n)
    assert int(torch.count_nonzero(projected)) <= n
    best = min(
        float((w - w * torch.isin(torch.arange(8), torch.tensor(support, dtype=torch.long))).norm())
        for support in itertools.combinations(range(8), n)
    )
    assert float((w - projected).norm()) == pytest.approx(best, abs=1e-6)


@pytest.mark.parametrize("n", [-1, 5, 1.5, True])
def test_project_l0_rejects_a_bad_n(n):
    with pytest.raises(ValueError, match=r"n must be an int in \[0, 4\]"):
        pruning.project_l0(torch.randn(4), n)


# ---- granularity -----------------------------------------------------------------------------------

UNIT_DIMS = {"vector": (-1,), "kernel": (-2, -1), "channel": (1, 2, 3)}


@SETTINGS
@given(
    shape=st.tuples(st.integers(1, 6), st.integers(1, 5), st.integers(1, 3), st.integers(1, 3)),
    sparsity=fractions,
    granularity=st.sampled_from(["vector", "kernel", "channel"]),
    norm=st.sampled_from(pruning.GROUP_NORMS),
)
def test_structured_masks_remove_whole_units_only(shape, sparsity, granularity, norm):
    w = torch.randn(shape, generator=torch.Generator().manual_seed(sum(shape)))
    mask = pruning.granularity_mask(w, sparsity, granularity, norm)
    dims = UNIT_DIMS[granularity]
    kept_units = mask.all(dim=dims)
    assert torch.equal(kept_units, mask.any(dim=dims))  # every unit is all-kept or all-pruned
    assert int((~kept_units).sum()) == round(sparsity * kept_units.numel())
    # the kept units are the ones of largest norm
    p = 1 if norm == "l1" else 2
    unit_norms = w.norm(p=p, dim=dims)
    if kept_units.any() and (~kept_units).any():
        assert unit_norms[kept_units].min() >= unit_norms[~kept_units].max() - 1e-6


@SETTINGS
@given(
    co=st.integers(1, 8), ci=st.integers(1, 6), sparsity=fractions, n_patterns=st.integers(1, 6),
    seed=st.integers(0, 100),
)
def test_pattern_masks_keep_equal_counts_per_kernel_from_a_small_set(co, ci, sparsity, n_patterns, seed):
    w = torch.randn(co, ci, 3, 3, generator=torch.Generator().manual_seed(seed))
    mask = pruning.granularity_mask(w, sparsity, "pattern", n_patterns=n_patterns)
    kernels = mask.reshape(-1, 9)
    assert (kernels.sum(dim=1) == 9 - round(sparsity * 9)).all()
    assert len(kernels.unique(dim=0)) <= n_patterns
    # each kernel uses the best pattern of the set: none of the set keeps more of its squared norm
    patterns = pruning.pattern_set(w.reshape(-1, 9), 9 - round(sparsity * 9), n_patterns)
    kept = w.reshape(-1, 9).pow(2) @ patterns.float().T
    chosen = (w.reshape(-1, 9).pow(2) * kernels).sum(dim=1)
    assert torch.allclose(chosen, kept.max(dim=1).values)


def test_pattern_set_picks_the_most_common_supports():
    kernels = torch.tensor([[3.0, 2, 1, 0], [5, 4, 0, 1], [1, 2, 9, 0], [0.0, 0, 2, 3]])
    patterns = pruning.pattern_set(kernels, k=2, n_patterns=1)
    assert patterns.tolist() == [[True, True, False, False]]  # two kernels vote for positions {0, 1}


def test_fine_granularity_is_the_magnitude_mask():
    w = torch.randn(4, 3, 3, 3)
    assert torch.equal(pruning.granularity_mask(w, 0.6, "fine"), pruning.magnitude_mask(w, 0.6))


def test_l1_and_l2_group_norms_can_choose_different_kernels():
    # kernel 0: one big weight (L2 wins); kernel 1: many middling weights (L1 wins)
    w = torch.zeros(1, 2, 2, 2)
    w[0, 0, 0, 0] = 3.0
    w[0, 1] = 1.2
    assert pruning.granularity_mask(w, 0.5, "kernel", "l2")[0, :, 0, 0].tolist() == [True, False]
    assert pruning.granularity_mask(w, 0.5, "kernel", "l1")[0, :, 0, 0].tolist() == [False, True]


def test_linear_weights_allow_fine_and_channel_only():
    w = torch.randn(6, 5)
    rows = pruning.granularity_mask(w, 0.5, "channel")
    assert torch.equal(rows.all(dim=1), rows.any(dim=1)) and int((~rows.all(dim=1)).sum()) == 3
    with pytest.raises(ValueError, match=r"'kernel'.*\(6, 5\).*\['fine', 'channel'\]"):
        pruning.granularity_mask(w, 0.5, "kernel")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"granularity": "block"}, "granularity must be one of"),
        ({"norm": "l3"}, "norm must be one of"),
        ({"n_patterns": 0}, "n_patterns"),
    ],
)
def test_bad_granularity_arguments_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pruning.granularity_mask(torch.randn(2, 2, 3, 3), 0.5, **kwargs)


def test_granularity_masks_cover_every_layer_the_granularity_fits():
    masks = pruning.granularity_masks(small_convnet(), 0.5, "kernel")
    assert set(masks) == {"conv1.weight", "conv2.weight", "conv3.weight"}  # a Linear has no kernels
    fine = pruning.granularity_masks(small_convnet(), 0.5, "fine")
    assert set(fine) == set(core.prunable_weights(small_convnet()))  # like global_magnitude_masks


def test_index_bits_count_one_bit_per_unit_and_the_pattern_table():
    shape = (8, 4, 3, 3)
    bits = {g: pruning.mask_index_bits(shape, g) for g in pruning.GRANULARITIES}
    assert bits == {"fine": 288, "vector": 96, "kernel": 32, "channel": 8, "pattern": 32 * 3 + 8 * 9}
    assert pruning.mask_index_bits(shape, "pattern", n_patterns=1) == 9  # one pattern: no ids, just the table
    with pytest.raises(ValueError, match="does not fit"):
        pruning.mask_index_bits((4, 5), "vector")


def test_granularity_masks_on_a_bare_layer_and_too_large_pattern_kernels():
    assert list(pruning.granularity_masks(nn.Conv2d(2, 3, 3), 0.5, "kernel")) == ["weight"]
    with pytest.raises(ValueError, match=r"at most 62 positions.*\(2, 2, 8, 8\)"):
        pruning.granularity_mask(torch.randn(2, 2, 8, 8), 0.5, "pattern")
    with pytest.raises(ValueError, match="has no layers"):
        pruning.granularity_masks(nn.Linear(3, 3), 0.5, "kernel")


# ---- the Pruner and torch.nn.utils.prune -----------------------------------------------------------


def tiny_batches(n_batches: int = 3):
    gen = torch.Generator().manual_seed(0)
    return [(torch.randn(16, 1, 8, 8, generator=gen), torch.randint(0, 10, (16,), generator=gen))
            for _ in range(n_batches)]


def largest_pruned_weight(model: nn.Module, masks) -> float:
    """max |w| over the pruned positions (0.0 when all are exactly zero)."""
    params = dict(model.named_parameters())
    pruned = torch.cat([params[name].detach()[~m] for name, m in masks.items()] + [torch.zeros(1)])
    return float(pruned.abs().max())


def test_pruner_keeps_zeros_at_zero_through_training_and_the_rest_trains():
    model = small_convnet()
    masks = pruning.global_magnitude_masks(model, 0.7)
    pruner = pruning.Pruner(masks)
    pruner(model)
    before = copy.deepcopy(model.state_dict())
    train.train(model, tiny_batches(), epochs=2, lr=1e-2, after_step=pruner, progress=False)
    assert largest_pruned_weight(model, masks) == 0.0
    assert not torch.equal(before["fc1.weight"], model.state_dict()["fc1.weight"])  # kept weights moved


def test_without_the_pruner_adam_grows_pruned_weights_back():
    model = small_convnet()
    masks = pruning.global_magnitude_masks(model, 0.7)
    core.apply_masks(model, masks)
    train.train(model, tiny_batches(), epochs=1, lr=1e-2, progress=False)
    assert largest_pruned_weight(model, masks) > 0


def test_attached_masks_train_deepcopy_save_load_and_become_permanent():
    model = small_convnet()
    pruner = pruning.Pruner(pruning.global_magnitude_masks(model, 0.6))
    pruner.attach(model)
    train.train(model, tiny_batches(), epochs=1, lr=1e-2, after_step=pruner, progress=False)
    clone = copy.deepcopy(model)
    assert torch.equal(pruning.Pruner.from_model(clone).masks["conv2.weight"], pruner.masks["conv2.weight"])

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = pruning.load_pruned_state_dict(small_convnet(seed=5), torch.load(buffer, weights_only=True))
    x = torch.randn(4, 1, 8, 8)
    model.eval(), fresh.eval()
    assert torch.allclose(model(x), fresh(x))

    pruning.make_permanent(fresh)
    assert not prune.is_pruned(fresh) and "conv2.weight" in dict(fresh.named_parameters())
    assert largest_pruned_weight(fresh, pruner.masks) == 0.0
    assert torch.allclose(model(x), fresh(x))


def test_pruner_survives_deepcopy_and_state_dict_round_trip():
    pruner = pruning.Pruner(pruning.global_magnitude_masks(small_convnet(), 0.5))
    clone = copy.deepcopy(pruner)
    buffer = io.BytesIO()
    torch.save(pruner.state_dict(), buffer)
    buffer.seek(0)
    loaded = pruning.Pruner({"x": torch.ones(1, dtype=torch.bool)})
    loaded.load_state_dict(torch.load(buffer, weights_only=True))
    for other in (clone, loaded):
        assert other.masks.keys() == pruner.masks.keys()
        assert all(torch.equal(other.masks[k], pruner.masks[k]) for k in pruner.masks)
    assert loaded.sparsity() == pytest.approx(0.5, abs=1e-3)


def test_pruner_rejects_bad_masks():
    model = small_convnet()
    with pytest.raises(TypeError, match="torch.bool"):
        pruning.Pruner({"conv1.weight": torch.ones(4, 1, 3, 3)})
    with pytest.raises(TypeError, match="non-empty dict"):
        pruning.Pruner({})
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        pruning.Pruner({"conv1.weight": torch.ones(2, 2, dtype=torch.bool)})(model)
    with pytest.raises(ValueError, match="no module 'convX'"):
        pruning.Pruner({"convX.weight": torch.ones(2, dtype=torch.bool)})(model)
    with pytest.raises(ValueError, match="no torch.nn.utils.prune masks"):
        pruning.Pruner.from_model(model)


# ---- sensitivity scan --------------------------------------------------------------------------------


def test_sensitivity_scan_restores_the_model_and_hurts_at_full_sparsity(small_test_loader):
    model = models.load_pretrained("convnet")
    before = copy.deepcopy(model.state_dict())
    dense = train.evaluate(model, small_test_loader)
    layers = ["conv1.weight", "fc2.weight"]
    scan = analysis.layer_sensitivity(model, lambda m: train.evaluate(m, small_test_loader), [0.0, 1.0],
                                      layers=layers, progress=False)
    assert list(scan.curves) == ["conv1.weight", "fc2.weight"] and scan.dense == dense
    for accuracies in scan.curves.values():
        assert accuracies[0] == dense and accuracies[1] < 0.5
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_sensitivity_scan_takes_any_mask_function(small_test_loader):
    model = models.load_pretrained("convnet")
    scan = analysis.layer_sensitivity(
        model, lambda m: train.evaluate(m, small_test_loader), [0.5], layers=["conv2.weight"], progress=False,
        make_mask=lambda w, s: pruning.granularity_mask(w, s, "channel"),
    )
    assert 0 <= scan.curves["conv2.weight"][0] <= 1


def test_sensitivity_scan_rejects_an_unknown_layer(small_test_loader):
    with pytest.raises(ValueError, match="'conv9.weight'"):
        analysis.layer_sensitivity(small_convnet(), lambda m: 1.0, [0.5], layers=["conv9.weight"])
