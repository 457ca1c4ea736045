"""N:M compressed storage (lesson 03): kept values plus packed position metadata.

A weight (Co, Ci, ...) is cut into groups of M along its reduction dimension (the order of
``pruning.nm``); each group keeps N values. ``compress_nm`` stores the kept values (Co, G·N) in
position order and, for each, its position in the group in ceil(log2 M) bits, packed into bytes as
the 2:4 hardware's metadata is; ``decompress_nm`` restores the dense weight with zeros exactly.
``nm_storage_bytes`` is the formula: 2:4 in fp16 takes 9/16 of the dense bytes. ``hardware.NM``
wraps the same encoding as one of the sparse formats of lesson 07.
"""

import math
from dataclasses import dataclass

import torch

from ..core.bits import pack_bits, position_bits, unpack_bits
from ..core.validation import check_positive_int
from ..pruning.nm import _check_nm, _check_weight, _columns, _count_dtype, _grouped, _keep_columns, _ungrouped


def nm_storage_bytes(numel: int, n: int, m: int, itemsize: int) -> tuple[int, int]:
    """(value bytes, metadata bytes) of N:M storage for ``numel`` weights (a multiple of ``m``).

    values: numel·n/m kept values of ``itemsize`` bytes; metadata: ceil(log2 m) bits per kept value,
    packed: ceil(numel·n/m · ceil(log2 m) / 8) bytes. fp16 2:4: numel + numel/8 bytes = 9/16 of dense.
    """
    n, m = _check_nm(n, m)
    check_positive_int("itemsize", itemsize)
    if not isinstance(numel, int) or numel < 0 or numel % m:
        raise ValueError(f"numel must be a non-negative multiple of m={m}, got {numel!r}")
    kept = numel // m * n
    return kept * itemsize, math.ceil(kept * position_bits(m) / 8)


@dataclass(frozen=True)
class NMCompressed:
    """An N:M-compressed weight.

    values: (Co, G·n) kept values in reduction order, the weight's dtype; metadata: packed uint8
    positions (``position_bits(m)`` bits per kept value, row-major); shape: the dense weight's shape.
    """

    values: torch.Tensor
    metadata: torch.Tensor
    shape: tuple[int, ...]
    n: int
    m: int

    @property
    def values_bytes(self) -> int:
        return self.values.numel() * self.values.element_size()

    @property
    def metadata_bytes(self) -> int:
        return self.metadata.numel() * self.metadata.element_size()

    @property
    def nbytes(self) -> int:
        """Bytes actually stored: kept values plus packed metadata."""
        return self.values_bytes + self.metadata_bytes

    @property
    def dense_bytes(self) -> int:
        return math.prod(self.shape) * self.values.element_size()


def compress_nm(weight: torch.Tensor, n: int, m: int, pad: bool = False) -> NMCompressed:
    """Compress ``weight`` to its N:M-kept values and packed 2-bit-style position metadata.

    The kept entries are ``nm_mask(weight, n, m, pad)``'s; ``decompress_nm`` returns
    ``weight * mask`` exactly. Within a group, kept values are stored in position order.
    """
    _check_weight(weight)
    n, m = _check_nm(n, m)
    if m > 256:
        raise ValueError(f"compress_nm needs m <= 256 so that a position fits in one byte, got m={m}")
    groups = _grouped(weight.detach(), m, pad)  # (Co, G, m)
    columns = _columns(groups)  # (m, Co·G)
    keep = _keep_columns(columns.abs(), n)  # (m, Co·G), n True per column
    # the k-th kept entry of a group sits after every entry whose running kept-count is <= k
    seen = keep.cumsum(dim=0, dtype=_count_dtype(m))  # (m, Co·G)
    positions = torch.stack([(seen <= k).sum(dim=0, dtype=_count_dtype(m)) for k in range(n)])  # (n, Co·G)
    values = columns.gather(0, positions.long())  # (n, Co·G), ascending positions within a group
    metadata = pack_bits(positions.T.flatten(), position_bits(m))
    return NMCompressed(values.T.reshape(groups.shape[0], -1), metadata, tuple(weight.shape), n, m)


def decompress_nm(compressed: NMCompressed) -> torch.Tensor:
    """The dense weight (shape and dtype of the original) with zeros at the pruned positions."""
    if not isinstance(compressed, NMCompressed):
        raise TypeError(f"compressed must be an NMCompressed, got {type(compressed).__name__}")
    n, m, values = compressed.n, compressed.m, compressed.values
    positions = unpack_bits(compressed.metadata, position_bits(m), values.numel()).view(-1, n).T  # (n, Co·G)
    columns = values.new_zeros(m, positions.shape[1])
    columns.scatter_(0, positions, values.reshape(-1, n).T)
    return _ungrouped(columns.T.reshape(values.shape[0], -1, m), compressed.shape)
