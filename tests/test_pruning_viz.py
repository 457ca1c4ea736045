"""course_lib.pruning_viz: the figure helpers draw what they claim (the slider's work included)."""

import matplotlib.pyplot as plt
import pytest
import torch

from course_lib import plots, pruning, recipes


@pytest.fixture(scope="module")
def study():
    x, y = recipes.tiny_regression_data(n=32)
    return recipes.l0_study(recipes.train_tiny_net(x, y, steps=30), (x, y))


def test_mask_image_lays_kernels_out_by_channel():
    mask = torch.zeros(2, 3, 2, 2, dtype=torch.bool)
    mask[1, 2] = True  # output channel 1, input channel 2
    image = plots.mask_image(mask)
    assert image.shape == (4, 6)
    assert image[2:4, 4:6].all() and image.sum() == 4
    with pytest.raises(ValueError, match="4-D"):
        plots.mask_image(torch.ones(3, 3, dtype=torch.bool))


def test_plot_supports_draws_every_support_of_that_size(study):
    fig, ax = plt.subplots()
    plots.plot_supports(study, 4, ax)
    assert len(ax.collections[0].get_offsets()) == 495  # C(12, 4)
    assert "N = 4" in ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    plt.close(fig)


def test_plot_l0_study_and_accuracy_curves_have_one_line_per_method(study):
    fig, (a, b) = plt.subplots(1, 2)
    plots.plot_l0_study(study, a)
    assert len(a.get_lines()) == 4 and a.get_title()
    plots.plot_accuracy_curves([0, 0.5], {"x": [1, 0.9], "y": [1, 0.5], "z": [1, 0.1]}, b)
    assert [line.get_label() for line in b.get_lines()] == ["x", "y", "z"]
    plt.close(fig)


def test_plot_granularities_returns_the_library_masks():
    weight = torch.randn(8, 8, 3, 3, generator=torch.Generator().manual_seed(0))
    masks = plots.plot_granularities(weight, 0.5)
    for granularity, mask in masks.items():
        assert torch.equal(mask, pruning.granularity_mask(weight, 0.5, granularity))
    plt.close("all")


def test_before_after_bars_and_tradeoff_points():
    fig, (a, b) = plt.subplots(1, 2)
    plots.plot_before_after({"fine": 0.5, "channel": 0.1}, {"fine": 0.9, "channel": 0.8}, a, "t")
    assert [round(p.get_height()) for p in a.patches] == [50, 10, 90, 80]
    plots.plot_index_bits_tradeoff({"fine": 1.0, "channel": 0.01}, {"fine": 0.9, "channel": 0.8}, b, "t")
    assert [t.get_text() for t in b.texts] == ["fine", "channel"] and b.get_xscale() == "log"
    plt.close(fig)
