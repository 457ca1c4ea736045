"""models.reference: the lecture's landmark models, Han et al. 2015's rates, the lecture's table
(lesson 00)."""

import pytest

from course_lib import analysis, models


def test_landmark_parameter_counts_match_the_lecture():
    names = ("AlexNet", "GoogLeNet", "ResNet-50")
    counts = {n: analysis.count_params(models.landmark_model(n)) for n in names}
    assert counts == {"AlexNet": 61_100_840, "GoogLeNet": 6_624_904, "ResNet-50": 25_557_032}


def test_landmark_models_hold_no_real_weights():
    model = models.landmark_model("AlexNet")
    assert all(p.device.type == "meta" for p in model.parameters())


def test_han2015_alexnet_is_about_nine_times_smaller():
    before, after = models.han2015_alexnet_after_pruning()
    assert before == 61_100_840
    assert 6.5e6 < after < 7.0e6 and 8.5 < before / after < 9.5


def test_kept_parameters_rounds_each_layer_and_rejects_bad_input():
    assert models.kept_parameters([10, 10], [0.25, 0.35]) == round(2.5) + round(3.5)
    with pytest.raises(ValueError, match="same length"):
        models.kept_parameters([10], [0.5, 0.5])
    with pytest.raises(ValueError, match=r"kept_fractions\[1\]"):
        models.kept_parameters([10, 10], [0.5, 1.5])
    with pytest.raises(ValueError, match="name must be one of"):
        models.landmark_model("VGG-16")


def test_weight_shares_explain_why_alexnet_compresses_more():
    shares = {n: models.reference.weight_shares(models.landmark_model(n)) for n in ("AlexNet", "ResNet-50")}
    assert all(sum(s.values()) == pytest.approx(1.0) for s in shares.values())
    assert shares["AlexNet"]["fc"] > 0.95 and shares["ResNet-50"]["fc"] < 0.10
    # by hand: ResNet-50's only Linear layer is 2048 x 1000
    assert shares["ResNet-50"]["fc"] == pytest.approx(2048 * 1000 / 25_557_032)


def test_han2015_rates_by_kind_and_the_compression_they_predict():
    kept = models.reference.han2015_kept_by_kind()
    assert 0.35 < kept["conv"] < 0.40 and 0.09 < kept["fc"] < 0.11
    alexnet = models.landmark_model("AlexNet")
    before, after = models.han2015_alexnet_after_pruning()
    # AlexNet's own kinds-averaged rates reproduce its per-layer result exactly
    predicted = models.reference.predicted_compression(alexnet, kept["conv"], kept["fc"])
    assert predicted == pytest.approx(before / after, rel=1e-4)
    resnet = models.landmark_model("ResNet-50")
    assert models.reference.predicted_compression(resnet, 1.0, 1.0) == pytest.approx(1.0)
    assert 2.5 < models.reference.predicted_compression(resnet, kept["conv"], kept["fc"]) < 3.5
    with pytest.raises(ValueError, match="conv_kept"):
        models.reference.predicted_compression(resnet, 1.5, 0.1)


def test_lecture_table_rows():
    table = models.reference.LECTURE_TABLE
    assert set(table) == {"AlexNet", "GoogLeNet", "ResNet-50"}
    ratios = {n: row["before"] / row["after"] for n, row in table.items()}
    assert ratios["GoogLeNet"] == pytest.approx(3.5) and ratios["ResNet-50"] == pytest.approx(3.48, abs=0.01)
    assert all(row["source"] for row in table.values())
    # the stated factors: AlexNet 61/6.7 = 9.1, GoogLeNet 3.5; ResNet-50's 3.4 is 25.6M / 7.47M
    assert [table[n]["reduction"] for n in ("AlexNet", "GoogLeNet", "ResNet-50")] == [9, 3.5, 3.4]
    assert 25.6e6 / table["ResNet-50"]["after"] == pytest.approx(3.4, abs=0.05)
