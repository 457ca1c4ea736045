"""N:M sparsity: in every group of ``m`` consecutive weights along the reduction dimension, keep ``n``.

The reduction dimension is the one a matrix multiply sums over. A Linear weight (Co, Ci) is already
laid out that way. A Conv weight (Co, Ci, Kh, Kw) is multiplied as an implicit GEMM over channels-last
(NHWC) activations, so the hardware sees each output channel's row ordered (Kh, Kw, Ci) with the input
channel fastest; ``reduction_matrix`` gives that (Co, Kh·Kw·Ci) view, and groups of ``m`` run along it.
This is also the layout NVIDIA's ASP prunes, and why permuting input channels can move weights between
groups.

The 2:4 hardware format (A100 sparse tensor cores) stores the kept half of the values plus, for each
kept value, its 2-bit position in its group of 4: 4 bits of metadata per group. For fp16 that is
(16 + 2) / 2 bits per original weight, 9/16 of dense.
"""

import math
from dataclasses import dataclass

import torch

from .validation import check_positive_int

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


# --- layout -------------------------------------------------------------------------------------


def _check_weight(weight) -> torch.Tensor:
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"weight must be a torch.Tensor, got {type(weight).__name__}")
    if weight.dim() < 2:
        raise ValueError(
            f"weight must have at least 2 dimensions (Linear (Co, Ci) or Conv (Co, Ci, Kh, Kw)), "
            f"got shape {tuple(weight.shape)}"
        )
    if weight.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"weight must have a floating dtype ({', '.join(map(str, FLOAT_DTYPES))}), got {weight.dtype}"
        )
    return weight


def _check_nm(n, m) -> tuple[int, int]:
    check_positive_int("m", m)
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an integer with 0 < n <= m (m={m}), got {n!r}")
    if not 0 < n <= m:
        raise ValueError(f"n must satisfy 0 < n <= m (m={m}), got n={n}")
    return n, m


def reduction_matrix(weight: torch.Tensor) -> torch.Tensor:
    """The weight as the hardware multiplies it: (Co, K) with K = Ci·Kh·Kw ordered (Kh, Kw, Ci).

    Linear (Co, Ci) is returned as is; Conv (Co, Ci, *kernel) becomes channels-last, then flattened.
    """
    return _check_weight(weight).movedim(1, -1).reshape(weight.shape[0], -1)


def from_reduction_matrix(matrix: torch.Tensor, shape) -> torch.Tensor:
    """Inverse of ``reduction_matrix``: (Co, K) back to the weight's ``shape`` (Co, Ci, *kernel)."""
    shape = tuple(shape)
    channels_last = (shape[0], *shape[2:], shape[1])
    return matrix.reshape(channels_last).movedim(-1, 1)


def _grouped(weight: torch.Tensor, m: int, pad: bool) -> torch.Tensor:
    """(Co, G, m) groups along the reduction dimension; zero-padded at the end of each row if ``pad``."""
    matrix = weight.movedim(1, -1).reshape(weight.shape[0], -1)  # (Co, K), as reduction_matrix
    k = matrix.shape[1]
    if k % m:
        if not pad:
            raise ValueError(
                f"the reduction size K = Ci·Kh·Kw = {k} of weight with shape {tuple(weight.shape)} is "
                f"not a multiple of m={m}; pass pad=True to zero-pad each row to a multiple of m, or "
                "leave this layer dense (NVIDIA's ASP skips such layers)"
            )
        matrix = torch.nn.functional.pad(matrix, (0, m - k % m))
    return matrix.reshape(matrix.shape[0], -1, m)


def _ungrouped(groups: torch.Tensor, shape) -> torch.Tensor:
    """Inverse of ``_grouped``: drop the padding and restore ``shape``."""
    k = math.prod(shape[1:])
    return from_reduction_matrix(groups.reshape(groups.shape[0], -1)[:, :k], shape)


# --- masks --------------------------------------------------------------------------------------


def _group_mask(scores: torch.Tensor, n: int) -> torch.Tensor:
    """Keep the ``n`` largest of each last-dimension group of ``scores`` (..., m).

    Ties are broken by position like ``pruning.keep_largest``: earlier entries are pruned first.
    """
    m = scores.shape[-1]
    mask = torch.ones_like(scores, dtype=torch.bool)
    if n < m:
        order = scores.argsort(dim=-1, stable=True)  # ascending; ties keep their order
        mask.scatter_(-1, order[..., : m - n], False)
    return mask


def nm_mask(weight: torch.Tensor, n: int, m: int, pad: bool = False) -> torch.Tensor:
    """Boolean mask of ``weight``'s shape keeping the ``n`` largest |w| in every group of ``m``.

    Groups are ``m`` consecutive weights of ``reduction_matrix(weight)`` (per output channel, input
    channel fastest). A reduction size that ``m`` does not divide is an error unless ``pad=True``:
    then each row is padded with zeros to a multiple of ``m`` and the last group may keep padding.
    """
    return _ungrouped(_kept_groups(weight, n, m, pad), weight.shape)


def _kept_groups(weight: torch.Tensor, n: int, m: int, pad: bool) -> torch.Tensor:
    """(Co, G, m) bool: the N:M choice per group, padding included (exactly ``n`` True per group)."""
    _check_weight(weight)
    n, m = _check_nm(n, m)
    return _group_mask(_grouped(weight.detach().abs(), m, pad), n)


def kept_per_group(mask: torch.Tensor, m: int, pad: bool = False) -> torch.Tensor:
    """(Co, G) number of True entries in each group of ``m`` of a mask (or non-zeros of a weight)."""
    check_positive_int("m", m)
    if not isinstance(mask, torch.Tensor) or mask.dim() < 2:
        raise TypeError(f"mask must be a torch.Tensor with at least 2 dimensions, got {mask!r}")
    return _grouped((mask != 0).float(), m, pad).sum(dim=-1).long()


