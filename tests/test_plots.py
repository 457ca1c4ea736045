"""course_lib.plots: one contract. Every plot function takes computed results, draws on the Axes it is
given (None: the current Axes) and returns it; multi-panel figures take and return a sequence of Axes.
Only plotting code imports matplotlib, and no plot function computes a mask or runs a simulator."""

import ast
import importlib
import pkgutil
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import course_lib
from course_lib import analysis, data, hardware, models, plots, pruning, recipes, structured, train
from course_lib.models import TinyResNet
from course_lib.plots import language as language_plots

PACKAGE = Path(course_lib.__file__).parent


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def study():
    x, y = data.tiny_regression_data(n=32)
    return recipes.l0_study(train.fit_full_batch(models.TinyNet(seed=0), x, y, steps=30), (x, y))


@pytest.fixture(scope="module")
def reports():
    A = hardware.sparse_matrix("power_law", 60, 0.05, seed=0)
    return hardware.compare_dataflows(A, A, hardware.HardwareConfig(merge_width=8))


def conv_weight():
    return torch.randn(8, 4, 3, 3, generator=torch.Generator().manual_seed(0))


SCORES = torch.tensor([3.0, 1.0, 2.0, 0.5])
CRITERIA = {"a": torch.tensor([1.0, 2, 3, 4]), "b": torch.tensor([4.0, 3, 2, 1])}
LAYER_TYPES = (torch.nn.Conv2d, torch.nn.Linear, torch.nn.BatchNorm2d)
A_SMALL, B_SMALL = np.eye(3)[:2], np.arange(6.0).reshape(3, 2)  # (2, 3), (3, 2)
SIZES = [5, 1, 9, 2, 7]
# One axis holds named categories: its ticks name them.
CATEGORICAL = {"plot_before_after", "plot_benefits", "plot_energy_table", "plot_traffic_breakdown",
               "plot_paired_comparison", "plot_seed_bars"}


def pruning_run() -> recipes.PruningRun:
    return recipes.PruningRun(sparsity=[0.5, 0.9], accuracy=[0.9, 0.95], loss=[1.0, 0.5])


def benefit_rows():
    return [{"model": model, "accuracy": accuracy} | {key: cost for key in plots.CHART}
            for model, accuracy, cost in (("dense", 0.99, 2.0), ("pruned", 0.98, 1.0))]


def search_result():
    history = [analysis.Candidate({"a": r}, 1 - r / 2, 1 - r) for r in (0.25, 0.5, 0.75)]
    return analysis.SearchResult(best=history[1], history=history, budget=0.6)


def comparison():
    correct_a, correct_b = torch.arange(40) % 3 > 0, torch.arange(40) % 4 > 0
    return {"A vs B": analysis.compare_predictions(correct_a, correct_b, n_boot=200)}


