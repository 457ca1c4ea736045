"""Storage size of a pruned weight matrix (lesson 07): by formula and as measured.

``storage_bits`` and ``crossover_sparsity`` work from the formulas alone: an (R, C) matrix with nnz
non-zeros, ``value_bits``-bit values and ``index_bits``-bit indices, stored dense or in one of
``NNZ_FORMATS``; where a format starts to beat dense storage. ``format_bytes`` and ``storage_table``
magnitude-prune a real weight (R, C) to each sparsity, store it in a dtype (float or int8) and
encode it in every format of ``UNSTRUCTURED_FORMATS`` with ``hardware.encode``, reporting the bytes
the encodings really occupy.
"""

import torch

from ..core.validation import check_choice
from ..pruning.magnitude import magnitude_mask
from .formats import FORMATS, Bitmap, encode

NNZ_FORMATS = ("coo", "csr", "csc", "bitmap")  # formats whose size depends on the shape and nnz only


def _check_shape(shape) -> tuple[int, int]:
    if len(shape) != 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
        raise ValueError(f"shape must be two positive ints (rows, cols), got {shape!r}")
    return tuple(shape)


def storage_bits(fmt: str, shape, nnz: int, value_bits: int, index_bits: int = 32) -> int:
    """Total bits, by the formula, of an (R, C) matrix with ``nnz`` non-zeros stored as ``fmt``
    ("dense" or one of ``NNZ_FORMATS``), with ``value_bits``-bit values and ``index_bits``-bit
    indices. For example CSR: nnz * (value_bits + index_bits) + (R + 1) * index_bits."""
    check_choice("fmt", fmt, ("dense", *NNZ_FORMATS))
    shape = _check_shape(shape)
    if fmt == "dense":
        return shape[0] * shape[1] * value_bits
    if fmt == "bitmap":
        return sum(Bitmap.storage_bits(shape, nnz, value_bits).values())
    return sum(FORMATS[fmt].storage_bits(shape, nnz, value_bits, index_bits).values())


def crossover_sparsity(fmt: str, shape, value_bits: int, index_bits: int = 32) -> float | None:
    """The smallest sparsity (a multiple of 1 / (R * C)) at which ``fmt`` takes fewer bits than dense,
    solved from the formula; ``None`` when it never does (its fixed part alone exceeds dense).

    Every format in ``NNZ_FORMATS`` costs ``fixed + per_nnz * nnz`` bits; it beats dense while
    ``per_nnz * nnz < dense - fixed``. CSR with 32-bit indices and fp32 values: 64 bits per non-zero
    against 32 per entry, so about 50%.
    """
    shape = _check_shape(shape)
    numel = shape[0] * shape[1]
    fixed = storage_bits(fmt, shape, 0, value_bits, index_bits)
    per_nnz = storage_bits(fmt, shape, 1, value_bits, index_bits) - fixed
    budget = storage_bits("dense", shape, 0, value_bits) - fixed - 1  # per_nnz * nnz <= budget
    if budget < 0:
        return None
    most_nnz = min(numel, budget // per_nnz)
    return 1 - most_nnz / numel


def as_dtype(weight: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``weight`` (float) stored as ``dtype``: float types by rounding, int8 by symmetric
    quantisation with scale max|w| / 127 (weights below half a step become 0)."""
    if dtype.is_floating_point:
        return weight.to(dtype)
    check_choice("dtype", dtype, (torch.int8,))
    scale = weight.abs().max().clamp_min(torch.finfo(weight.dtype).tiny) / 127
    return (weight / scale).round().to(torch.int8)


def prune_matrix(weight: torch.Tensor, sparsity: float, dtype: torch.dtype = torch.float32):
    """A magnitude-pruned copy of ``weight`` (R, C) in ``dtype``; ``weight`` is not changed."""
    weight = weight.detach().float()
    return as_dtype(torch.where(magnitude_mask(weight, sparsity), weight, 0.0), dtype)


UNSTRUCTURED_FORMATS = ("coo", "csr", "csc", "bsr", "bitmap", "eie")


def format_bytes(weight: torch.Tensor, sparsity: float, dtype: torch.dtype = torch.float32,
                 index_bits: int | None = 32, blocksize=(4, 4), gap_bits: int = 4) -> dict[str, int]:
    """Measured bytes of ``weight`` (R, C) magnitude-pruned to ``sparsity`` and stored in ``dtype``:
    "dense" and every format of ``UNSTRUCTURED_FORMATS`` (BSR padded to ``blocksize`` blocks if
    needed; EIE with ``gap_bits``-bit gaps). ``index_bits=None`` picks the smallest width that fits."""
    matrix = prune_matrix(weight, sparsity, dtype)
    options = {"bsr": {"blocksize": blocksize, "pad": True, "index_bits": index_bits},
               "bitmap": {}, "eie": {"gap_bits": gap_bits, "index_bits": index_bits}}
    sizes = {"dense": matrix.numel() * matrix.element_size()}
    for fmt in UNSTRUCTURED_FORMATS:
        sizes[fmt] = encode(matrix, fmt, **options.get(fmt, {"index_bits": index_bits})).nbytes
    return sizes


def storage_table(weight: torch.Tensor, sparsities, dtypes, **options) -> dict:
    """``{dtype: {format: [bytes at each sparsity]}}`` from ``format_bytes`` (same options)."""
    table = {}
    for dtype in dtypes:
        rows = [format_bytes(weight, s, dtype, **options) for s in sparsities]
        table[dtype] = {fmt: [row[fmt] for row in rows] for fmt in rows[0]}
    return table
