import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, TensorDataset

from course_lib.analysis import overall_sparsity
from course_lib.core import prunable_weights
from course_lib.models import MLP
from course_lib.plots import plot_runs
from course_lib.pruning import global_magnitude_masks
from course_lib.recipes import (
    GradualPruner,
    PruningRun,
    agp_sparsity,
    agp_steps,
    geometric_sparsities,
    gradual_prune,
    iterative_prune,
)
from course_lib.train import train


def tiny_setup(seed=0):
    """A small MLP and a loader of 64 random digit-shaped images in 4 batches."""
    torch.manual_seed(seed)
    x, y = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    return MLP(), loader


def pruned_sets_match_masks(model, masks):
    weights = prunable_weights(model)
    return all(torch.equal(weights[name] != 0, mask) for name, mask in masks.items())


# --- the AGP schedule -----------------------------------------------------------------------------


def test_agp_hits_its_endpoints_and_holds_them():
    assert agp_sparsity(0, 0.1, 0.9, 10, 110) == 0.1
    assert agp_sparsity(10, 0.1, 0.9, 10, 110) == 0.1
    assert agp_sparsity(110, 0.1, 0.9, 10, 110) == pytest.approx(0.9)
    assert agp_sparsity(500, 0.1, 0.9, 10, 110) == pytest.approx(0.9)


def test_agp_matches_the_cubic_formula_at_midpoint():
    # s_t = s_f + (s_i - s_f) (1 - 1/2)^3 = 0.8 - 0.8 / 8
    assert agp_sparsity(50, 0.0, 0.8, 0, 100) == pytest.approx(0.7)
    assert agp_sparsity(50, 0.0, 0.8, 0, 100, exponent=1) == pytest.approx(0.4)


@settings(max_examples=50, deadline=None)
@given(st.floats(0, 1), st.floats(0, 1), st.integers(0, 50), st.integers(1, 200),
       st.floats(0.5, 5))
