"""What pruning buys, measured: accuracy, non-zero parameters, bytes on disk, CPU latency and energy.

Each model is stored the way its sparsity can be exploited:

* ``"dense"``: the state_dict as it is (what a channel-pruned model needs: it is just smaller);
* ``"csr"``: every Conv2d/Linear weight, viewed as a (C_out, fan-in) matrix, in CSR
  (``hardware.encode``), the other tensors dense (fine-grained sparsity);
* ``"nm"``: every weight whose fan-in ``m`` divides as N:M values plus packed position metadata
  (``hardware.compress_nm``), the others dense.

Bytes on disk are those of ``torch.save`` of the encoded tensors, with and without gzip.

The energy estimate uses the 45 nm table (``hardware.HOROWITZ_45NM_PJ``): per inference, every stored
weight byte is read once from DRAM (one 32-bit read per 4 bytes) and every MAC is a float multiply
and a float add. On *dense hardware* a model pays for all its parameters and all its MACs, zeros
included; *sparse hardware* (EIE, SpArch, a 2:4 tensor core) reads the encoded bytes and does only the
MACs with a non-zero weight.
"""

import gzip
import io

import torch
from torch import nn

from ..analysis.latency import interleaved_latency
from ..analysis.metrics import count_macs, count_nonzero, count_params
from ..core.modules import prunable_weights
from ..core.tables import format_table
from ..core.validation import check_choice, check_int_in_range, check_positive_int
from ..train import evaluate
from .energy import DRAM, FADD, FMUL, HOROWITZ_45NM_PJ
from .formats import encode
from .nm_storage import compress_nm

ENCODINGS = ("dense", "csr", "nm")




def energy_pj(weight_bytes: int, macs: int) -> float:
    """Energy of one inference in pJ: ``weight_bytes`` read from DRAM, 4 bytes per 32-bit access,
    plus ``macs`` multiply-accumulates (a float multiply and a float add each)."""
    check_int_in_range("weight_bytes", weight_bytes, 0)
    check_int_in_range("macs", macs, 0)
    table = HOROWITZ_45NM_PJ
    return weight_bytes / 4 * table[DRAM] + macs * (table[FMUL] + table[FADD])


def encoded_state(model: nn.Module, encoding: str, n: int = 2, m: int = 4) -> dict[str, torch.Tensor]:
    """The tensors that store ``model`` in ``encoding`` (one of ``ENCODINGS``): the state_dict with
    each encoded weight replaced by its arrays (``"fc1.weight.values"``, ``".col_indices"``, ...)."""
    check_choice("encoding", encoding, ENCODINGS)
    state = {k: v.detach() for k, v in model.state_dict().items()}
    if encoding == "dense":
        return state
    for name, weight in prunable_weights(model).items():
        matrix = weight.detach().reshape(weight.shape[0], -1)  # (C_out, fan-in)
        if encoding == "csr":
            arrays = encode(matrix, "csr").arrays()
        elif matrix.shape[1] % m == 0:
            packed = compress_nm(weight.detach(), n, m)
            arrays = {"values": packed.values, "metadata": packed.metadata}
        else:
            continue  # fan-in not a multiple of m: stays dense, as NVIDIA's ASP leaves such layers
        del state[name]
        state |= {f"{name}.{key}": array for key, array in arrays.items()}
    return state


def file_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    """The bytes ``torch.save`` writes for ``tensors``."""
    buffer = io.BytesIO()
    torch.save(tensors, buffer)
    return buffer.getvalue()


def storage(model: nn.Module, encoding: str) -> dict[str, int]:
    """Bytes of ``model`` stored in ``encoding``: ``{"tensors": raw tensor bytes, "file": torch.save
    file, "gzip": the file gzip-compressed}``."""
    state = encoded_state(model, encoding)
    raw = file_bytes(state)
    return {
        "tensors": sum(t.numel() * t.element_size() for t in state.values()),
        "file": len(raw),
        "gzip": len(gzip.compress(raw, compresslevel=9, mtime=0)),
    }


def nonzero_macs(model: nn.Module, input_shape) -> int:
    """MACs per example that involve a non-zero weight: each Conv2d/Linear layer's MACs times its
    weight's density (every weight is used the same number of times per output position)."""
    per_layer = count_macs(model, input_shape, per_layer=True)
    modules = dict(model.named_modules())
    total = 0
    for name, macs in per_layer.items():
        w = modules[name].weight
        total += macs * int(torch.count_nonzero(w)) // w.numel()
    return total


def benefits_table(
    models: dict[str, tuple[nn.Module, str]],
    test_loader,
    input_shape=(1, 8, 8),
    batch_size: int = 64,
    rounds: int = 5,
) -> list[dict]:
    """One row per ``{label: (model, encoding)}``: accuracy, parameters and non-zeros, bytes
    (``storage``), MACs (all and non-zero), CPU latency in ms at ``batch_size`` (fastest run of
    ``analysis.interleaved_latency``) and energy per inference in microjoules on dense and on sparse
    hardware."""
    check_positive_int("batch_size", batch_size)
    if not models:
        raise ValueError("models must hold at least one {label: (model, encoding)} entry")
    example = torch.randn(batch_size, *input_shape, generator=torch.Generator().manual_seed(0))
    latencies = interleaved_latency([m for m, _ in models.values()], example, rounds=rounds)
    rows = []
    for (label, (model, encoding)), latency in zip(models.items(), latencies):
        stored = storage(model, encoding)
        macs, active = count_macs(model, input_shape), nonzero_macs(model, input_shape)
        dense_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
        rows.append({
            "model": label, "encoding": encoding, "accuracy": evaluate(model, test_loader),
            "params": count_params(model), "nonzero": count_nonzero(model),
            "file": stored["file"], "gzip": stored["gzip"], "macs": macs, "nonzero_macs": active,
            "latency_ms": latency["min"],
            "energy_dense_uj": energy_pj(dense_bytes, macs) / 1e6,
            "energy_sparse_uj": energy_pj(stored["tensors"], active) / 1e6,
        })  # fmt: skip
    return rows


COLUMNS = {  # key: (header, format)
    "accuracy": ("accuracy", "{:.2%}"), "nonzero": ("non-zero params", "{:,}"),
    "file": ("file B", "{:,}"), "gzip": ("gzip B", "{:,}"), "nonzero_macs": ("non-zero MACs", "{:,}"),
    "latency_ms": ("CPU ms", "{:.3f}"), "energy_dense_uj": ("uJ dense HW", "{:.2f}"),
    "energy_sparse_uj": ("uJ sparse HW", "{:.2f}"),
}  # fmt: skip


def format_benefits(rows: list[dict]) -> str:
    """``benefits_table``'s rows as an aligned text table."""
    header = ["model", "stored as"] + [h for h, _ in COLUMNS.values()]
    cells = [[r["model"], r["encoding"]] + [fmt.format(r[k]) for k, (_, fmt) in COLUMNS.items()]
             for r in rows]
    return format_table(header, cells, style="text")


