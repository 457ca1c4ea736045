"""Bit packing: small unsigned codes (N:M positions, EIE gaps) packed densely into uint8 bytes, and
the bits needed to index m positions. Shared by the N:M compressor and the sparse formats."""

import torch

from .validation import check_positive_int


def position_bits(m: int) -> int:
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
    if values.numel() and (values.min() < 0 or values.max() >= 2**bits):
        raise ValueError(
            f"values must lie in [0, {2**bits}) to fit in bits={bits}, "
            f"got range [{int(values.min())}, {int(values.max())}]"
        )
    planes = (values.flatten().to(torch.uint8)[:, None] >> torch.arange(bits, dtype=torch.uint8)) & 1
    stream = torch.nn.functional.pad(planes.flatten(), (0, -planes.numel() % 8)).view(-1, 8)
    return (stream << torch.arange(8, dtype=torch.uint8)).sum(dim=1, dtype=torch.uint8)


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
    stream = (packed[:, None] >> torch.arange(8, dtype=torch.uint8)) & 1  # (bytes, 8)
    planes = stream.flatten()[: count * bits].view(count, bits)
    return (planes << torch.arange(bits, dtype=torch.uint8)).sum(dim=1, dtype=torch.uint8).long()