def kept_magnitude(weight: torch.Tensor, mask: torch.Tensor) -> float:
    """Sum of |w| over the kept entries, in float64 (the quantity N:M masks and permutations maximise)."""
    if mask.shape != weight.shape:
        raise ValueError(f"mask has shape {tuple(mask.shape)}, weight has {tuple(weight.shape)}")
    return float(weight.detach().double().abs()[mask].sum())


def nm_masks(model: torch.nn.Module, n: int, m: int) -> tuple[dict, dict]:
    """N:M masks for every Conv2d/Linear weight whose reduction size ``m`` divides.

    Returns ``(masks, skipped)``: parameter name -> mask, and parameter name -> reduction size for the
    layers left dense, as NVIDIA's ASP does for layers whose shape the sparse kernels cannot take.
    """
    from .pruning import prunable_weights

    n, m = _check_nm(n, m)
    masks, skipped = {}, {}
    for name, weight in prunable_weights(model).items():
        k = math.prod(weight.shape[1:])
        if k % m:
            skipped[name] = k
        else:
            masks[name] = nm_mask(weight, n, m)
    return masks, skipped


# --- compression: kept values + packed position metadata ----------------------------------------


def index_bits(m: int) -> int:
    """Bits needed for a position inside a group of ``m``: ceil(log2 m) (2 for m = 4, 0 for m = 1)."""
    check_positive_int("m", m)
    return (m - 1).bit_length()


def pack_bits(values: torch.Tensor, bits: int) -> torch.Tensor:
    """Pack integers in [0, 2**bits) into a uint8 stream, ``bits`` each, least significant bits first.

    Value i occupies stream bits [i·bits, (i+1)·bits); stream bit j is bit j % 8 of byte j // 8. For
    ``bits=2`` that is the 2:4 hardware layout: a byte holds 4 positions, the first in bits 1..0.
    values (L,) integer -> (ceil(L·bits / 8),) uint8.
    """
    if not isinstance(bits, int) or isinstance(bits, bool) or not 0 <= bits <= 8:
        raise ValueError(f"bits must be an integer in [0, 8], got {bits!r}")
    if not isinstance(values, torch.Tensor) or values.is_floating_point() or values.is_complex():
        got = getattr(values, "dtype", type(values))
        raise TypeError(f"values must be an integer torch.Tensor, got {got}")
    values = values.flatten().long()
    if values.numel() and (values.min() < 0 or values.max() >= 2**bits):
        raise ValueError(
            f"values must lie in [0, {2**bits}) to fit in bits={bits}, "
            f"got range [{int(values.min())}, {int(values.max())}]"
        )
    stream = ((values[:, None] >> torch.arange(bits)) & 1).flatten()  # (L·bits,)
    stream = torch.nn.functional.pad(stream, (0, -stream.numel() % 8)).view(-1, 8)
    return (stream << torch.arange(8)).sum(dim=1).to(torch.uint8)


def unpack_bits(packed: torch.Tensor, bits: int, count: int) -> torch.Tensor:
    """Inverse of ``pack_bits``: the first ``count`` values of ``bits`` bits each, as int64 (count,)."""
    if not isinstance(packed, torch.Tensor) or packed.dtype != torch.uint8:
        got = getattr(packed, "dtype", type(packed))
        raise TypeError(f"packed must be a uint8 torch.Tensor, got {got}")
    if not isinstance(count, int) or count < 0 or count * bits > 8 * packed.numel():
        raise ValueError(
            f"count must be an integer in [0, {8 * packed.numel() // max(bits, 1)}] for "
            f"{packed.numel()} bytes of {bits}-bit values, got {count!r}"
        )
    stream = ((packed.long()[:, None] >> torch.arange(8)) & 1).flatten()[: count * bits]
    return (stream.view(count, bits) << torch.arange(bits)).sum(dim=1)


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
    return kept * itemsize, math.ceil(kept * index_bits(m) / 8)


@dataclass(frozen=True)
class NMCompressed:
    """An N:M-compressed weight.

    values: (Co, G·n) kept values in reduction order, the weight's dtype; metadata: packed uint8
    positions (``index_bits(m)`` bits per kept value, row-major); shape: the dense weight's shape.
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
    keep = _kept_groups(weight, n, m, pad)  # (Co, G, m) bool, exactly n True per group
    groups = _grouped(weight.detach(), m, pad)  # (Co, G, m)
    # positions of the kept entries, ascending within each group: (Co, G, n)
    positions = torch.arange(m).expand_as(keep)[keep].view(*keep.shape[:2], n)
    values = groups.gather(-1, positions).reshape(groups.shape[0], -1)  # (Co, G·n)
    metadata = pack_bits(positions.flatten(), index_bits(m))
    return NMCompressed(values.clone(), metadata, tuple(weight.shape), n, m)


def decompress_nm(compressed: NMCompressed) -> torch.Tensor:
    """The dense weight (shape and dtype of the original) with zeros at the pruned positions."""
    if not isinstance(compressed, NMCompressed):
        raise TypeError(f"compressed must be an NMCompressed, got {type(compressed).__name__}")
    n, m, values = compressed.n, compressed.m, compressed.values
    rows = values.shape[0]
    positions = unpack_bits(compressed.metadata, index_bits(m), values.numel()).view(rows, -1, n)
    groups = values.new_zeros(rows, positions.shape[1], m)
    groups.scatter_(-1, positions, values.view(rows, -1, n))
    return _ungrouped(groups, compressed.shape)
