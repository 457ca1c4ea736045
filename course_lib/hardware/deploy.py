"""Deployment (lesson 11): export a model to ONNX, run it in ONNX Runtime on the CPU, check that it
computes what PyTorch computes, and measure what ships: file bytes (raw and gzip) and latency.

Exporter. ``torch.onnx.export`` has two back ends. Since PyTorch 2.9 the default is the
``torch.export``-based one (``dynamo=True``), which needs the ``onnxscript`` package; the kit does
not depend on it, so :func:`export_onnx` asks for the TorchScript-based exporter (``dynamo=False``),
which still ships with PyTorch (deprecated, with a warning the kit silences) and needs nothing else.
The batch dimension is exported as dynamic (``"batch"``), every other dimension as traced.

ONNX stores every weight as a dense tensor: an unstructured-sparse model exports at dense size and
ONNX Runtime's CPU kernels multiply its zeros, so it runs at dense speed; its zeros only pay off once
the file is compressed. A channel-pruned model is simply a smaller dense model: smaller and faster.
"""

import gzip
import io
import warnings

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune

from ..analysis.latency import interleaved_latency
from ..analysis.libraries import global_unstructured_copy
from ..analysis.metrics import count_params
from ..core.modules import PRUNABLE_TYPES, check_example_input, eval_mode
from ..core.tables import format_table
from ..core.validation import check_fraction, check_int_in_range, check_positive_int
from .benefits import file_bytes

OPSET = 17
INPUT_NAME, OUTPUT_NAME = "input", "output"
EXPORTER = "TorchScript-based torch.onnx.export(..., dynamo=False)"


def gzip_size(raw: bytes) -> int:
    """Bytes of ``raw`` after gzip at level 9 (no timestamp: the same bytes give the same size)."""
    return len(gzip.compress(raw, compresslevel=9, mtime=0))


def sizes(raw: bytes) -> dict[str, int]:
    """``{"raw": bytes, "gzip": bytes gzip-compressed}``."""
    return {"raw": len(raw), "gzip": gzip_size(raw)}


def export_onnx(model: nn.Module, example_input: torch.Tensor, path=None, opset: int = OPSET) -> bytes:
    """The ONNX file of ``model`` (in eval mode) traced on ``example_input`` (B, ...), as bytes;
    also written to ``path`` when given. The batch dimension is dynamic.

    A model whose forward pass rejects ``example_input``, or that the exporter cannot handle (for
    instance Python control flow on tensor values), raises ``ValueError`` saying which.
    """
    check_int_in_range("opset", opset, 7)
    check_example_input(model, example_input, run=True)
    buffer = io.BytesIO()
    dynamic = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
    try:
        with warnings.catch_warnings(), eval_mode(model):
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
            torch.onnx.export(
                model, (example_input,), buffer, dynamo=False, opset_version=opset,
                input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], dynamic_axes=dynamic,
            )  # fmt: skip
    except Exception as err:
        raise ValueError(
            f"{type(model).__name__} could not be exported to ONNX with the {EXPORTER}: "
            f"{type(err).__name__}: {str(err)[:500]}"
        ) from err
    raw = buffer.getvalue()
    if path is not None:
        with open(path, "wb") as f:
            f.write(raw)
    return raw


def input_fits(declared, shape) -> bool:
    """Does a tensor of ``shape`` fit an ONNX input declared as ``declared``? Same rank, and every
    dimension declared as an int matches; a symbolic dimension (a name such as ``"batch"``, or None)
    takes any size."""
    shape, declared = tuple(shape), list(declared)
    return len(shape) == len(declared) and all(
        not isinstance(d, int) or d == s for d, s in zip(declared, shape)
    )


