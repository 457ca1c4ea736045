"""Each lesson-05 check passes on a correct answer and fails, naming the case, on plausible wrong ones."""

from course_lib.checks import lesson05 as check


def agp(step, initial, final, start, end, exponent=3):
    progress = min(max((step - start) / (end - start), 0.0), 1.0)
    return final + (initial - final) * (1 - progress) ** exponent


def test_agp_sparsity():
    assert check.agp_sparsity(agp)
    linear = check.agp_sparsity(lambda *args: agp(*args, exponent=1))
    assert not linear and "case 2 (a quarter of the way)" in repr(linear)
    unclamped = check.agp_sparsity(  # no hold outside [start, end]
        lambda t, si, sf, t0, t1: sf + (si - sf) * (1 - (t - t0) / (t1 - t0)) ** 3
    )
    assert not unclamped and "case 4 (before the start" in repr(unclamped)
    swapped = check.agp_sparsity(lambda t, si, sf, t0, t1: agp(t, sf, si, t0, t1))
    assert not swapped and "case 1 (at the start step)" in repr(swapped)


def geometric(final, rounds):
    return [1 - (1 - final) ** (r / rounds) for r in range(1, rounds + 1)]


def test_iterative_sparsities():
    assert check.iterative_sparsities(geometric)
    evenly_spaced = check.iterative_sparsities(
        lambda final, rounds: [final * r / rounds for r in range(1, rounds + 1)]
    )
    assert not evenly_spaced and "case 1 (90% in 3 rounds)" in repr(evenly_spaced)
    off_by_one = check.iterative_sparsities(
        lambda final, rounds: [1 - (1 - final) ** (r / rounds) for r in range(rounds)]
    )
    assert not off_by_one and "case 1" in repr(off_by_one)
    same_fraction_of_all = check.iterative_sparsities(  # prunes final/rounds of the *remaining* each time
        lambda final, rounds: [1 - (1 - final / rounds) ** r for r in range(1, rounds + 1)]
    )
    assert not same_fraction_of_all and "case 1" in repr(same_fraction_of_all)


def prune_early(final, epochs):
    return [min(final, 0.9)] + [final] * (epochs - 1)


def test_design_schedule_passes_a_design_that_reaches_the_target_and_reports_what_it_measured():
    result = check.design_schedule(prune_early)
    assert result and "its case passes" in repr(result)
    cut_last = check.design_schedule(lambda final, epochs: [0.0] * (epochs - 1) + [final])
    assert not cut_last and "mean validation accuracy" in repr(cut_last)  # trained, and below the target
    got = repr(cut_last).split(", got ")[1]
    assert float(got.split("accuracy ")[1].split("%")[0]) < 100 * check.DESIGN_TARGET


def test_design_schedule_rejects_invalid_schedules_without_training():
    for design, message in [
        (lambda final, epochs: [final] * (epochs - 1), "3 sparsities for 4 epochs"),
        (lambda final, epochs: [final, 0.9] + [final] * (epochs - 2), "falls from 0.95 (epoch 1) to 0.9"),
        (lambda final, epochs: [0.5] * epochs, "must run at the final sparsity 95%"),
        (lambda final, epochs: [1.0] * epochs, "in [0, 1)"),
        (lambda final, epochs: None, "expected a list of sparsities"),
    ]:
        result = check.design_schedule(design)
        assert not result and message in repr(result), repr(result)
