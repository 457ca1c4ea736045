"""Paired comparison of two classifiers: McNemar's exact test, the paired bootstrap, the verdict, a figure."""

import math

import matplotlib.pyplot as plt
import pytest
import torch
from scipy.stats import binomtest

from course_lib import analysis, models, plots
from course_lib.analysis import (
    compare_classifiers,
    compare_losses,
    compare_predictions,
    mcnemar_p_value,
    paired_difference,
    per_example,
)
from course_lib.data import make_loader
from course_lib.data.digits import digits_splits


def _pairs(n_both, n_a_only, n_b_only, n_neither):
    """Correctness vectors with the given counts of each (A, B) outcome."""
    a = [1] * n_both + [1] * n_a_only + [0] * n_b_only + [0] * n_neither
    b = [1] * n_both + [0] * n_a_only + [1] * n_b_only + [0] * n_neither
    return torch.tensor(a, dtype=torch.bool), torch.tensor(b, dtype=torch.bool)


def _hand_mcnemar(a_only, b_only):
    """Two-sided exact McNemar: twice the smaller binomial tail at p = 1/2, capped at 1."""
    n, k = a_only + b_only, min(a_only, b_only)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)


@pytest.mark.parametrize("a_only, b_only", [(10, 2), (2, 10), (7, 7), (0, 5), (1, 0), (30, 18)])
def test_mcnemar_p_is_the_exact_binomial_test_on_discordant_pairs(a_only, b_only):
    result = compare_predictions(*_pairs(40, a_only, b_only, 8), n_boot=200)
    assert (result.a_only, result.b_only) == (a_only, b_only)
    assert result.p_value == pytest.approx(_hand_mcnemar(a_only, b_only), rel=1e-12)
    assert result.p_value == pytest.approx(binomtest(a_only, a_only + b_only, 0.5).pvalue, rel=1e-12)


def test_mcnemar_by_hand_for_ten_to_two():
    # 12 discordant pairs, 2 against A: 2 * (C(12,0) + C(12,1) + C(12,2)) / 2^12 = 2 * 79 / 4096
    assert mcnemar_p_value(10, 2) == pytest.approx(158 / 4096, rel=1e-12)
    assert mcnemar_p_value(0, 0) == 1.0


def test_accuracies_difference_and_counts():
    result = compare_predictions(*_pairs(50, 20, 5, 25), n_boot=500)
    assert result.n == 100
    assert result.accuracy_a == pytest.approx(0.70) and result.accuracy_b == pytest.approx(0.55)
    assert result.difference == pytest.approx(0.15)
    low, high = result.interval
    assert low <= result.difference <= high
    assert result.loss is None and result.loss_interval is None


def test_identical_models_differ_by_zero_and_are_within_noise(trained_convnet):
    test = digits_splits().test
    loader = make_loader(test, batch_size=128)
    result = compare_classifiers(trained_convnet, trained_convnet, loader, n_boot=300)
    assert result.difference == 0 and result.interval == (0.0, 0.0)
    assert result.loss.difference == 0 and result.loss_interval == (0.0, 0.0)
    assert result.p_value == 1.0 and result.verdict == "within noise"
    assert result.n == len(test)


def test_a_clearly_better_model_on_500_examples_is_called_out():
    generator = torch.Generator().manual_seed(1)
    truth = torch.rand(500, generator=generator)
    a, b = truth < 0.92, truth < 0.80  # A right on every example B gets right, and on 12% more
    result = compare_predictions(a, b)
    assert result.interval[0] > 0 and result.verdict == "A beats B"
    assert result.p_value < 1e-6
    assert compare_predictions(b, a).verdict == "B beats A"


def test_per_example_matches_evaluate_and_cross_entropy(trained_convnet):
    from course_lib.train import evaluate

    test = digits_splits().test
    loader = make_loader(test, batch_size=100)
    correct, loss = per_example(trained_convnet, loader)
    assert correct.dtype == torch.bool and correct.shape == loss.shape == (len(test),)
    assert correct.float().mean().item() == pytest.approx(evaluate(trained_convnet, loader))
    with torch.no_grad():
        reference = torch.nn.functional.cross_entropy(trained_convnet(test.x), test.y)
    assert loss.mean().item() == pytest.approx(reference.item(), rel=1e-5)


def test_trained_model_beats_an_untrained_one_on_accuracy_and_loss(trained_convnet):
    torch.manual_seed(0)
    untrained = models.ConvNet().eval()
    test = digits_splits().test
    result = compare_classifiers(trained_convnet, untrained, make_loader(test, batch_size=256), n_boot=500)
    assert result.verdict == "A beats B"
    assert result.loss.difference < 0 and result.loss_interval[1] < 0 and result.loss.verdict == "A beats B"
    assert "A beats B" in str(result) and "points" in str(result)


def test_interval_covers_the_true_difference_at_about_the_nominal_rate():
    # (A, B) outcomes drawn with P(both) = .70, P(A only) = .10, P(B only) = .05, P(neither) = .15:
    # true accuracy difference 0.05. 200 simulated test sets of 200 examples, 300 resamples each.
    generator = torch.Generator().manual_seed(123)
    probabilities = torch.tensor([0.70, 0.10, 0.05, 0.15])
    a_of = torch.tensor([True, True, False, False])
    b_of = torch.tensor([True, False, True, False])
    repeats, covered = 200, 0
    for repeat in range(repeats):
        outcome = torch.multinomial(probabilities, 200, replacement=True, generator=generator)
        low, high = compare_predictions(a_of[outcome], b_of[outcome], n_boot=300, seed=repeat).interval
        covered += low <= 0.05 <= high
    assert 0.89 <= covered / repeats <= 0.99


