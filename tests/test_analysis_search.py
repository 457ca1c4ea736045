"""Search: the MAC cost model against real pruned models, the selection rule, the search, latency tables."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import analysis, models, structured

GRID = (0.0, 0.25, 0.5, 0.75)
X = torch.zeros(1, 1, 8, 8)


@pytest.fixture(scope="module")
def convnet():
    return models.ConvNet().eval()


@pytest.fixture(scope="module")
def cost_model(convnet):
    return analysis.ChannelCostModel(convnet, X)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.sampled_from((0.0, 0.1, 0.3, 0.5, 0.7, 0.9)), min_size=4, max_size=4))
def test_mac_cost_model_equals_count_macs_of_the_pruned_model(convnet, cost_model, ratios):
    setting = dict(zip(("conv1", "conv2", "conv3", "fc1"), ratios))
    pruned = structured.prune_channels(convnet, setting, X)
    assert cost_model.macs(setting) == analysis.count_macs(pruned, (1, 8, 8))


def test_cost_model_for_a_residual_network():
    resnet = models.TinyResNet().eval()
    cost = analysis.ChannelCostModel(resnet, X)
    setting = {g: 0.5 for g in cost.channels}
    assert cost.macs(setting) == analysis.count_macs(structured.prune_channels(resnet, setting, X), (1, 8, 8))
    assert cost.macs_kept({}) == 1.0


def test_cost_model_rejects_bad_ratios(cost_model):
    with pytest.raises(ValueError, match="unknown groups.*fc2"):
        cost_model.macs({"fc2": 0.5})
    with pytest.raises(ValueError, match=r"ratios\['conv1'\]"):
        cost_model.macs({"conv1": 1.0})
    with pytest.raises(TypeError, match="dict"):
        cost_model.macs(0.5)


def _brute_force_best(scores, costs, budget):
    best = None
    for i, (s, c) in enumerate(zip(scores, costs)):
        if c <= budget and (best is None or (s, -c) > (scores[best], -costs[best])):
            best = i
    return best


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 4)), min_size=1, max_size=12), st.integers(1, 4))
def test_best_within_budget_matches_brute_force(pairs, budget):
    scores, costs = [p[0] / 3 for p in pairs], [float(p[1]) for p in pairs]
    expected = _brute_force_best(scores, costs, budget)
    if expected is None:
        with pytest.raises(ValueError, match="no candidate fits"):
            analysis.best_within_budget(scores, costs, budget)
    else:
        assert analysis.best_within_budget(scores, costs, budget) == expected


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf])
def test_bad_budgets_are_clear_errors(bad):
    with pytest.raises(ValueError, match="budget must be a finite number > 0"):
        analysis.best_within_budget([1.0], [1.0], bad)
    with pytest.raises(ValueError, match="budget"):
        analysis.evolutionary_search(["a"], GRID, lambda r: 0.0, lambda r: 1.0, bad)
    with pytest.raises(TypeError, match="budget"):
        analysis.check_budget("1")


def _toy_problem():
    """Score peaks at a known setting; cost falls as ratios grow (kept fraction summed)."""
    target = {"a": 0.25, "b": 0.5, "c": 0.0}
    calls = []

    def score(r):
        calls.append(dict(r))
        return -sum((r[g] - target[g]) ** 2 for g in target)

    def cost(r):
        return sum(1 - v for v in r.values())

    return target, calls, score, cost


def test_search_finds_the_optimum_within_budget_scoring_each_setting_once():
    target, calls, score, cost = _toy_problem()
    result = analysis.evolutionary_search(target, GRID, score, cost, budget=2.5, progress=False)
    assert result.best.ratios == target  # cost 2.25 fits
    assert all(c.cost <= 2.5 for c in result.history)
    keys = [tuple(sorted(c.items())) for c in calls]
    assert len(keys) == len(set(keys)) == len(result.history)


def test_search_respects_a_budget_that_excludes_the_optimum_and_is_reproducible():
    target, _, score, cost = _toy_problem()
    first = analysis.evolutionary_search(target, GRID, score, cost, budget=1.75, seed=3, progress=False)
    again = analysis.evolutionary_search(target, GRID, score, cost, budget=1.75, seed=3, progress=False)
    assert first.best.cost <= 1.75 and first.best.ratios != target
    assert first.history == again.history


def test_search_with_the_tightest_budget_starts_from_the_cheapest_setting():
    target, _, score, cost = _toy_problem()
    result = analysis.evolutionary_search(target, GRID, score, cost, budget=0.75, progress=False)
    assert result.best.ratios == {g: 0.75 for g in target}


def test_unreachable_budgets_say_what_the_cheapest_costs():
    target, _, score, cost = _toy_problem()
    with pytest.raises(ValueError, match="unreachable.*costs 0.75"):
        analysis.evolutionary_search(target, GRID, score, cost, budget=0.5)
    with pytest.raises(ValueError, match="unreachable with a uniform ratio"):
        analysis.uniform_for_budget(target, GRID, cost, 0.5)
    with pytest.raises(ValueError, match="population"):
        analysis.evolutionary_search(target, GRID, score, cost, budget=2.0, population=0)


def test_uniform_for_budget_picks_the_smallest_ratio_that_fits():
    target, _, _, cost = _toy_problem()
    assert analysis.uniform_for_budget(target, GRID, cost, 1.5) == {g: 0.5 for g in target}
    assert analysis.uniform_for_budget(target, GRID, cost, 3.0) == {g: 0.0 for g in target}


def test_latency_table_covers_the_grid_and_predicts_by_summing(convnet, cost_model):
    table = analysis.latency_table(convnet, X, (0.0, 0.5), batch_size=2, repeats=1, progress=False)
    assert set(table.entries) == {"conv1", "conv2", "conv3", "fc1", "fc2"}
    assert set(table.entries["conv2"]) == {(8, 16), (8, 32), (16, 16), (16, 32)}
    assert set(table.entries["conv1"]) == {(1, 8), (1, 16)}
    assert set(table.entries["fc2"]) == {(32, 10), (64, 10)}
    assert all(ms > 0 for e in table.entries.values() for ms in e.values())
    full = {"conv1": (1, 16), "conv2": (16, 32), "conv3": (32, 64), "fc1": (64, 64), "fc2": (64, 10)}
    dense = sum(table.entries[name][key] for name, key in full.items())
    assert table.predict({}) == pytest.approx(dense)
    with pytest.raises(ValueError, match="did not measure"):
        table.predict({"conv2": 0.25})


def test_initial_settings_join_the_search_and_are_never_beaten_by_its_best():
    target, calls, score, cost = _toy_problem()
    start = {"a": 0.75, "b": 0.75, "c": 0.75}
    result = analysis.evolutionary_search(target, GRID, score, cost, budget=1.75, initial=[start],
                                          progress=False)
    assert calls[0] == start and result.history[0].ratios == start
    assert result.best.score >= score(start)
    with pytest.raises(ValueError, match="over budget"):
        analysis.evolutionary_search(target, GRID, score, cost, budget=1.0,
                                     initial=[{"a": 0, "b": 0, "c": 0}], progress=False)
    with pytest.raises(ValueError, match="every group"):
        analysis.evolutionary_search(target, GRID, score, cost, budget=2.5, initial=[{"a": 0.25}],
                                     progress=False)
    with pytest.raises(ValueError, match="outside the grid"):
        analysis.evolutionary_search(target, GRID, score, cost, budget=2.5,
                                     initial=[{"a": 0.3, "b": 0.5, "c": 0.0}], progress=False)


def test_the_search_seed_moves_with_the_course_seed_offset(monkeypatch):
    target, _, score, cost = _toy_problem()
    monkeypatch.setenv("COURSE_SEED_OFFSET", "0")
    base = analysis.evolutionary_search(target, GRID, score, cost, budget=1.75, seed=3, progress=False)
    monkeypatch.setenv("COURSE_SEED_OFFSET", "1")
    moved = analysis.evolutionary_search(target, GRID, score, cost, budget=1.75, seed=3, progress=False)
    assert [c.ratios for c in base.history] != [c.ratios for c in moved.history]


def test_a_measured_cost_that_does_not_fall_monotonically_is_searchable_from_an_initial_setting():
    target, _, score, cost = _toy_problem()

    def noisy(r):  # like a latency table on a busy machine: the smallest setting timed slower
        return 9.0 if all(v == 0.75 for v in r.values()) else cost(r)

    start = {"a": 0.5, "b": 0.5, "c": 0.5}
    with pytest.raises(ValueError, match="unreachable"):
        analysis.evolutionary_search(target, GRID, score, noisy, budget=1.5, progress=False)
    result = analysis.evolutionary_search(target, GRID, score, noisy, budget=1.5, initial=iter([start]),
                                          progress=False)
    assert result.best.cost <= 1.5 and result.best.score >= score(start)
