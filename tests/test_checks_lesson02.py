"""Each lesson-02 check passes on the reference answer and fails, naming the case, on wrong ones."""

import torch

from course_lib import core
from course_lib.checks import lesson02 as check


def unit_mask(weight, sparsity, unit_dims, score):
    """A from-scratch unit mask: score each unit, prune the lowest round(sparsity * units)."""
    scores = score(weight).sum(dim=unit_dims)
    keep = core.keep_largest(scores, round(sparsity * scores.numel()))
    return keep.view(*keep.shape, *([1] * len(unit_dims))).expand_as(weight).clone()


def test_kernel_mask():
    assert check.kernel_mask(lambda w, s: unit_mask(w, s, (2, 3), torch.square))
    l1_instead = check.kernel_mask(lambda w, s: unit_mask(w, s, (2, 3), torch.abs))
    assert not l1_instead and "one big weight" in repr(l1_instead)
    channels = check.kernel_mask(lambda w, s: unit_mask(w, s, (1, 2, 3), torch.square))
    assert not channels and "case 1" in repr(channels)
    signed = check.kernel_mask(lambda w, s: unit_mask(w, s, (2, 3), lambda t: t))
    assert not signed and "case 1" in repr(signed)


def test_choose_patterns():
    assert check.choose_patterns(lambda k, p: (k.pow(2) @ p.float().T).argmax(dim=1))
    by_abs = check.choose_patterns(lambda k, p: (k.abs() @ p.float().T).argmax(dim=1))
    assert not by_abs and "squares count" in repr(by_abs)
    signed = check.choose_patterns(lambda k, p: (k @ p.float().T).argmax(dim=1))
    assert not signed and "case 1" in repr(signed)
    last_tie = check.choose_patterns(
        lambda k, p: p.shape[0] - 1 - (k.pow(2) @ p.float().T).flip(1).argmax(dim=1)
    )
    assert not last_tie and "tie" in repr(last_tie)


def _best_fit(accuracy, bits, max_bits, min_sparsity):
    candidates = [(a, g, k / 9) for g, row in accuracy.items() if bits[g] <= max_bits
                  for k, a in enumerate(row) if k / 9 >= min_sparsity - 1e-9]
    _, granularity, sparsity = max(candidates, key=lambda c: c[0])
    return granularity, sparsity


def _most_regular(accuracy, bits, max_bits, min_sparsity):
    fitting = [g for g in accuracy if bits[g] <= max_bits]
    return min(fitting, key=bits.get), min_sparsity


def _least_regular(accuracy, bits, max_bits, min_sparsity):
    fitting = [g for g in accuracy if bits[g] <= max_bits]
    return max(fitting, key=bits.get), min_sparsity


def test_granularity_choice_measures_the_choice_on_validation():
    assert check.granularity_choice(_best_fit)
    always_fine = check.granularity_choice(lambda a, b, m, s: ("fine", s))
    assert not always_fine and "over the budget" in repr(always_fine)
    most_regular = check.granularity_choice(_most_regular)
    assert not most_regular and "another choice" in repr(most_regular)
    least_regular = check.granularity_choice(_least_regular)
    assert not least_regular and "another choice" in repr(least_regular)
    too_sparse_a_grid = check.granularity_choice(lambda a, b, m, s: (_best_fit(a, b, m, s)[0], 0.0))
    assert not too_sparse_a_grid and "prunes only" in repr(too_sparse_a_grid)
