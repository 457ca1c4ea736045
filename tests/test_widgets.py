"""widgets: the sliders lessons build. Lesson 00's sparsity slider re-prunes a copy; lesson 04's
channel-ratio slider is measured once, then only looked up and drawn."""

import copy

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_lib import analysis, structured, widgets  # noqa: E402
from course_lib.models import ConvNet  # noqa: E402

DIGIT = torch.zeros(1, 1, 8, 8)


@pytest.fixture(scope="module")
def table():
    torch.manual_seed(0)
    model = ConvNet().eval()
    calls = []

    def evaluate_fn(m):
        calls.append(m)
        return 1.0 - 0.5 * (1 - analysis.count_params(m) / analysis.count_params(model))

    rows = widgets.channel_ratio_table(model, DIGIT, (0.5, 0.25), evaluate_fn, batch_sizes=(1, 4),
                                       rounds=1, repeats=1)
    return model, rows, calls


def test_the_table_measures_each_ratio_once_with_the_dense_model_first(table):
    model, rows, calls = table
    assert [r["ratio"] for r in rows] == [0.0, 0.25, 0.5]
    assert calls[0] is model and len(calls) == 3  # the dense model itself, then two pruned copies
    assert rows[0]["params"] == analysis.count_params(model)
    assert rows[0]["macs"] == analysis.count_macs(model, (1, 8, 8))
    half = structured.prune_channels(model, 0.5, DIGIT)
    assert rows[2]["params"] == analysis.count_params(half)
    assert rows[2]["macs"] == analysis.count_macs(half, (1, 8, 8))
    assert rows[0]["params"] > rows[1]["params"] > rows[2]["params"]
    assert all(set(r["latency_ms"]) == {1, 4} and min(r["latency_ms"].values()) > 0 for r in rows)


def test_ratio_row_looks_up_the_nearest_measured_ratio(table):
    _, rows, _ = table
    assert widgets.ratio_row(rows, 0.3)["ratio"] == 0.25
    assert widgets.ratio_row(rows, 0.9)["ratio"] == 0.5
    assert widgets.ratio_row(rows, 0.125)["ratio"] == 0.0  # a tie goes to the lower ratio
    with pytest.raises(ValueError, match="table must hold at least one row"):
        widgets.ratio_row([], 0.3)


def test_moving_the_slider_neither_prunes_nor_times(table, monkeypatch):
    _, rows, _ = table

    def forbidden(*args, **kwargs):
        raise AssertionError("the slider must only look up the table")

    monkeypatch.setattr(widgets, "prune_channels", forbidden)
    monkeypatch.setattr(widgets, "measure_costs", forbidden)
    fig, (bars, curve) = plt.subplots(1, 2)
    row = widgets.draw_ratio_row(rows, 0.45, bars, curve)
    assert row is rows[2]
    heights = [p.get_height() for p in bars.patches]
    assert heights[0] == pytest.approx(100 * rows[2]["params"] / rows[0]["params"])
    assert heights[1] == pytest.approx(100 * rows[2]["macs"] / rows[0]["macs"])
    assert bars.get_title() and curve.get_xlabel() and curve.get_ylabel()
    plt.close(fig)
    panel = widgets.channel_ratio_explorer(rows, initial=0.3)
    assert panel.children[0].value == 0.25
    panel.children[0].value = 0.5  # the interactive redraws from the table
    plt.close("all")


def test_slider_reprunes_a_copy_and_reports_the_new_accuracy(trained_convnet, digits, capsys):
    before = copy.deepcopy(trained_convnet.state_dict())
    panel = widgets.sparsity_explorer(trained_convnet, digits.validation, initial=0.1)
    slider = panel.children[0]
    assert slider.continuous_update is False
    capsys.readouterr()
    slider.value = 0.95
    shown = capsys.readouterr().out
    assert "sparsity 95%" in shown and "validation accuracy" in shown
    assert all(torch.equal(before[k], v) for k, v in trained_convnet.state_dict().items())
