"""course_lib.l0: brute-force supports against explicit loops, the L0 study's guarantees, and the
hard-concrete gates of Louizos et al. 2018."""

import copy
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from course_lib import core, data, models, recipes, train


@pytest.fixture(scope="module")
def tiny_problem():
    x, y = data.tiny_regression_data(n=64)
    return train.fit_full_batch(models.TinyNet(seed=0), x, y, steps=60), (x, y)


@pytest.fixture(scope="module")
def study(tiny_problem):
    model, batch = tiny_problem
    return recipes.l0_study(model, batch)


@pytest.mark.parametrize(("d", "n"), [(1, None), (4, None), (5, 2), (6, 0), (6, 6)])
def test_all_supports_lists_each_subset_once(d, n):
    supports = recipes.all_supports(d, n)
    expected = 2**d if n is None else math.comb(d, n)
    assert supports.shape == (expected, d) and supports.dtype == torch.bool
    assert len(supports.unique(dim=0)) == expected
    if n is not None:
        assert (supports.sum(dim=1) == n).all()


@pytest.mark.parametrize(
    ("d", "n", "match"),
    [(21, None, "d must be"), (-1, None, "d must be"), (4, 5, "n must be"), (4, 1.0, "n must be")],
)
def test_all_supports_rejects_bad_sizes(d, n, match):
    with pytest.raises(ValueError, match=match):
        recipes.all_supports(d, n)


def test_support_losses_match_pruning_copies_one_by_one(tiny_problem):
    model, (x, y) = tiny_problem
    supports = recipes.all_supports(12, 5)[::97]
    losses = recipes.support_losses(model, (x, y), supports)
    for support, loss in zip(supports, losses):
        pruned = core.apply_masks(copy.deepcopy(model), recipes.unflatten_mask(model, support))
        assert loss == pytest.approx(F.mse_loss(pruned(x), y).item(), rel=1e-5)


def test_support_losses_reject_the_wrong_support_width(tiny_problem):
    model, batch = tiny_problem
    with pytest.raises(ValueError, match=r"\(M, 12\)"):
        recipes.support_losses(model, batch, recipes.all_supports(5))


def test_study_optimum_is_a_lower_bound_and_magnitude_the_projection(study, tiny_problem):
    model, (x, y) = tiny_problem
    for name in ("magnitude", "obd", "random_mean", "worst"):
        assert (study[name] >= study["optimum"] - 1e-6).all(), name
    assert torch.allclose(study["distance_magnitude"], study["distance_optimum"])
    dense = F.mse_loss(model(x), y).item()
    for name in ("optimum", "magnitude", "obd", "random_mean"):
        assert study[name][-1].item() == pytest.approx(dense, rel=1e-5)
    # the random mean is the plain average over all supports of that size
    of_size_3 = study["all_supports"].sum(dim=1) == 3
    assert study["random_mean"][3] == pytest.approx(study["all_losses"][of_size_3].mean().item())
    assert (study["magnitude_support"].sum(dim=1) == torch.arange(13)).all()


def test_hard_concrete_gates_are_exact_zeros_and_ones_at_test_time():
    layer = recipes.HardConcreteLinear(nn.Linear(4, 3))
    with torch.no_grad():
        layer.log_alpha[0] = -10.0
        layer.log_alpha[1] = 10.0
        layer.log_alpha[2] = 0.0
    layer.eval()
    gates = layer.gates()
    assert (gates[0] == 0).all() and (gates[1] == 1).all()
    assert torch.allclose(gates[2], torch.full((4,), 0.5 * (recipes.ZETA - recipes.GAMMA) + recipes.GAMMA))
    layer.train()
    samples = layer.gates()
    assert ((samples >= 0) & (samples <= 1)).all()


def test_expected_l0_is_the_probability_of_nonzero_and_has_a_gradient():
    layer = recipes.HardConcreteLinear(nn.Linear(2, 2), init_log_alpha=0.0)
    expected = 4 * torch.sigmoid(torch.tensor(-recipes.BETA * math.log(-recipes.GAMMA / recipes.ZETA)))
    value = layer.expected_l0()
    assert value.item() == pytest.approx(expected.item())
    value.backward()
    assert (layer.log_alpha.grad > 0).all()
    # Monte Carlo: the fraction of sampled gates that are non-zero matches the formula
    layer.train()
    with torch.no_grad():
        samples = torch.stack([layer.gates() for _ in range(4000)])
    assert (samples != 0).float().mean().item() == pytest.approx(expected.item() / 4, abs=0.02)


def test_gated_copy_computes_what_the_original_does_and_leaves_it_alone():
    mlp = models.MLP()
    gated = recipes.with_l0_gates(mlp).eval()
    x = torch.randn(5, 1, 8, 8)
    assert torch.allclose(gated(x), mlp(x), atol=1e-6)  # open gates are exactly 1
    assert all(isinstance(m, nn.Linear) for m in mlp.layers if not isinstance(m, (nn.Flatten, nn.ReLU)))
    assert recipes.gate_sparsity(gated) == 0.0


def test_the_penalty_drives_gates_to_zero():
    torch.manual_seed(0)
    x, y = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))
    loader = [(x[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)]
    results = {}
    for penalty in (0.0, 50.0):
        gated = recipes.with_l0_gates(models.MLP(hidden=(16,)), init_log_alpha=1.0)
        history = recipes.train_l0(gated, loader, epochs=8, penalty=penalty, progress=False)
        results[penalty] = history["gate_sparsity"][-1]
        assert len(history["expected_l0"]) == 8
    assert results[50.0] > 0.5 and results[50.0] > results[0.0]


def test_l0_training_rejects_bad_input():
    with pytest.raises(ValueError, match="no hard-concrete gates"):
        recipes.train_l0(models.MLP(), [], epochs=1, penalty=1.0)
    with pytest.raises(ValueError, match="penalty"):
        recipes.train_l0(recipes.with_l0_gates(models.MLP()), [], epochs=1, penalty=-1.0)
    with pytest.raises(ValueError, match="no nn.Linear"):
        recipes.with_l0_gates(nn.Conv2d(1, 2, 3))


def test_brute_force_refuses_models_with_too_many_weights():
    x = torch.randn(4, 5)
    with pytest.raises(ValueError, match="model has 25 prunable weights"):
        recipes.l0_study(nn.Linear(5, 5), (x, torch.randn(4, 5)))