# One entry per single-Axes plot function: name -> draw(ax, results) on small computed inputs.
SINGLE = {
    "plot_mask": lambda ax, _: plots.plot_mask(pruning.granularity_mask(conv_weight(), 0.5, "kernel"), ax),
    "plot_nm_pattern": lambda ax, _: plots.plot_nm_pattern(
        conv_weight(), pruning.nm_mask(conv_weight(), 2, 4), 2, 4, ax
    ),
    "plot_accuracy_curves": lambda ax, _: plots.plot_accuracy_curves([0, 0.5], {"x": [1, 0.9]}, ax),
    "plot_before_after": lambda ax, _: plots.plot_before_after({"fine": 0.5}, {"fine": 0.9}, ax, "t"),
    "plot_energy_table": lambda ax, _: plots.plot_energy_table(hardware.HOROWITZ_45NM_PJ, ax),
    "plot_seed_bars": lambda ax, _: plots.plot_seed_bars({"a": [0.9, 0.8], "b": [0.5, 0.7]}, ax, target=0.85),
    "plot_benefits": lambda ax, _: plots.plot_benefits(benefit_rows(), ax),
    "plot_weight_histogram": lambda ax, _: plots.plot_weight_histogram(
        recipes.flat_weights(TinyResNet()), ax, label="dense"
    ),
    "plot_channel_scores": lambda ax, _: plots.plot_channel_scores(
        SCORES, structured.pruned_channels(SCORES, 0.5), ax, criterion="l1", layer="conv2"
    ),
    "plot_criteria_overlap": lambda ax, _: plots.plot_criteria_overlap(
        structured.pruned_overlap(CRITERIA, 0.5), list(CRITERIA), ax
    ),
    "plot_groups": lambda ax, _: plots.plot_groups(
        structured.channel_groups(TinyResNet(), torch.zeros(1, 1, 8, 8)),
        [n for n, m in TinyResNet().named_modules() if isinstance(m, LAYER_TYPES)],
        ax,
    ),
    "plot_sensitivity": lambda ax, _: plots.plot_sensitivity(
        analysis.Sensitivity(ratios=(0.25, 0.5), dense=0.99, curves={"c1": [0.9, 0.5], "c2": [0.98, 0.9]}), ax
    ),
    "plot_speedups": lambda ax, _: plots.plot_speedups(
        [{"ratio": r, "mac_speedup": s, "latency_speedup": {"min": {1: 1.0 + r / 4, 64: 1.0 + r}}}
         for r, s in ((0.25, 1.6), (0.5, 3.5))],
        ax, statistic="min",
    ),
    "plot_paired_comparison": lambda ax, _: plots.plot_paired_comparison(comparison(), ax),
    "plot_l0_study": lambda ax, study: plots.plot_l0_study(study, ax),
    "plot_supports": lambda ax, study: plots.plot_supports(study, 4, ax),
    "plot_index_bits_tradeoff": lambda ax, _: plots.plot_index_bits_tradeoff(
        {"fine": 1.0, "channel": 0.01}, {"fine": 0.9, "channel": 0.8}, ax, "t"
    ),
    "plot_gating_tradeoff": lambda ax, _: plots.plot_gating_tradeoff(
        (0.25, 0.5),
        [{"dynamic": {"macs": m + 10, "accuracy": a + 0.05}, "static": {"macs": m, "accuracy": a}}
         for m, a in ((250, 0.6), (500, 0.9))],
        1000, 0.99, ax,
    ),
    "plot_search": lambda ax, _: plots.plot_search(
        search_result(), analysis.Candidate({"a": 0.5}, 0.8, 0.5), ax, cost_label="MACs (fraction of dense)"
    ),
    "plot_layer_latency": lambda ax, _: plots.plot_layer_latency(
        analysis.LatencyTable(None, (0.0, 0.5), 8, {"conv2": {(16, 8): 0.1, (16, 16): 0.2, (8, 8): 0.05}}),
        "conv2", ax,
    ),
    "plot_traffic_breakdown": lambda ax, reports: plots.plot_traffic_breakdown(reports, ax, title="t"),
    "plot_roofline": lambda ax, _: plots.plot_roofline(
        hardware.roofline_points({"small": (64, 8, 64), "large": (4096, 4096, 4096)}), ax
    ),
    "plot_activation_norms": lambda ax, _: language_plots.plot_activation_norms(
        {"fc1": torch.tensor([1.0, 2.0, 40.0]), "fc2": torch.tensor([1.0, 1.5, 2.0])}, ax
    ),
    "plot_perplexity_bars": lambda ax, _: language_plots.plot_perplexity_bars(
        {("50%", "magnitude"): 9.0, ("50%", "wanda"): 7.0, ("2:4", "wanda"): 8.0}, 5.0, ax
    ),
    "plot_perplexity_vs_parameters": lambda ax, _: language_plots.plot_perplexity_vs_parameters(
        {"unstructured": [(800, 5.5), (500, 7.0)], "structured": [(800, 6.0), (500, 9.0)]}, (1000, 5.0), ax
    ),
}

# One entry per multi-panel plot function: name -> (number of panels, draw(axes, results)).
MULTI = {
    "plot_granularities": (5, lambda axes, _: plots.plot_granularities(
        {g: pruning.granularity_mask(conv_weight(), 0.5, g) for g in pruning.GRANULARITIES}, axes,
        sparsity=0.5,
    )),
    "plot_pattern_comparison": (2, lambda axes, _: plots.plot_pattern_comparison(
        [{"pattern": "2:4", "kept_fraction": 0.7, "accuracy": 0.9},
         {"pattern": "unstructured 50%", "kept_fraction": 0.8, "accuracy": 0.95}], axes
    )),
    "plot_runs": (2, lambda axes, _: plots.plot_runs({"a": pruning_run()}, 0.99, axes)),
    "plot_storage": (2, lambda axes, _: plots.plot_storage(
        hardware.storage_table(torch.randn(16, 32), [0.0, 0.5, 0.9], (torch.float32, torch.int8)),
        [0.0, 0.5, 0.9], axes,
    )),
    "plot_outer_product": (6, lambda axes, _: plots.plot_outer_product(
        A_SMALL, B_SMALL, hardware.outer_product_partials(A_SMALL, B_SMALL), axes
    )),
    "plot_dataflows": (2, lambda axes, reports: plots.plot_dataflows(
        {"power_law": reports}, {"DRAM traffic (MB)": lambda r: r.dram_total / 1e6,
                                 "time (thousands of cycles)": lambda r: r.cycles / 1e3}, axes
    )),
    "plot_traffic_and_cycles": (2, lambda axes, reports: plots.plot_traffic_and_cycles(reports, axes, "t")),
    "plot_spilled": (2, lambda axes, _: plots.plot_spilled(
        SIZES, {"Huffman": hardware.spilled_partials(SIZES, hardware.merge_schedule(SIZES, 3))}, axes
    )),
}


