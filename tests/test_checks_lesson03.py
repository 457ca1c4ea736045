"""Each lesson-03 check passes on the reference answer and fails on plausible wrong ones."""

import math

import torch
from check_helpers import assert_check_passes_and_rejects, learners_copy

from course_lib import core, data, models, pruning
from course_lib.checks import lesson03 as check


def nm_mask(weight, n, m, scores=torch.abs):
    groups = scores(weight).view(weight.shape[0], -1, m)
    keep = torch.zeros_like(groups, dtype=torch.bool)
    keep.scatter_(-1, groups.topk(n, dim=-1).indices, True)
    return keep.view_as(weight)


def test_nm_mask():
    assert check.nm_mask(nm_mask)
    smallest = check.nm_mask(lambda w, n, m: nm_mask(w, n, m, scores=lambda w: -w.abs()))
    assert not smallest and "case 1 (2:4 on one row of 8)" in repr(smallest)
    signed = check.nm_mask(lambda w, n, m: nm_mask(w, n, m, scores=lambda w: w))  # largest w, not |w|
    assert not signed and "case 1" in repr(signed)
    columns = check.nm_mask(lambda w, n, m: nm_mask(w.T.contiguous(), n, m).T)  # groups down columns
    assert not columns and "case 1" in repr(columns)
    as_float = check.nm_mask(lambda w, n, m: nm_mask(w, n, m).float())
    assert not as_float and "case 1" in repr(as_float)
    global_threshold = check.nm_mask(lambda w, n, m: w.abs() >= w.abs().flatten().kthvalue(
        w.numel() - w.numel() * n // m + 1).values)  # unstructured, same sparsity
    assert not global_threshold and "case 1" in repr(global_threshold)


def pack_2bit(positions):
    four = positions.view(-1, 4)
    return (four[:, 0] | four[:, 1] << 2 | four[:, 2] << 4 | four[:, 3] << 6).to(torch.uint8)


def test_pack_2bit():
    assert check.pack_2bit(pack_2bit)
    reversed_order = check.pack_2bit(lambda p: pack_2bit(p.view(-1, 4).flip(1).flatten()))
    assert not reversed_order and "case 1 (positions 0, 1, 2, 3)" in repr(reversed_order)
    unpacked = check.pack_2bit(lambda p: p.to(torch.uint8))  # one byte per position
    assert not unpacked and "case 1" in repr(unpacked)
    wide = check.pack_2bit(lambda p: pack_2bit(p).long())  # right numbers, wrong dtype
    assert not wide and "case 1" in repr(wide)


def nm_bytes(numel, n, m, bytes_per_value):
    kept = numel * n // m
    return kept * bytes_per_value + math.ceil(kept * math.ceil(math.log2(m)) / 8)


def test_nm_bytes():
    assert check.nm_bytes(nm_bytes)
    values_only = check.nm_bytes(lambda numel, n, m, b: numel * n // m * b)
    assert not values_only and "case 1 (fp16 2:4, 4096 weights)" in repr(values_only)
    always_two_bits = check.nm_bytes(lambda numel, n, m, b: numel * n // m * b + math.ceil(numel * n / m / 4))
    assert not always_two_bits and "case 4 (fp16 2:8" in repr(always_two_bits)
    no_rounding = check.nm_bytes(lambda numel, n, m, b: numel * n / m * (b + math.ceil(math.log2(m)) / 8))
    assert not no_rounding and "case 7 (int8-sized values" in repr(no_rounding)
    bitmap = check.nm_bytes(lambda numel, n, m, b: numel * n // m * b + math.ceil(numel / 8))  # 1 bit/weight
    assert not bitmap and "case 3 (fp16 1:4" in repr(bitmap)  # equals 2:4's 2 bits per kept value


choose_by_brute_force = learners_copy(check.best_24_layers)  # the library's search, as a learner's own


def every_eligible_layer(model, val_loader, budget):  # ignores the validation accuracy
    return list(pruning.nm_masks(model, 2, 4))


def largest_layer_only(model, val_loader, budget):  # ignores the budget
    weights = core.prunable_weights(model)
    return [max(pruning.nm_masks(model, 2, 4), key=lambda name: weights[name].numel())]


def every_layer_even_conv1(model, val_loader, budget):  # conv1's K = 9 is not a multiple of 4
    return list(core.prunable_weights(model))


def nothing_pruned(model, val_loader, budget):
    return []


def test_choose_24_layers():
    assert_check_passes_and_rejects(
        check.choose_24_layers, choose_by_brute_force,
        [every_eligible_layer, largest_layer_only, every_layer_even_conv1, nothing_pruned],
    )
    message = repr(check.choose_24_layers(every_layer_even_conv1))
    assert "'conv1.weight' cannot be stored 2:4" in message


def test_the_reference_choice_fits_its_budget():
    model = models.load_pretrained("convnet")
    val_loader = data.digits_loaders().validation
    for budget in (0.6, 0.75):
        layers = check.best_24_layers(model, val_loader, budget)
        assert check.storage_fraction(model, layers) <= budget
    assert check.storage_fraction(model, []) == 1.0