def test_same_seed_same_interval_and_comparison_is_frozen():
    a, b = _pairs(30, 6, 3, 11)
    first, second = compare_predictions(a, b, seed=4), compare_predictions(a, b, seed=4)
    assert first == second
    with pytest.raises(AttributeError):
        first.difference = 1.0


def test_float_vectors_and_losses_are_accepted():
    a, b = _pairs(30, 6, 3, 11)
    loss_a, loss_b = torch.full((50,), 0.2), torch.full((50,), 0.5)
    result = compare_predictions(a.double().numpy(), b.tolist(), loss_a, loss_b, n_boot=200)
    assert result.loss.mean_a == pytest.approx(0.2) and result.loss.mean_b == pytest.approx(0.5)
    assert result.loss.difference == pytest.approx(-0.3)
    assert result.loss_interval == pytest.approx((-0.3, -0.3))


def test_one_core_with_an_explicit_direction():
    """Lower-is-better losses and higher-is-better accuracies through the same bootstrap: "A beats B"
    always means A is the better one, and the accuracy and loss intervals of a comparison are the ones
    paired_difference gives for the same resamples."""
    generator = torch.Generator().manual_seed(5)
    low_loss, high_loss = torch.rand(200, generator=generator), 0.3 + torch.rand(200, generator=generator)
    assert compare_losses(low_loss, high_loss).verdict == "A beats B"
    assert paired_difference(low_loss, high_loss, "higher").verdict == "B beats A"
    assert compare_losses(low_loss, high_loss) == paired_difference(low_loss, high_loss, "lower")
    a, b = _pairs(30, 6, 3, 11)
    both = compare_predictions(a, b, a.float(), b.float(), seed=2)
    alone = paired_difference(a.double(), b.double(), "higher", seed=2)
    assert both.accuracy.interval == alone.interval
    with pytest.raises(ValueError, match="better must be one of"):
        paired_difference(low_loss, high_loss, "smaller")
    with pytest.raises(ValueError, match="same examples"):
        compare_losses(low_loss, high_loss[:5])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(correct_a=[1, 0, 1], correct_b=[1, 0]), ValueError, r"same examples.*3 and 2"),
        (dict(correct_a=[], correct_b=[]), ValueError, "correct_a must hold at least one example"),
        (dict(correct_a=[1, 0], correct_b=[1, 0.5]), ValueError, r"correct_b must hold only 0/1.*0\.5"),
        (dict(correct_a=[[1, 0]], correct_b=[[1, 0]]), ValueError, "correct_a must be a 1-D vector"),
        (dict(correct_a=[1, 0], correct_b=[1, 1], n_boot=0), ValueError, "n_boot must be a positive integer"),
        (dict(correct_a=[1, 0], correct_b=[1, 1], n_boot=50), ValueError, "n_boot must be at least 100"),
        (dict(correct_a=[1, 0], correct_b=[1, 1], n_boot=2000.0), TypeError, "n_boot"),
        (dict(correct_a=[1, 0], correct_b=[1, 1], loss_a=[0.1, 0.2]), ValueError, "given together"),
        (
            dict(correct_a=[1, 0], correct_b=[1, 1], loss_a=[0.1], loss_b=[0.1, 0.2]),
            ValueError,
            "one entry per example",
        ),
        (
            dict(correct_a=[1, 0], correct_b=[1, 1], loss_a=[0.1, float("nan")], loss_b=[0.1, 0.2]),
            ValueError,
            "loss_a must be finite",
        ),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        compare_predictions(**kwargs)


def test_a_shuffling_loader_is_refused(trained_convnet):
    train = digits_splits().train
    with pytest.raises(ValueError, match="shuffle=False"):
        compare_classifiers(trained_convnet, trained_convnet, make_loader(train, shuffle=True))


def test_plot_draws_on_the_given_axes_and_returns_it():
    results = {
        "pruned vs dense": compare_predictions(*_pairs(80, 3, 5, 12), n_boot=200),
        "iterative vs one-shot": compare_predictions(*_pairs(60, 25, 2, 13), n_boot=200),
    }
    fig, ax = plt.subplots()
    try:
        returned = plots.plot_paired_comparison(results, ax=ax)
        assert returned is ax
        assert "accuracy difference (points)" in ax.get_xlabel()
        ticks = sorted(ax.get_yticklabels(), key=lambda t: -t.get_position()[1])
        assert [t.get_text() for t in ticks] == list(results)  # first entry on top
        assert any(line.get_xdata()[0] == 0 for line in ax.lines)  # the zero line
        assert {t.get_text() for t in ax.texts} == {"within noise", "A beats B"}
    finally:
        plt.close(fig)


def test_plot_of_nothing_is_a_clear_error():
    with pytest.raises(ValueError, match="results must hold at least one comparison"):
        plots.plot_paired_comparison({})


def test_public_names_are_exported():
    assert analysis.Comparison is analysis.compare.Comparison
