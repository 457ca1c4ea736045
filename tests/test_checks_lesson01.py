"""Each lesson-01 check passes on the reference answer and fails, naming the case, on wrong ones."""

from check_helpers import learners_copy

from course_lib import core, pruning
from course_lib.checks import lesson01 as check

keep_largest = learners_copy(core.keep_largest)  # a learner's own selection (the library's is blocked in 1.1)


def test_magnitude_mask():
    assert check.magnitude_mask(learners_copy(pruning.magnitude_mask))
    for library_answer in (lambda w, s: pruning.magnitude_mask(w, s),
                           lambda w, s: core.keep_largest(w.abs(), round(s * w.numel()))):
        delegated = check.magnitude_mask(library_answer)
        assert not delegated and "your code called course_lib." in repr(delegated)
    largest_pruned = check.magnitude_mask(lambda w, s: keep_largest(-w.abs(), round(s * w.numel())))
    assert not largest_pruned and "case 1" in repr(largest_pruned)
    signed = check.magnitude_mask(lambda w, s: keep_largest(w, round(s * w.numel())))
    assert not signed and "case 1" in repr(signed)
    half_up = check.magnitude_mask(lambda w, s: keep_largest(w.abs(), int(s * w.numel() + 0.5)))
    assert not half_up and "round(0.25 * 10)" in repr(half_up)


def test_obd_saliency():
    assert check.obd_saliency(lambda w, x: 0.5 * x.pow(2).mean(dim=0) * w.pow(2))
    no_half = check.obd_saliency(lambda w, x: x.pow(2).mean(dim=0) * w.pow(2))
    assert not no_half and "case 1" in repr(no_half)
    summed = check.obd_saliency(lambda w, x: 0.5 * x.pow(2).sum(dim=0) * w.pow(2))
    assert not summed and "case 1" in repr(summed)
    magnitude = check.obd_saliency(lambda w, x: w.abs())
    assert not magnitude and "Exercise 1.3" in repr(magnitude)


def test_unfinished_exercise_says_so():
    def not_done(*args):
        raise NotImplementedError

    assert "not done yet" in repr(check.obd_saliency(not_done))


def _fewest(study, target, criteria=("magnitude", "obd")):
    plans = [(int((study[c] <= target).nonzero()[0]), c) for c in criteria]
    n, criterion = min(plans)
    return criterion, n


def test_pruning_plan_measures_the_loss_of_the_plan():
    assert check.pruning_plan(_fewest)
    magnitude_only = check.pruning_plan(lambda st, t: _fewest(st, t, ("magnitude",)))
    assert not magnitude_only and "fewer weights" in repr(magnitude_only)
    brute_force_count = check.pruning_plan(lambda st, t: ("obd", int((st["optimum"] <= t).nonzero()[0])))
    assert not brute_force_count and "over the budget" in repr(brute_force_count)
    pruned_not_kept = check.pruning_plan(lambda st, t: (_fewest(st, t)[0], 12 - _fewest(st, t)[1]))
    assert not pruned_not_kept and "case 1" in repr(pruned_not_kept)
    assert not check.pruning_plan(lambda st, t: ("optimum", 3))
