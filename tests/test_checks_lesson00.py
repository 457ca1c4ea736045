"""Each lesson-00 check passes on the reference answer and fails on plausible wrong ones."""

import torch
from check_helpers import learners_copy

from course_lib.checks import lesson00 as check
from course_lib.models import kept_parameters


def test_sparsity_of():
    assert check.sparsity_of(lambda t: 1.0 - int(torch.count_nonzero(t)) / t.numel())
    density = check.sparsity_of(lambda t: int(torch.count_nonzero(t)) / t.numel())
    assert not density and "case 1" in repr(density)
    assert not check.sparsity_of(lambda t: float((t <= 0).float().mean()))  # counts negatives as zeros


def test_kept_parameters():
    assert not check.kept_parameters(kept_parameters)  # the library's own answer, handed in
    assert check.kept_parameters(learners_copy(kept_parameters))
    pruned_not_kept = check.kept_parameters(lambda c, f: sum(round(n * (1 - x)) for n, x in zip(c, f)))
    assert not pruned_not_kept and "case 2" in repr(pruned_not_kept)
    assert not check.kept_parameters(lambda c, f: sum(int(n * x) for n, x in zip(c, f)[:1]))


def test_prune_below():
    assert check.prune_below(lambda w, t: torch.where(w.abs() < t, torch.zeros_like(w), w))
    at_threshold = check.prune_below(lambda w, t: torch.where(w.abs() <= t, torch.zeros_like(w), w))
    assert not at_threshold and "exactly at the threshold" in repr(at_threshold)
    signed = check.prune_below(lambda w, t: torch.where(w < t, torch.zeros_like(w), w))
    assert not signed and "case 1" in repr(signed)


def _largest_within(sparsities, accuracies, dense, max_drop):
    return max(s for s, a in zip(sparsities, accuracies) if a >= dense - max_drop)


def test_choose_sparsity_measures_the_choice_on_validation():
    assert check.choose_sparsity(_largest_within)
    timid = check.choose_sparsity(lambda s, a, d, m: 0.5)
    assert not timid and "leaving weights in" in repr(timid)
    greedy = check.choose_sparsity(lambda s, a, d, m: 0.9)
    assert not greedy and "over budget" in repr(greedy)
    percent_confusion = check.choose_sparsity(lambda s, a, d, m: _largest_within(s, a, d, 100 * m))
    assert not percent_confusion and "case 1" in repr(percent_confusion)
    assert not check.choose_sparsity(lambda s, a, d, m: "0.6")