class OnnxRuntimeModel(nn.Module):
    """An ONNX file run by ONNX Runtime on the CPU, called like a PyTorch model: (B, ...) float
    tensor in, output tensor out. It holds the file (``onnx_bytes``) it was built from, so what it
    ships can be measured; ``threads`` defaults to PyTorch's thread count (a fair comparison)."""

    def __init__(self, onnx_bytes: bytes, threads: int | None = None):
        super().__init__()
        if not isinstance(onnx_bytes, (bytes, bytearray)):
            raise TypeError(f"onnx_bytes must be the bytes of an ONNX file, got {type(onnx_bytes).__name__}")
        self.onnx_bytes = bytes(onnx_bytes)
        threads = threads if threads is not None else torch.get_num_threads()
        self.threads = check_positive_int("threads", threads)
        import onnxruntime as ort  # here, not at import: only lesson 11 pays for loading ONNX Runtime

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only
        try:
            self.session = ort.InferenceSession(self.onnx_bytes, options, providers=["CPUExecutionProvider"])
        except Exception as err:
            raise ValueError(f"ONNX Runtime cannot load this file: {type(err).__name__}: {err}") from err
        meta = self.session.get_inputs()[0]
        self.input_name, self.input_shape = meta.name, list(meta.shape)

    @classmethod
    def from_model(cls, model: nn.Module, example_input: torch.Tensor, threads: int | None = None):
        """Export ``model`` (:func:`export_onnx`) and load the file in ONNX Runtime."""
        return cls(export_onnx(model, example_input), threads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"input must be a tensor, got {type(x).__name__}")
        if not input_fits(self.input_shape, x.shape):
            raise ValueError(
                f"input of shape {tuple(x.shape)} does not fit the ONNX model's input {self.input_name!r} "
                f"declared as {self.input_shape} (a name is a dimension of any size)"
            )
        array = x.detach().to(torch.float32).contiguous().numpy()
        return torch.from_numpy(self.session.run(None, {self.input_name: array})[0])

    def __deepcopy__(self, memo):
        return OnnxRuntimeModel(self.onnx_bytes, self.threads)

    def extra_repr(self) -> str:
        return f"{len(self.onnx_bytes):,} bytes, input {self.input_shape}, {self.threads} threads"


@torch.no_grad()
def max_difference(model: nn.Module, runtime: nn.Module, x: torch.Tensor) -> float:
    """Largest absolute difference between ``model(x)`` and ``runtime(x)`` (both in eval mode)."""
    with eval_mode(model), eval_mode(runtime):
        return (model(x) - runtime(x)).abs().max().item()


def shipped_bytes(model: nn.Module) -> bytes:
    """What deploying ``model`` ships: an :class:`OnnxRuntimeModel`'s ONNX file, else the bytes of
    ``torch.save(model.state_dict())`` (with ``torch.nn.utils.prune``'s ``weight_orig`` and
    ``weight_mask`` when the pruning was never made permanent)."""
    if isinstance(model, OnnxRuntimeModel):
        return model.onnx_bytes
    return file_bytes(model.state_dict())


def stored_values(model: nn.Module) -> dict[str, int]:
    """How many numbers ``model`` stores and how many of them are non-zero, ``{"values", "nonzero"}``:
    what pruning removes, whatever the file format or compressor.

    A PyTorch model counts every tensor its modules hold, each once: parameters, buffers (persistent
    or not) and tensor attributes (such as the ``weight`` that ``torch.nn.utils.prune`` recomputes
    beside ``weight_orig`` and ``weight_mask``). An :class:`OnnxRuntimeModel` counts the weights
    (initializers) of its ONNX file.
    """
    if isinstance(model, OnnxRuntimeModel):
        arrays = onnx_weights(model.onnx_bytes).values()
        return {"values": int(sum(a.size for a in arrays)),
                "nonzero": int(sum(np.count_nonzero(a) for a in arrays))}
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    tensors = {}
    for module in model.modules():
        held = [*module._parameters.values(), *module._buffers.values(),
                *(v for v in vars(module).values() if isinstance(v, torch.Tensor))]
        tensors.update({id(t): t for t in held if t is not None})
    values = [t.dequantize() if t.is_quantized else t for t in tensors.values()]
    return {"values": int(sum(t.numel() for t in values)),
            "nonzero": int(sum(int(torch.count_nonzero(t.detach())) for t in values))}


