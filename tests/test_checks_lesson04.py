"""Lesson 04's checks pass on the reference answers and fail, naming the case, on plausible mistakes."""

import copy

import pytest
from check_helpers import assert_check_passes_and_rejects, learners_copy

from course_lib import analysis, structured
from course_lib.checks import lesson04 as check

# the library's answers as a learner's own code: the checks make the library's objects unavailable
prune_conv_pair = learners_copy(structured.prune_conv_pair)
ratios_for_mac_budget = learners_copy(analysis.ratios_for_mac_budget)


def input_norms_of_outputs(weight):  # the norm of each *output* filter instead
    return weight.flatten(1).norm(dim=1)


def input_norms_l1(weight):
    return weight.transpose(0, 1).flatten(1).abs().sum(dim=1)


def input_norms_squared(weight):
    return weight.transpose(0, 1).flatten(1).square().sum(dim=1)


def top_filters_by_score_order(conv, consumer, n_keep):
    """Keeps the right filters but sorts them by score, so they no longer match the consumer's order."""
    conv, consumer = copy.deepcopy(conv), copy.deepcopy(consumer)
    keep = conv.weight.abs().flatten(1).sum(dim=1).argsort(descending=True)[:n_keep]
    structured.shrink_outputs(conv, keep)
    structured.shrink_inputs(consumer, keep)
    return conv, consumer


def top_filters_consumer_unchanged(conv, consumer, n_keep):
    conv, _ = prune_conv_pair(conv, consumer, n_keep)
    return conv, consumer


def smallest_filters(conv, consumer, n_keep):
    conv, consumer = copy.deepcopy(conv), copy.deepcopy(consumer)
    keep = conv.weight.abs().flatten(1).sum(dim=1).argsort()[:n_keep].sort().values
    structured.shrink_outputs(conv, keep)
    structured.shrink_inputs(consumer, keep)
    return conv, consumer


def smallest_safe_ratio(ratios, values, dense, max_drop):
    return min((r for r, v in zip(ratios, values) if dense - v <= max_drop), default=0.0)


def strict_drop(ratios, values, dense, max_drop):
    return max((r for r, v in zip(ratios, values) if dense - v < max_drop), default=0.0)


def stop_at_first_unsafe(ratios, values, dense, max_drop):
    best = 0.0
    for r, v in zip(ratios, values):
        if dense - v > max_drop:
            break
        best = r
    return best


CASES = [
    (check.input_channel_importance, structured.input_channel_norms,
     [input_norms_of_outputs, input_norms_l1, input_norms_squared]),
    (check.keep_top_filters, structured.prune_conv_pair,
     [top_filters_by_score_order, top_filters_consumer_unchanged, smallest_filters]),
    (check.largest_safe_ratio, analysis.largest_safe_ratio,
     [smallest_safe_ratio, strict_drop, stop_at_first_unsafe]),
]  # fmt: skip


@pytest.mark.parametrize("checker, reference, wrong", CASES, ids=lambda v: getattr(v, "__name__", ""))
def test_check_passes_on_the_reference_and_fails_on_mistakes(checker, reference, wrong):
    assert_check_passes_and_rejects(checker, reference, wrong)


def test_crashing_answers_get_a_clear_message():
    assert "raised IndexError" in repr(check.input_channel_importance(lambda w: w[99]))
    assert "expected a (conv, consumer) pair" in repr(check.keep_top_filters(lambda c, n, k: c))


def test_a_wrong_pair_is_described_without_the_solution_code():
    message = repr(check.keep_top_filters(smallest_filters))
    assert "case 1 (8 filters, keep 5)" in message
    assert "conv with 5 output channels" in message and "filter L1 norms" in message


def uniform_ratio_for_the_budget(model, x, scan, budget):  # the same cut everywhere, largest that fits
    fits = [r / 20 for r in range(19)
            if analysis.mac_fraction(model, structured.prune_channels(model, r / 20, x), x) <= budget]
    return {name: max(fits) for name in scan.curves}


def ignore_the_budget(model, x, scan, budget):  # only the scan's "safe" ratios, at a 1-point drop
    return {name: analysis.largest_safe_ratio(scan.ratios, curve, scan.dense, 0.01)
            for name, curve in scan.curves.items()}


def cut_everything_hard(model, x, scan, budget):
    return {name: max(scan.ratios) for name in scan.curves}


def wrong_group_names(model, x, scan, budget):
    chosen = ratios_for_mac_budget(model, x, scan, budget)
    return {f"{name}.weight": ratio for name, ratio in chosen.items()}


def test_choose_channel_ratios():
    assert_check_passes_and_rejects(
        check.choose_channel_ratios, analysis.ratios_for_mac_budget,
        [uniform_ratio_for_the_budget, ignore_the_budget, cut_everything_hard, wrong_group_names],
    )
    assert "'conv1.weight' is not a group" in repr(check.choose_channel_ratios(wrong_group_names))
