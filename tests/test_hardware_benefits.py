"""Benefits: energy formula, encodings that decode exactly, bytes on disk, non-zero MACs, the table."""

import copy
import gzip
import io

import pytest
import torch

from course_lib import analysis, core, data, hardware, models, pruning
from course_lib.hardware import HOROWITZ_45NM_PJ


@pytest.fixture(scope="module")
def variants():
    model = models.load_pretrained("convnet")
    fine = core.apply_masks(copy.deepcopy(model), pruning.global_magnitude_masks(model, 0.9))
    two_four = core.apply_masks(copy.deepcopy(model), pruning.nm_masks(model, 2, 4))
    return model, fine, two_four


def test_energy_is_dram_reads_plus_multiply_adds():
    t = HOROWITZ_45NM_PJ
    assert hardware.energy_pj(8, 0) == 2 * t["32-bit DRAM read"]
    assert hardware.energy_pj(0, 3) == pytest.approx(3 * (t["32-bit float mult"] + t["32-bit float add"]))
    with pytest.raises(ValueError, match="weight_bytes must be an int >= 0"):
        hardware.energy_pj(-1, 0)
    with pytest.raises(ValueError, match="macs"):
        hardware.energy_pj(0, 1.5)


def test_csr_encoding_decodes_to_the_pruned_weights(variants):
    _, fine, _ = variants
    state = hardware.encoded_state(fine, "csr")
    w = fine.conv2.weight.detach()
    decoded = hardware.CSR((w.shape[0], w[0].numel()), state["conv2.weight.values"],
                          state["conv2.weight.col_indices"], state["conv2.weight.row_ptr"]).to_dense()
    assert torch.equal(decoded.view_as(w), w)
    assert "conv2.weight" not in state and torch.equal(state["bn2.weight"], fine.bn2.weight.detach())


def test_nm_encoding_keeps_layers_whose_fan_in_m_does_not_divide_dense(variants):
    _, _, two_four = variants
    state = hardware.encoded_state(two_four, "nm")
    assert "conv1.weight" in state  # fan-in 9
    arrays = state["fc1.weight.values"], state["fc1.weight.metadata"]
    packed = hardware.NMCompressed(*arrays, (64, 256), 2, 4)
    assert torch.equal(hardware.decompress_nm(packed), two_four.fc1.weight.detach())
    with pytest.raises(ValueError, match="encoding must be one of"):
        hardware.encoded_state(two_four, "coo")


def test_storage_counts_the_saved_file_and_its_gzip(variants):
    model, fine, two_four = variants
    dense = hardware.storage(model, "dense")
    assert dense["tensors"] == analysis.model_size_bytes(model)
    raw = hardware.file_bytes(hardware.encoded_state(model, "dense"))
    assert dense["file"] == len(raw) and dense["gzip"] == len(gzip.compress(raw, 9, mtime=0))
    assert torch.load(io.BytesIO(raw), weights_only=True).keys() == model.state_dict().keys()
    sparse = hardware.storage(fine, "csr")
    assert sparse["file"] < 0.3 * dense["file"]
    assert hardware.storage(fine, "dense")["gzip"] < 0.5 * dense["gzip"]  # zeros compress
    assert 0.45 < hardware.storage(two_four, "nm")["tensors"] / dense["tensors"] < 0.6


def test_nonzero_macs(variants):
    model, _, two_four = variants
    assert hardware.nonzero_macs(model, (1, 8, 8)) == analysis.count_macs(model, (1, 8, 8))
    per_layer = analysis.count_macs(two_four, (1, 8, 8), per_layer=True)
    expected = per_layer["conv1"] + sum(v // 2 for k, v in per_layer.items() if k != "conv1")
    assert hardware.nonzero_macs(two_four, (1, 8, 8)) == expected


def test_benefits_table_rows(variants):
    model, fine, _ = variants
    test = data.digits_loaders().test
    rows = hardware.benefits_table({"dense": (model, "dense"), "fine": (fine, "csr")}, test, rounds=1)
    dense, sparse = rows
    assert dense["energy_dense_uj"] == dense["energy_sparse_uj"] == sparse["energy_dense_uj"]
    assert sparse["energy_sparse_uj"] < 0.25 * dense["energy_dense_uj"]
    assert sparse["nonzero"] == analysis.count_nonzero(fine) and dense["accuracy"] > 0.98
    table = hardware.format_benefits(rows)
    assert "uJ sparse HW" in table and len(table.splitlines()) == 3
    with pytest.raises(ValueError, match="at least one"):
        hardware.benefits_table({}, test)