def quantize_int8(onnx_bytes: bytes) -> bytes:
    """ONNX Runtime's dynamic int8 quantization (``onnxruntime.quantization.quantize_dynamic``) of an
    ONNX file: every Conv and MatMul weight stored as int8 with one scale per tensor, symmetric
    (zero point 0, so a pruned zero stays exactly zero); activations are quantized on the fly."""
    import logging
    import tempfile
    from pathlib import Path

    from onnxruntime.quantization import QuantType, quantize_dynamic

    if not isinstance(onnx_bytes, (bytes, bytearray)):
        raise TypeError(f"onnx_bytes must be the bytes of an ONNX file, got {type(onnx_bytes).__name__}")
    root = logging.getLogger()
    level = root.level
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "model.onnx", Path(folder) / "model.int8.onnx"
        source.write_bytes(onnx_bytes)
        root.setLevel(logging.ERROR)  # the quantizer logs a pre-processing tip at WARNING on every call
        try:
            quantize_dynamic(source, target, weight_type=QuantType.QInt8)
        finally:
            root.setLevel(level)
        return target.read_bytes()


def int8_zero_fractions(onnx_bytes: bytes) -> dict[str, float]:
    """For each int8 weight of a quantized ONNX file (:func:`quantize_int8`), the fraction of its
    entries stored as exactly zero, under the name of the float weight it replaced (the quantizer
    appends ``_quantized``, and ``_Transposed`` to a MatMul weight it transposed)."""
    return {name.removesuffix("_quantized").removesuffix("_Transposed"): float((a == 0).mean())
            for name, a in onnx_weights(onnx_bytes).items() if a.dtype == np.int8 and a.size > 1}


def onnx_weights(onnx_bytes: bytes) -> dict[str, np.ndarray]:
    """The weights (initializers) of an ONNX file as numpy arrays, by name, in the file's order."""
    import onnx  # here, not at import: only lesson 11 pays for loading ONNX
    from onnx import numpy_helper

    return {t.name: numpy_helper.to_array(t) for t in onnx.load_from_string(onnx_bytes).graph.initializer}


def onnx_weight_stats(onnx_bytes: bytes) -> dict[str, int]:
    """What the ONNX file's weights (initializers) hold: ``{"tensors", "values", "zeros",
    "sparse_tensors"}``; ``sparse_tensors`` counts ONNX's sparse initializers (the exporter writes none)."""
    import onnx  # here, not at import: only lesson 11 pays for loading ONNX

    graph = onnx.load_from_string(onnx_bytes).graph
    arrays = list(onnx_weights(onnx_bytes).values())
    return {
        "tensors": len(arrays),
        "values": int(sum(a.size for a in arrays)),
        "zeros": int(sum(np.count_nonzero(a == 0) for a in arrays if a.dtype.kind == "f")),
        "sparse_tensors": len(graph.sparse_initializer),
    }


