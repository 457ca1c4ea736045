import pytest
import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

from course_lib import analysis, core, models, pruning


def _reference_flops(model, input_shape):
    with FlopCounterMode(display=False) as counter:
        with torch.no_grad():
            model.eval()(torch.zeros(1, *input_shape))
    return counter.get_total_flops()


@pytest.mark.parametrize(
    "model, input_shape",
    [
        (models.ConvNet(), (1, 8, 8)),
        (models.MLP(), (1, 8, 8)),
        (models.TinyResNet(), (1, 8, 8)),
        (torchvision.models.resnet18(), (3, 64, 64)),
        (torchvision.models.mobilenet_v3_small(), (3, 64, 64)),  # grouped (depthwise) convolutions
    ],
)
def test_macs_agree_with_torch_flop_counter(model, input_shape):
    assert 2 * analysis.count_macs(model, input_shape) == _reference_flops(model, input_shape)


def test_per_layer_macs_sum_to_the_total():
    model = models.ConvNet()
    per_layer = analysis.count_macs(model, (1, 8, 8), per_layer=True)
    assert set(per_layer) == {"conv1", "conv2", "conv3", "fc1", "fc2"}
    assert per_layer["conv1"] == 16 * 8 * 8 * 9  # 16 output channels x 64 positions x 3x3x1 inputs
    assert sum(per_layer.values()) == analysis.count_macs(model, (1, 8, 8))


@pytest.mark.parametrize("bad", [(1, 28, 28), (3, 8, 8), (8, 8, 0), "1x8x8", (1.0, 8, 8), ()])
def test_wrong_input_shape_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="input_shape"):
        analysis.count_macs(models.ConvNet(), bad)


def test_counts_sparsity_and_size_follow_pruning(trained_convnet):
    import copy

    model = copy.deepcopy(trained_convnet)
    n_params = analysis.count_params(model)
    assert n_params == sum(p.numel() for p in model.parameters())
    assert analysis.count_nonzero(model) == n_params
    assert analysis.overall_sparsity(model) == 0.0

    masks = pruning.global_magnitude_masks(model, 0.75)
    core.apply_masks(model, masks)
    n_weights = sum(m.numel() for m in masks.values())
    assert analysis.overall_sparsity(model) == pytest.approx(round(0.75 * n_weights) / n_weights)
    assert analysis.count_nonzero(model) == n_params - round(0.75 * n_weights)
    per_layer = analysis.layer_sparsity(model)
    zeros = sum(s * masks[name].numel() for name, s in per_layer.items())
    assert zeros == pytest.approx(round(0.75 * n_weights))

    dense_bytes = analysis.model_size_bytes(model)
    assert dense_bytes == sum(t.numel() * t.element_size() for t in model.state_dict().values())
    assert analysis.model_size_bytes(model, nonzero_only=True) < 0.5 * dense_bytes


def test_latency_reports_median_within_min_and_max():
    latency = analysis.measure_latency(models.ConvNet(), torch.zeros(8, 1, 8, 8), warmup=1, repeats=5)
    assert 0 < latency.min_ms <= latency.median_ms <= latency.max_ms
    assert latency.repeats == 5 and latency.threads == torch.get_num_threads()
    assert "ms" in str(latency)


@pytest.mark.parametrize("kwargs", [{"repeats": 0}, {"warmup": -1}])
def test_bad_latency_settings_are_clear_errors(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        analysis.measure_latency(models.MLP(), torch.zeros(1, 1, 8, 8), **kwargs)
