"""Each lesson-01 check passes on the reference answer and fails, naming the case, on wrong ones."""

from course_lib import core, pruning
from course_lib.checks import lesson01 as check


def test_magnitude_mask():
    assert check.magnitude_mask(pruning.magnitude_mask)
    largest_pruned = check.magnitude_mask(lambda w, s: core.keep_largest(-w.abs(), round(s * w.numel())))
    assert not largest_pruned and "case 1" in repr(largest_pruned)
    signed = check.magnitude_mask(lambda w, s: core.keep_largest(w, round(s * w.numel())))
    assert not signed and "case 1" in repr(signed)
    half_up = check.magnitude_mask(lambda w, s: core.keep_largest(w.abs(), int(s * w.numel() + 0.5)))
    assert not half_up and "round(0.25 * 10)" in repr(half_up)


def test_project_l0():
    assert check.project_l0(pruning.project_l0)
    mask_only = check.project_l0(lambda w, n: core.keep_largest(w.abs(), w.numel() - n))
    assert not mask_only and "case 1" in repr(mask_only)
    unsigned = check.project_l0(lambda w, n: pruning.project_l0(w.abs(), n))
    assert not unsigned and "case 1" in repr(unsigned)
    smallest_kept = check.project_l0(lambda w, n: w * core.keep_largest(-w.abs(), w.numel() - n))
    assert not smallest_kept and "case 1" in repr(smallest_kept)


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
