"""hardware.deploy: ONNX export, ONNX Runtime, sizes and the slider's storage table."""

import copy

import pytest
import torch
from torch import nn

from course_lib import analysis, hardware, pruning, structured
from course_lib.core import apply_masks
from course_lib.models import ConvNet, TinyResNet

DIGIT = torch.zeros(1, 1, 8, 8)
BATCH = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))


def model(make=ConvNet):
    torch.manual_seed(0)
    return make().eval()


@pytest.mark.parametrize("make", [ConvNet, TinyResNet])
def test_onnx_runtime_computes_what_pytorch_does_at_any_batch_size(make):
    m = model(make)
    runtime = hardware.OnnxRuntimeModel.from_model(m, DIGIT)
    assert runtime.input_shape == ["batch", 1, 8, 8]
    for x in (BATCH, BATCH[:1], torch.randn(70, 1, 8, 8)):
        with torch.no_grad():
            torch.testing.assert_close(runtime(x), m(x), rtol=1e-4, atol=1e-5)
    assert hardware.max_difference(m, runtime, BATCH) < 1e-4


def test_export_leaves_the_train_mode_alone_and_writes_the_file(tmp_path):
    m = model().train()
    raw = hardware.export_onnx(m, DIGIT, path=tmp_path / "m.onnx")
    assert m.training and (tmp_path / "m.onnx").read_bytes() == raw


def test_channel_pruned_exports_smaller_unstructured_exports_dense_size():
    m = model()
    dense = hardware.export_onnx(m, DIGIT)
    channels = hardware.export_onnx(structured.prune_channels(m, 0.5, DIGIT), DIGIT)
    sparse = apply_masks(copy.deepcopy(m), pruning.global_magnitude_masks(m, 0.9))
    sparse_raw = hardware.export_onnx(sparse, DIGIT)
    assert len(channels) < 0.35 * len(dense)
    assert abs(len(sparse_raw) - len(dense)) < 0.01 * len(dense)
    assert hardware.gzip_size(sparse_raw) < 0.35 * hardware.gzip_size(dense)
    stats = hardware.onnx_weight_stats(sparse_raw)
    weights = sum(w.numel() for w in pruning.global_magnitude_masks(m, 0.9).values())
    assert stats["sparse_tensors"] == 0 and stats["zeros"] >= round(0.9 * weights)


def test_wrong_inputs_and_unexportable_models_are_clear_errors():
    runtime = hardware.OnnxRuntimeModel.from_model(model(), DIGIT)
    with pytest.raises(ValueError, match=r"input of shape \(4, 8, 8\) does not fit .* \['batch', 1, 8, 8\]"):
        runtime(torch.zeros(4, 8, 8))
    with pytest.raises(TypeError, match="input must be a tensor"):
        runtime([1.0])
    with pytest.raises(ValueError, match=r"example_input of shape \(1, 3, 8, 8\) does not fit ConvNet"):
        hardware.export_onnx(model(), torch.zeros(1, 3, 8, 8))
    with pytest.raises(TypeError, match="example_input must be a tensor"):
        hardware.export_onnx(model(), (1, 8, 8))

    class ToNumpy(nn.Module):
        def forward(self, x):
            return x.numpy()

    with pytest.raises(ValueError, match="ToNumpy could not be exported to ONNX"):
        hardware.export_onnx(ToNumpy(), torch.ones(2, 3))
    with pytest.raises(ValueError, match="ONNX Runtime cannot load"):
        hardware.OnnxRuntimeModel(b"not an onnx file")


@pytest.mark.parametrize(
    "declared, shape, fits",
    [(["batch", 1, 8, 8], (5, 1, 8, 8), True), (["batch", 1, 8, 8], (5, 8, 8), False),
     ([None, 3], (2, 3), True), ([1, 3], (2, 3), False), ([], (), True)],
)  # fmt: skip
def test_input_fits(declared, shape, fits):
    assert hardware.input_fits(declared, shape) is fits


def test_runtime_model_deep_copies_and_ships_its_file():
    runtime = hardware.OnnxRuntimeModel.from_model(model(), DIGIT, threads=1)
    twin = copy.deepcopy(runtime)
    assert twin.onnx_bytes == runtime.onnx_bytes and twin.threads == 1
    assert hardware.shipped_bytes(runtime) == runtime.onnx_bytes
    torch.testing.assert_close(twin(BATCH), runtime(BATCH))


def test_deployment_table_rows():
    models = {"dense": model(), "half": structured.prune_channels(model(), 0.5, DIGIT)}
    rows = hardware.deployment_table(models, DIGIT, batch_size=8, rounds=1, repeats=1)
    assert [r["model"] for r in rows] == ["dense", "half"]
    assert rows[1]["params"] < rows[0]["params"] and rows[1]["onnx"] < rows[0]["onnx"]
    assert all(r["max_diff"] < 1e-4 and r["torch_ms"] > 0 and r["ort_ms"] > 0 for r in rows)
    assert "ONNX Runtime ms" in hardware.format_deployment(rows)
    with pytest.raises(ValueError, match="at least one"):
        hardware.deployment_table({}, DIGIT)


def test_pruning_storage_grows_while_pruned_and_shrinks_only_when_compressed():
    m = model()
    before = copy.deepcopy(m.state_dict())
    rows = {r["stage"]: r for r in hardware.pruning_storage(m, 0.9, DIGIT)}
    dense, pruned = rows["dense state_dict"], rows["pruned, not removed (weight_orig + weight_mask)"]
    removed = rows["after prune.remove"]
    assert pruned["raw"] > 1.9 * dense["raw"]
    assert abs(removed["raw"] - dense["raw"]) < 0.01 * dense["raw"] and removed["gzip"] < 0.35 * dense["gzip"]
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())  # the model is unchanged
    assert "gzip KB" in hardware.storage_report(m, 0.0, DIGIT)
    with pytest.raises(ValueError, match="sparsity must be in"):
        hardware.pruning_storage(m, -0.1, DIGIT)


def test_remove_pruning_makes_plain_parameters():
    m = analysis.global_unstructured_copy(model(), 0.5)
    hardware.remove_pruning(m)
    assert not any(k.endswith(("_orig", "_mask")) for k in m.state_dict())
    assert isinstance(m.conv1.weight, nn.Parameter)
    copy.deepcopy(m)  # possible again