def deployment_table(models: dict, example_input: torch.Tensor, batch_size: int = 64, rounds: int = 5,
                     repeats: int = 5) -> list[dict]:
    """Each ``{label: model}`` exported to ONNX and run in ONNX Runtime, side by side with PyTorch.

    Rows: ``{"model", "params", "onnx", "onnx_gzip", "torch_ms", "ort_ms", "max_diff"}``: parameters,
    ONNX file bytes raw and gzip, the fastest CPU time of a batch of ``batch_size`` in PyTorch and in
    ONNX Runtime (all 2 x len(models) timed in the same alternating turns), and the largest output
    difference between the two on that batch. ``example_input`` is one batch the models accept.
    """
    check_positive_int("batch_size", batch_size)
    if not models:
        raise ValueError("models must hold at least one {label: model} entry, got an empty dict")
    example_input = check_example_input(next(iter(models.values())), example_input, run=True)
    batch = torch.randn(batch_size, *example_input.shape[1:], generator=torch.Generator().manual_seed(0))
    runtimes = {label: OnnxRuntimeModel.from_model(m, example_input) for label, m in models.items()}
    timed = interleaved_latency([*models.values(), *runtimes.values()], batch, rounds, repeats)
    n = len(models)
    rows = []
    for i, (label, model) in enumerate(models.items()):
        raw = runtimes[label].onnx_bytes
        rows.append({
            "model": label, "params": count_params(model), "onnx": len(raw), "onnx_gzip": gzip_size(raw),
            "torch_ms": timed[i]["min"], "ort_ms": timed[n + i]["min"],
            "max_diff": max_difference(model, runtimes[label], batch),
        })  # fmt: skip
    return rows


def format_deployment(rows: list[dict]) -> str:
    """``deployment_table``'s rows as an aligned text table."""
    header = ["model", "params", "ONNX KB", "gzip KB", "PyTorch ms", "ONNX Runtime ms", "max |diff|"]
    cells = [[r["model"], f"{r['params']:,}", f"{r['onnx'] / 1e3:.1f}", f"{r['onnx_gzip'] / 1e3:.1f}",
              f"{r['torch_ms']:.3f}", f"{r['ort_ms']:.3f}", f"{r['max_diff']:.1e}"] for r in rows]
    return format_table(header, cells, style="text")


def remove_pruning(model: nn.Module) -> nn.Module:
    """Make every ``torch.nn.utils.prune`` pruning of ``model``'s Conv2d/Linear weights permanent, in
    place (``prune.remove``: ``weight`` becomes a plain parameter again, with its zeros), and return it.
    (A model still under pruning cannot be deep-copied: its ``weight`` is computed, not a leaf.)"""
    for module in model.modules():
        if isinstance(module, PRUNABLE_TYPES) and prune.is_pruned(module):
            prune.remove(module, "weight")
    return model


def pruning_storage(model: nn.Module, sparsity: float, example_input: torch.Tensor) -> list[dict]:
    """The slider's work: bytes at each stage of pruning a copy of ``model`` to ``sparsity`` with
    ``prune.global_unstructured`` (L1). Rows ``{"stage", "raw", "gzip"}``: the dense state_dict file,
    the pruned one (``weight_orig`` + ``weight_mask``), after ``prune.remove``, and its ONNX file.
    ``model`` itself is never changed."""
    sparsity = check_fraction("sparsity", sparsity)
    pruned = global_unstructured_copy(model, sparsity)
    stages = {"dense state_dict": file_bytes(model.state_dict()),
              "pruned, not removed (weight_orig + weight_mask)": file_bytes(pruned.state_dict())}
    plain = remove_pruning(pruned)
    stages["after prune.remove"] = file_bytes(plain.state_dict())
    stages["ONNX file of it"] = export_onnx(plain, example_input)
    return [{"stage": stage, **sizes(raw)} for stage, raw in stages.items()]


def format_storage(rows: list[dict]) -> str:
    """``pruning_storage``'s rows as a text table, each size also as a multiple of the dense file's."""
    base = rows[0]
    cells = [[r["stage"], f"{r['raw'] / 1e3:.1f} ({r['raw'] / base['raw']:.2f}x)",
              f"{r['gzip'] / 1e3:.1f} ({r['gzip'] / base['gzip']:.2f}x)"] for r in rows]
    return format_table(["stage", "file KB", "gzip KB"], cells, style="text")


def storage_report(model: nn.Module, sparsity: float, example_input: torch.Tensor) -> str:
    """:func:`pruning_storage` as a table, for a slider."""
    return format_storage(pruning_storage(model, sparsity, example_input))