def test_agp_is_monotone_and_between_its_endpoints(a, b, start, length, exponent):
    initial, final = min(a, b), max(a, b)
    values = agp_steps(initial, final, length, exponent)
    assert values[0] == initial and values[-1] == pytest.approx(final)
    assert all(later >= earlier - 1e-12 for earlier, later in zip(values, values[1:]))
    assert agp_sparsity(start + length // 3, initial, final, start, start + length, exponent) == \
        pytest.approx(values[length // 3])


def test_agp_rises_fastest_at_first():
    values = agp_steps(0.0, 0.9, 30)
    increments = [b - a for a, b in zip(values, values[1:])]
    assert increments == sorted(increments, reverse=True)


@pytest.mark.parametrize("kwargs, match", [
    (dict(start=10, end=10), "end must be > start"),
    (dict(start=10, end=5), "end must be > start"),
    (dict(initial=0.5, final=0.2), "final must be >= initial"),
    (dict(final=1.5), r"final must be in \[0, 1\]"),
    (dict(step=-1), "step must be an int >= 0"),
    (dict(exponent=0), "exponent must be a finite number > 0"),
])
def test_agp_bad_input(kwargs, match):
    args = dict(step=5, initial=0.0, final=0.9, start=0, end=10) | kwargs
    with pytest.raises(ValueError, match=match):
        agp_sparsity(**args)


def test_geometric_sparsities_remove_the_same_fraction_each_round():
    values = geometric_sparsities(0.9, 3)
    assert values[-1] == pytest.approx(0.9)
    kept = [1.0] + [1 - s for s in values]
    ratios = [b / a for a, b in zip(kept, kept[1:])]
    assert ratios == pytest.approx([0.1 ** (1 / 3)] * 3)
    assert geometric_sparsities(0.5, 1) == [0.5]
    with pytest.raises(ValueError, match="rounds must be a positive integer"):
        geometric_sparsities(0.9, 0)


# --- gradual pruning in the training loop ---------------------------------------------------------


def test_gradual_pruner_keeps_masks_applied_and_only_grows_them():
    model, loader = tiny_setup()
    pruner = GradualPruner(final=0.8, start=2, end=10, every=3)
    seen = []

    def after_step(m):
        pruner(m)
        if pruner.masks is not None:
            assert all((w[~pruner.masks[n]] == 0).all() for n, w in prunable_weights(m).items())
            seen.append({n: mk.clone() for n, mk in pruner.masks.items()})

    train(model, loader, epochs=4, lr=1e-2, after_step=after_step, progress=False)
    assert [step for step, _ in pruner.history] == [2, 5, 8, 10]
    assert [s for _, s in pruner.history] == sorted(s for _, s in pruner.history)
    for earlier, later in zip(seen, seen[1:]):  # a pruned weight is never revived
        assert all((later[n] <= earlier[n]).all() for n in earlier)
    total = sum(w.numel() for w in prunable_weights(model).values())
    assert sum(int((~m).sum()) for m in pruner.masks.values()) == round(0.8 * total)
    assert overall_sparsity(model) == pytest.approx(0.8, abs=1e-3)


def test_gradual_pruner_does_nothing_before_start():
    model, loader = tiny_setup()
    pruner = GradualPruner(final=0.5, start=100, end=200)
    train(model, loader, epochs=1, after_step=pruner, progress=False)
    assert pruner.masks is None and pruner.history == [] and overall_sparsity(model) == 0.0


def test_gradual_pruner_bad_input():
    with pytest.raises(ValueError, match="every must be a positive integer"):
        GradualPruner(final=0.5, start=0, end=10, every=0)
    with pytest.raises(ValueError, match="end must be > start"):
        GradualPruner(final=0.5, start=10, end=3)
    with pytest.raises(ValueError, match="final must be >= initial"):
        GradualPruner(final=0.2, initial=0.4, start=0, end=10)


def test_gradual_prune_reaches_final_and_records_each_epoch():
    model, loader = tiny_setup()
    run = gradual_prune(model, loader, final=0.9, epochs=5, ramp_epochs=3, lr=1e-2,
                        eval_loader=loader, progress=False)
    assert run.epochs == len(run.sparsity) == len(run.accuracy) == 5
    assert run.sparsity == sorted(run.sparsity)
    assert run.sparsity[2:] == pytest.approx([0.9] * 3, abs=1e-3)
    assert run.sparsity[0] > 0.5  # the cubic schedule cuts most in its first third
    assert pruned_sets_match_masks(model, run.masks)
    with pytest.raises(ValueError, match=r"start_epoch \+ ramp_epochs must be <= epochs=2"):
        gradual_prune(model, loader, final=0.9, epochs=2, ramp_epochs=3)
    with pytest.raises(ValueError, match="start_epoch must be < epochs=2"):
        gradual_prune(model, loader, final=0.9, epochs=2, start_epoch=2)


def test_gradual_prune_can_train_dense_first():
    model, loader = tiny_setup()
    run = gradual_prune(model, loader, final=0.5, epochs=4, start_epoch=2, ramp_epochs=1, lr=1e-2,
                        progress=False)
    assert run.sparsity[:2] == [0.0, 0.0]
    assert run.sparsity[2:] == pytest.approx([0.5, 0.5], abs=1e-3)


# --- iterative prune -> retrain -------------------------------------------------------------------


def test_iterative_prune_holds_each_mask_and_nests_them():
    model, loader = tiny_setup()
    first = iterative_prune(model, loader, [0.5], epochs_per_round=2, lr=1e-2, progress=False)
    assert pruned_sets_match_masks(model, first.masks)
    second = iterative_prune(model, loader, [0.6, 0.8], epochs_per_round=2, lr=1e-2, progress=False)
    assert second.sparsity == pytest.approx([0.6, 0.6, 0.8, 0.8], abs=1e-3)
    assert all((second.masks[n] <= first.masks[n]).all() for n in first.masks)
    assert overall_sparsity(model) == pytest.approx(0.8, abs=1e-3)


def test_iterative_prune_one_round_is_one_shot_then_fine_tune():
    model, loader = tiny_setup()
    expected_masks = global_magnitude_masks(model, 0.7)
    run = iterative_prune(model, loader, [0.7], epochs_per_round=3, eval_loader=loader, progress=False)
    assert all(torch.equal(run.masks[n], m) for n, m in expected_masks.items())
    assert run.epochs == len(run.accuracy) == 3


def test_rewinding_resets_survivors_to_the_early_weights():
    model, loader = tiny_setup()
    early = {k: v.clone() for k, v in model.state_dict().items()}
    train(model, loader, epochs=3, lr=1e-2, progress=False)
    run = iterative_prune(model, loader, [0.6], epochs_per_round=1, lr=1e-12, rewind_state=early,
                          progress=False)
    for name, weight in prunable_weights(model).items():
        assert torch.allclose(weight, early[name] * run.masks[name], atol=1e-8)
    # masks were ranked on the trained weights, not on the early ones
    early_model = MLP()
    early_model.load_state_dict(early)
    early_masks = global_magnitude_masks(early_model, 0.6)
    assert not all(torch.equal(run.masks[n], m) for n, m in early_masks.items())


@pytest.mark.parametrize("sparsities, match", [
    ([], "non-empty, non-decreasing"),
    ([0.8, 0.5], "non-empty, non-decreasing"),
    ([0.5, 1.2], r"sparsities\[\] must be in"),
])
def test_iterative_prune_bad_sparsities(sparsities, match):
    model, loader = tiny_setup()
    with pytest.raises(ValueError, match=match):
        iterative_prune(model, loader, sparsities, epochs_per_round=1)


def test_iterative_prune_bad_epochs():
    model, loader = tiny_setup()
    with pytest.raises(ValueError, match="epochs_per_round must be a positive integer"):
        iterative_prune(model, loader, [0.5], epochs_per_round=0)
    assert math.isclose(overall_sparsity(model), 0.0)


def test_plot_runs_draws_one_line_per_run_and_panel():
    import matplotlib

    matplotlib.use("Agg")
    runs = {
        "a": PruningRun(sparsity=[0.5, 0.9], accuracy=[0.8, 0.9], loss=[1.0, 0.5]),
        "b": PruningRun(sparsity=[0.9, 0.9], accuracy=[0.7, 0.95], loss=[1.0, 0.4]),
    }
    sparsity_ax, accuracy_ax = plot_runs(runs, dense_accuracy=0.99)
    assert [list(line.get_ydata()) for line in sparsity_ax.get_lines()] == [[50, 90], [90, 90]]
    assert len(accuracy_ax.get_lines()) == 3  # two runs and the dense reference
    assert accuracy_ax.get_lines()[-1].get_ydata()[0] == 99