def results_for(name, request):
    if name in ("plot_l0_study", "plot_supports"):
        return request.getfixturevalue("study")
    if name in ("plot_traffic_breakdown", "plot_dataflows", "plot_traffic_and_cycles"):
        return request.getfixturevalue("reports")
    return None


def test_every_plot_function_is_tested():
    defined = {
        name
        for module in pkgutil.iter_modules(plots.__path__)
        for name in vars(importlib.import_module(f"course_lib.plots.{module.name}"))
        if name.startswith("plot_")
    }
    assert defined == set(SINGLE) | set(MULTI)


@pytest.mark.parametrize("name", sorted(SINGLE))
def test_draws_on_the_axes_it_is_given_and_returns_it(name, request):
    results = results_for(name, request)
    fig, (other, ax) = plt.subplots(1, 2)
    assert SINGLE[name](ax, results) is ax
    assert ax.has_data() and not other.has_data()
    assert ax.get_title(), f"{name} draws no title"
    assert ax.get_xlabel() or ax.get_ylabel(), f"{name} labels no axis"
    if name not in CATEGORICAL:
        assert ax.get_xlabel() and ax.get_ylabel(), f"{name} leaves an axis unlabelled"


@pytest.mark.parametrize("name", sorted(SINGLE))
def test_without_an_axes_it_draws_on_the_current_one(name, request):
    results = results_for(name, request)
    fig, ax = plt.subplots()
    assert SINGLE[name](None, results) is ax and ax.has_data()


@pytest.mark.parametrize("name", sorted(MULTI))
def test_multi_panel_figures_draw_on_the_axes_given_and_return_them(name, request):
    results = results_for(name, request)
    n, draw = MULTI[name]
    fig, given = plt.subplots(1, n)
    returned = draw(list(given), results)
    assert len(returned) == n and all(a is b for a, b in zip(returned, given))
    assert all(ax.has_data() for ax in given)
    assert given[0].get_title() or given[0].figure.get_suptitle()
    new = draw(None, results)  # None: a new figure with a row of n panels
    assert len(new) == n and new[0].figure is not fig and all(ax.has_data() for ax in new)
    with pytest.raises(ValueError, match="axes must hold"):
        draw(list(given)[:-1], results)


def test_mask_image_lays_kernels_out_by_channel():
    mask = torch.zeros(2, 3, 2, 2, dtype=torch.bool)
    mask[1, 2] = True  # output channel 1, input channel 2
    image = plots.mask_image(mask)
    assert image.shape == (4, 6)
    assert image[2:4, 4:6].all() and image.sum() == 4
    with pytest.raises(ValueError, match="4-D"):
        plots.mask_image(torch.ones(3, 3, dtype=torch.bool))


def test_plot_supports_draws_every_support_of_that_size(study):
    ax = plots.plot_supports(study, 4, plt.subplots()[1])
    assert len(ax.collections[0].get_offsets()) == 495  # C(12, 4)
    assert "N = 4" in ax.get_title()


def test_plot_l0_study_and_accuracy_curves_have_one_line_per_method(study):
    fig, (a, b) = plt.subplots(1, 2)
    plots.plot_l0_study(study, a)
    assert len(a.get_lines()) == 4
    plots.plot_accuracy_curves([0, 0.5], {"x": [1, 0.9], "y": [1, 0.5], "z": [1, 0.1]}, b)
    assert [line.get_label() for line in b.get_lines()] == ["x", "y", "z"]


def test_plot_granularities_shows_the_masks_it_is_given():
    weight = conv_weight()
    masks = {g: pruning.granularity_mask(weight, 0.5, g) for g in ("fine", "channel")}
    axes = plots.plot_granularities(masks, sparsity=0.5)
    for ax, mask in zip(axes, masks.values()):
        assert np.array_equal(ax.images[0].get_array(), plots.mask_image(mask).float().numpy())
    assert "50% target sparsity" in axes[0].figure.get_suptitle()


