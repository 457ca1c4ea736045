"""A 2:4 sparse tensor core under a roofline (lesson 08), and PyTorch's real 2:4 kernels (lesson 03).

``tensor_core_time(m, n, k, pattern)`` models one GEMM Y (m, n) = W (m, k) @ X (k, n) on an A100-like
GPU (``TensorCoreConfig``): math time at peak throughput against memory time at full bandwidth, the
larger one wins. 2:4 halves the math (half of the products are skipped) but only shrinks W in
memory, so a memory-bound layer gains little. ``roofline_points`` places layers under the roofline.
``semi_structured_speedup`` times ``torch.sparse.to_sparse_semi_structured`` against dense on a
CUDA GPU of compute capability >= 8.0; ``semi_structured_status`` says whether one is present.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from ..core.validation import check_choice, check_positive_int, check_positive_number
from ..pruning.nm import nm_mask

DTYPE_BYTES = {"fp16": 2, "bf16": 2, "tf32": 4, "int8": 1}


PATTERNS = ("dense", "2:4")


@dataclass(frozen=True)
class TensorCoreConfig:
    """A GPU for the roofline: peak *dense* tensor-core throughput per dtype (TFLOPS; TOPS for
    int8) and memory bandwidth. Defaults: NVIDIA A100 SXM 40 GB datasheet figures.

    ``sparse_relayout``: the 2:4 kernel takes the sparse operand first, so a layer y = x W^T runs
    as (W x^T)^T (this is how PyTorch's semi-structured linear dispatches); when True the model
    charges one extra read and write of the activations and of the output for that change of layout.
    """

    peak_tflops: Mapping = field(
        default_factory=lambda: {"fp16": 312.0, "bf16": 312.0, "tf32": 156.0, "int8": 624.0}
    )
    memory_gb_per_s: float = 1555.0
    sparse_relayout: bool = True

    def __post_init__(self):
        check_positive_number("memory_gb_per_s", self.memory_gb_per_s)
        for key, value in self.peak_tflops.items():
            check_choice("peak_tflops key", key, set(DTYPE_BYTES))
            check_positive_number(f"peak_tflops[{key!r}]", value)


@dataclass(frozen=True)
class TensorCoreTime:
    """Roofline time of one GEMM: seconds of math at peak, seconds of memory traffic at full
    bandwidth, and the time, which is the larger (compute and memory overlap)."""

    math_s: float
    memory_s: float
    flops: int
    bytes: float

    @property
    def seconds(self) -> float:
        return max(self.math_s, self.memory_s)

    @property
    def bound(self) -> str:
        return "math" if self.math_s >= self.memory_s else "memory"


def tensor_core_time(m: int, n: int, k: int, pattern: str = "dense", dtype: str = "fp16",
                     hw: TensorCoreConfig | None = None) -> TensorCoreTime:
    """Roofline of Y (m, n) = W (m, k) @ X (k, n) on a tensor core, W dense or 2:4 sparse along k.

    For a layer, m = output features (or conv output channels), k = input features (C_in * kh * kw)
    and n = batch (times output pixels). Dense: 2mnk flops at peak; memory = (mk + kn + mn) values.
    2:4: math runs at twice the peak (half of the products are skipped), but only W shrinks in
    memory: its mk/2 kept values plus 2 bits of metadata each, 9/16 of dense for fp16 (5/8 for int8,
    17/32 for tf32); X and Y are as large as before, plus the re-layout of ``hw.sparse_relayout``.
    """
    for name, value in (("m", m), ("n", n), ("k", k)):
        check_positive_int(name, value)
    check_choice("pattern", pattern, set(PATTERNS))
    check_choice("dtype", dtype, set(DTYPE_BYTES))
    hw = TensorCoreConfig() if hw is None else hw
    if not isinstance(hw, TensorCoreConfig):
        raise TypeError(f"hw must be a TensorCoreConfig, got {type(hw).__name__}")
    if dtype not in hw.peak_tflops:
        raise ValueError(f"dtype {dtype!r} has no peak in hw.peak_tflops {dict(hw.peak_tflops)}")
    size = DTYPE_BYTES[dtype]
    flops = 2 * m * n * k
    sparse = pattern == "2:4"
    weights = m * k * (size / 2 + 1 / 8) if sparse else m * k * size
    activations = (k * n + m * n) * size * (3 if sparse and hw.sparse_relayout else 1)
    memory_bytes = weights + activations
    peak = hw.peak_tflops[dtype] * 1e12 * (2 if sparse else 1)
    return TensorCoreTime(flops / peak, memory_bytes / (hw.memory_gb_per_s * 1e9), flops, memory_bytes)


def roofline_points(shapes: Mapping, dtype: str = "fp16", hw: TensorCoreConfig | None = None) -> dict:
    """Where each GEMM (label -> (m, n, k)) sits under the roofline of ``hw``, dense and 2:4:
    label -> {"intensity": flop per byte of the dense GEMM, "dense": attained TFLOPS, "2:4": attained
    dense-equivalent TFLOPS (the dense GEMM's 2mnk flops over the 2:4 time)}."""
    points = {}
    for label, (m, n, k) in shapes.items():
        times = {pattern: tensor_core_time(m, n, k, pattern, dtype, hw) for pattern in PATTERNS}
        intensity = times["dense"].flops / times["dense"].bytes
        points[label] = {"intensity": intensity} | {p: t.flops / t.seconds / 1e12 for p, t in times.items()}
    return points


def semi_structured_status() -> tuple[bool, str]:
    """(available, reason): PyTorch's 2:4 kernels need CUDA with compute capability >= 8.0 (Ampere)."""
    if not torch.cuda.is_available():
        return False, "no CUDA device: torch.cuda.is_available() is False"
    capability = torch.cuda.get_device_capability()
    if capability < (8, 0):
        return False, f"the GPU has compute capability {capability}, 2:4 sparse tensor cores need >= (8, 0)"
    return True, f"CUDA device {torch.cuda.get_device_name()} with compute capability {capability}"


def semi_structured_speedup(features: int = 4096, batch: int = 4096) -> dict:
    """Time an fp16 ``features x features`` Linear on ``batch`` rows, dense against 2:4 through
    ``torch.sparse.to_sparse_semi_structured``. Needs CUDA with capability >= 8.0.

    Returns ``dense_s``, ``sparse_s`` (median seconds per call), ``speedup`` and ``max_error`` (the
    largest difference between the two outputs; the same 2:4 weight is used in both).
    """
    from torch.sparse import to_sparse_semi_structured
    from torch.utils.benchmark import Timer

    available, reason = semi_structured_status()
    if not available:
        raise RuntimeError(f"semi_structured_speedup needs CUDA with compute capability >= 8.0: {reason}")
    check_positive_int("features", features)
    check_positive_int("batch", batch)
    weight = torch.randn(features, features, dtype=torch.float16, device="cuda")
    weight = weight * nm_mask(weight, 2, 4)
    x = torch.randn(batch, features, dtype=torch.float16, device="cuda")
    sparse_weight = to_sparse_semi_structured(weight)
    linear = torch.nn.functional.linear
    times = {
        key: Timer("linear(x, w)", globals={"linear": linear, "x": x, "w": w}).blocked_autorange().median
        for key, w in (("dense_s", weight), ("sparse_s", sparse_weight))
    }
    error = float((linear(x, weight) - linear(x, sparse_weight)).abs().max())
    return {**times, "speedup": times["dense_s"] / times["sparse_s"], "max_error": error}
