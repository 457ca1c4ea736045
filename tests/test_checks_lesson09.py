"""Lesson 09's checks pass on the reference answers and fail, naming the case, on plausible mistakes."""

import pytest
import torch
from check_helpers import assert_check_passes_and_rejects

from course_lib import analysis, hardware, recipes
from course_lib.checks import lesson09 as check
from course_lib.hardware import HOROWITZ_45NM_PJ as T


def topk_ties_to_lower_index(scores, k):  # the first k of a descending sort
    order = scores.argsort(dim=1, descending=True, stable=True)[:, :k]
    return torch.zeros_like(scores, dtype=torch.bool).scatter_(1, order, True)


def topk_smallest(scores, k):
    order = scores.argsort(dim=1, stable=True)[:, :k]
    return torch.zeros_like(scores, dtype=torch.bool).scatter_(1, order, True)


def topk_over_inputs(scores, k):  # the k largest per channel (column) instead of per input
    order = scores.argsort(dim=0, descending=True, stable=True)[:k]
    return torch.zeros_like(scores, dtype=torch.bool).scatter_(0, order, True)


def best_strict_budget(scores, costs, budget):
    feasible = [i for i, c in enumerate(costs) if c < budget]
    return min(feasible, key=lambda i: (-scores[i], costs[i], i))


def best_ignoring_budget(scores, costs, budget):
    return max(range(len(scores)), key=lambda i: (scores[i], -i))


def best_ties_by_index(scores, costs, budget):
    feasible = [i for i, c in enumerate(costs) if c <= budget]
    return min(feasible, key=lambda i: (-scores[i], i))


def energy_per_byte(weight_bytes, macs):  # one DRAM access per byte
    return weight_bytes * T["32-bit DRAM read"] + macs * (T["32-bit float mult"] + T["32-bit float add"])


def energy_without_add(weight_bytes, macs):
    return weight_bytes / 4 * T["32-bit DRAM read"] + macs * T["32-bit float mult"]


def energy_from_sram(weight_bytes, macs):
    per_mac = T["32-bit float mult"] + T["32-bit float add"]
    return weight_bytes / 4 * T["32-bit SRAM read (8 KB)"] + macs * per_mac


CASES = [
    (check.topk_mask, recipes.topk_mask, [topk_ties_to_lower_index, topk_smallest, topk_over_inputs]),
    (check.best_within_budget, analysis.best_within_budget,
     [best_strict_budget, best_ignoring_budget, best_ties_by_index]),
    (check.energy_pj, hardware.energy_pj, [energy_per_byte, energy_without_add, energy_from_sram]),
]  # fmt: skip


@pytest.mark.parametrize("checker, reference, wrong", CASES, ids=lambda v: getattr(v, "__name__", ""))
def test_check_passes_on_the_reference_and_fails_on_mistakes(checker, reference, wrong):
    assert_check_passes_and_rejects(checker, reference, wrong)


# Exercise 9.4 is a design task: the check measures the learner's setting (MACs, then validation
# accuracy after one seeded epoch of fine-tuning), so any setting that meets both targets passes.
DESIGN_REFERENCE = {"conv1": 0.0, "conv2": 0.75, "conv3": 0.625, "fc1": 0.5}


def design_reference():
    return dict(DESIGN_REFERENCE)


def design_uniform_cut():  # fits the budget easily, but a uniform 75% cut loses too much accuracy
    return {g: 0.75 for g in DESIGN_REFERENCE}


def design_over_budget():  # the MAC search's kind of winner: accurate, but above 20% of the MACs
    return {"conv1": 0.0, "conv2": 0.75, "conv3": 0.5, "fc1": 0.125}


def design_unknown_group():
    return {"conv1": 0.0, "conv4": 0.5}


def design_ratio_of_one():  # removing every channel of a layer is not a setting
    return {**DESIGN_REFERENCE, "fc1": 1.0}


def test_design_check_measures_the_outcome():
    assert_check_passes_and_rejects(
        check.design_ratios, design_reference,
        [design_uniform_cut, design_over_budget, design_unknown_group, design_ratio_of_one],
    )
    assert "not done yet" in repr(check.design_ratios(lambda: (_ for _ in ()).throw(NotImplementedError())))


def test_design_check_names_the_failed_target():
    assert "MAC budget" in repr(check.design_ratios(design_over_budget))
    assert "accuracy target" in repr(check.design_ratios(design_uniform_cut))