def test_before_after_bars_and_tradeoff_points():
    fig, (a, b) = plt.subplots(1, 2)
    plots.plot_before_after({"fine": 0.5, "channel": 0.1}, {"fine": 0.9, "channel": 0.8}, a, "t")
    assert [round(p.get_height()) for p in a.patches] == [50, 10, 90, 80]
    plots.plot_index_bits_tradeoff({"fine": 1.0, "channel": 0.01}, {"fine": 0.9, "channel": 0.8}, b, "t")
    assert [t.get_text() for t in b.texts] == ["fine", "channel"] and b.get_xscale() == "log"


def test_seed_bars_stand_at_the_mean_with_one_dot_per_seed():
    ax = plots.plot_seed_bars({"a": [0.9, 0.8], "b": [0.5, 0.7, 0.6]}, plt.figure().gca(), target=0.85)
    assert [round(p.get_width()) for p in ax.patches] == [85, 60]
    dots = [line for line in ax.lines if line.get_marker() == "."]
    assert [len(d.get_xdata()) for d in dots] == [2, 3]
    assert 85 in [line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == "--"]
    assert ax.get_xlim() == (40.0, 100.0)


def test_nm_pattern_blanks_what_the_mask_prunes():
    weight = torch.randn(4, 8, generator=torch.Generator().manual_seed(1))
    mask = pruning.nm_mask(weight, 2, 4)
    ax = plots.plot_nm_pattern(weight, mask, 2, 4, plt.subplots()[1])
    shown = ax.images[0].get_array()
    assert np.isnan(np.ma.filled(shown, np.nan)[~mask.numpy()]).all()
    assert "2:4 mask: 50% sparse" in ax.get_title()


def test_roofline_draws_the_points_it_is_given():
    points = hardware.roofline_points({"large": (4096, 4096, 4096)})
    ax = plots.plot_roofline(points, plt.subplots()[1])
    drawn = np.array([c.get_offsets()[0] for c in ax.collections])  # (2, 2): dense, 2:4
    large = points["large"]
    assert drawn == pytest.approx(np.array([[large["intensity"], large[p]] for p in ("dense", "2:4")]))


def test_channel_scores_colour_the_removed_channels():
    scores = torch.tensor([3.0, 1.0, 2.0, 0.5])
    ax = plots.plot_channel_scores(scores, structured.pruned_channels(scores, 0.5), plt.subplots()[1])
    colours = [p.get_facecolor() for p in ax.patches]
    assert colours[1] == colours[3] != colours[0] == colours[2]
    assert "50% removed" in ax.get_title()


def _imports(path: Path):
    """(module imported, names imported from it) for every import statement of ``path``."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from ((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield ("." * node.level + (node.module or "")), [alias.name for alias in node.names]


def test_only_plotting_code_imports_matplotlib():
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.parent.name != "plots" and path.name != "widgets.py"
        and any(module.split(".")[0] == "matplotlib" for module, _ in _imports(path))
    ]
    assert not offenders, f"matplotlib imported outside course_lib/plots and widgets.py: {offenders}"


def test_plots_import_no_mask_builder_simulator_or_model_code():
    computing = {"nm_mask", "nm_masks", "granularity_mask", "granularity_masks", "magnitude_mask",
                 "keep_largest", "pruned_overlap", "pruned_channels", "tensor_core_time", "roofline_points",
                 "simulate_spgemm", "compare_dataflows", "outer_product_partials", "spilled_partials",
                 "evaluate", "train"}
    offenders = [
        f"{path.name}: {module} {sorted(set(names) & computing)}"
        for path in (PACKAGE / "plots").glob("*.py")
        for module, names in _imports(path)
        if set(names) & computing or module.split(".")[-1] in ("train", "models")
    ]
    assert not offenders, f"plot modules import code that computes results: {offenders}"


def test_lesson10_figures_never_tell_series_apart_by_colour_alone():
    """Each layer's line has its own line style and marker, each method's bars their own hatch."""
    fig, (lines_ax, bars_ax) = plt.subplots(1, 2)
    norms = {f"blocks.{i}.fc": torch.linspace(1.0, 9.0, 64) ** (i + 1) for i in range(6)}
    language_plots.plot_activation_norms(norms, ax=lines_ax)
    looks = {(line.get_linestyle(), line.get_marker()) for line in lines_ax.get_lines()[:len(norms)]}
    assert len(looks) == len(norms)
    table = {(p, m): 6.0 for p in ("50%", "2:4") for m in ("magnitude", "wanda", "sparsegpt")}
    language_plots.plot_perplexity_bars(table, dense=5.3, ax=bars_ax)
    hatches = {container.patches[0].get_hatch() for container in bars_ax.containers}
    assert len(hatches) == 3
    plt.close(fig)
