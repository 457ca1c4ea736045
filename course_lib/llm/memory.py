"""How much memory and time pruning a language model takes, estimated before any weight is loaded.

The model is built from its configuration on PyTorch's ``meta`` device (shapes, no memory), which
gives every block's layer shapes exactly. The pipeline then holds, at its peak:

- the model's weights (on the CPU; with a GPU, one block at a time is also there);
- the calibration hidden states entering and leaving the current block: samples x seqlen x width,
  twice, plus one forward chunk's activations inside the block (its widest layer output and the
  attention scores, batch x heads x seqlen²);
- one float32 Gram matrix XᵀX (K x K) per layer of the block;
- the solver's workspace for the largest layer: SparseGPT's float64 Hessian, its Cholesky factor and
  inverse (3 x K² x 8 bytes) and a float64 copy of the weight; a score and a mask for the others.

Time is counted in floating-point operations (two per multiply-add): every block runs twice on the
calibration data (once to record, once to feed the next block), every layer adds its Gram matrix, and
SparseGPT adds its factorisations (about 4/3 K³) and the OBS updates (about 2 x out x K² for the
column sweep). Divided by a throughput measured on this machine (a float32 matrix product), that is
a time estimate, not a promise: data movement and Python overheads come on top.
"""

import time
from dataclasses import dataclass

import psutil
import torch
from transformers import AutoModelForCausalLM

from ..core.tables import format_table
from ..core.validation import check_positive_int
from ..pruning.calibration import layer_kind
from ..recipes.post_training import prunable_layers
from .families import decoder_blocks, family_of

GIB = 1024**3


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes each part needs, where they live, and the operation count (see the module's text)."""

    weights: int
    block: int
    activations: int
    grams: int
    solver: int
    flops: float
    device: str

    @property
    def working_set(self) -> int:
        """One block's turn: its weights, the activations, its Gram matrices and the solver."""
        return self.block + self.activations + self.grams + self.solver

    @property
    def cpu_bytes(self) -> int:
        """Peak CPU memory: the weights, plus the working set when the CPU also does the work."""
        return self.weights + (0 if self.device.startswith("cuda") else self.working_set - self.block)

    @property
    def gpu_bytes(self) -> int:
        """Peak GPU memory (0 on the CPU): one block's working set."""
        return self.working_set if self.device.startswith("cuda") else 0

    def table(self) -> str:
        rows = [["weights (whole model)", self.weights / GIB], ["one block", self.block / GIB],
                ["calibration activations", self.activations / GIB],
                ["Gram matrices, one block", self.grams / GIB], ["solver workspace", self.solver / GIB],
                ["peak CPU memory", self.cpu_bytes / GIB]]
        if self.gpu_bytes:
            rows.append(["peak GPU memory", self.gpu_bytes / GIB])
        return format_table(["part", "GiB"], rows, "text")


def _bytes_per_value(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def meta_model(config):
    """The model of ``config`` on the meta device: every shape, no memory, no download."""
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def estimate(config, *, samples: int, seqlen: int, method: str = "wanda", dtype=torch.float32,
             batch_size: int = 8, device: str = "cpu") -> MemoryEstimate:
    """The :class:`MemoryEstimate` of pruning the model of ``config`` (a ``transformers`` config) with
    ``samples`` calibration sequences of ``seqlen`` tokens, ``batch_size`` per forward pass."""
    for name, value in (("samples", samples), ("seqlen", seqlen), ("batch_size", batch_size)):
        check_positive_int(name, value)
    model = meta_model(config)
    family_of(model)
    size = _bytes_per_value(dtype)
    blocks = decoder_blocks(model)
    weights = sum(p.numel() for p in model.parameters()) * size
    block = sum(p.numel() for p in blocks[0].parameters()) * size
    layers = [layer_kind(layer).matrix(layer).shape for layer in prunable_layers(model, blocks).values()
              if any(layer is m for m in blocks[0].modules())]  # (out, K) of each layer of one block
    width = config.hidden_size
    heads = config.num_attention_heads
    widest = max(out for out, _ in layers)
    chunk = min(batch_size, samples)
    hidden = (2 * samples * seqlen * width + chunk * seqlen * widest) * size  # a block's in, out, one chunk
    activations = hidden + chunk * heads * seqlen**2 * 4  # and the attention scores
    grams = sum(k * k for _, k in layers) * 4
    out, k = max(layers, key=lambda shape: shape[0] * shape[1] + shape[1] ** 2)
    solver = (3 * k * k + 2 * out * k) * 8 if method == "sparsegpt" else 3 * out * k * 4
    tokens = samples * seqlen
    block_flops = 2 * sum(o * kk for o, kk in layers) * tokens + 4 * tokens * seqlen * width  # + attention
    layer_flops = sum(2 * tokens * kk * kk for _, kk in layers)  # Gram matrices
    if method == "sparsegpt":
        layer_flops += sum(4 / 3 * kk**3 + 2 * o * kk * kk for o, kk in layers)
    flops = len(blocks) * (2 * block_flops + layer_flops)
    return MemoryEstimate(weights, block, activations, grams, solver, float(flops), str(device))


def available_bytes(device: str = "cpu") -> int:
    """Free memory now: the CPU's available RAM, or a CUDA device's free memory."""
    if str(device).startswith("cuda"):
        return torch.cuda.mem_get_info(torch.device(device))[0]
    return psutil.virtual_memory().available


def measured_flops_per_second(device: str = "cpu", size: int = 1024) -> float:
    """A float32 matrix product's throughput on ``device``, best of three (about a second on a CPU)."""
    a = torch.randn(size, size, device=device)
    best = float("inf")
    for _ in range(3):
        if str(device).startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ a
        if str(device).startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best
