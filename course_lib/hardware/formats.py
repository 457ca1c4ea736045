"""Sparse storage formats (lesson 07): exact encoders, the bytes they really take, their formulas.

``encode(dense, fmt, **options)`` turns a dense 2-D tensor (R, C) into one of these encodings:

====== ======================================================================= ==================
fmt    arrays                                                                  options
====== ======================================================================= ==================
coo    values (nnz,), row_indices (nnz,), col_indices (nnz,)                   index_bits
csr    values (nnz,), col_indices (nnz,), row_ptr (R + 1,)                     index_bits
csc    values (nnz,), row_indices (nnz,), col_ptr (C + 1,)                     index_bits
bsr    values (nb, r, c) for the nb r x c blocks with a non-zero,              blocksize, pad,
       col_indices (nb,), row_ptr (ceil(R / r) + 1,)                           index_bits
bitmap values (nnz,), bitmap: one bit per entry, packed 8 to a byte            -
nm     values (R, C / M * N): N kept per group of M along a row,               n, m, pad
       metadata: each kept value's position in its group, ceil(log2 M) bits
eie    values and b-bit relative row indices (gaps), column by column, with    gap_bits,
       a padding zero wherever a gap exceeds 2^b - 1 (EIE, ISCA 2016),         index_bits
       col_ptr (C + 1,)
====== ======================================================================= ==================

Every encoding has ``.to_dense()`` (exact: the same tensor, dtype included), ``.nbytes`` (the bytes
its arrays really occupy) and ``.formula_bits()`` (the bits of each array, computed from the shape,
the counts and the widths alone). Bit fields are packed into whole bytes by ``core.pack_bits``
(least significant bit first, the 2:4 hardware's metadata layout), so ``nbytes`` equals
``formula_bytes()`` = sum over the arrays of ceil(bits / 8). Values keep the input's dtype; index
arrays use the smallest unsigned integer type that fits (8, 16, 32 or 64 bits) unless the caller
names a width. The storage formulas are also available without data (``storage_bits``).
COO, CSR, CSC and BSR convert to and from ``torch.sparse`` and ``scipy.sparse``.
"""

import inspect
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields

import numpy as np
import scipy.sparse
import torch
import torch.nn.functional as F

from ..core.bits import pack_bits, position_bits, unpack_bits
from ..core.validation import check_choice, check_positive_int
from ..pruning.nm import kept_per_group
from .nm_storage import NMCompressed, compress_nm, decompress_nm

INDEX_WIDTHS = (8, 16, 32, 64)


_INDEX_DTYPES = {8: torch.uint8, 16: torch.uint16, 32: torch.uint32, 64: torch.uint64}


# dtypes scipy.sparse can hold (it has no float16 or bfloat16)
_SCIPY_DTYPES = (torch.float32, torch.float64, torch.int8, torch.int16, torch.int32, torch.int64,
                 torch.uint8)


def index_bits_for(largest: int, index_bits: int | None = None) -> int:
    """Width of the index type for indices and pointers up to ``largest``.

    With ``index_bits=None`` the smallest of 8/16/32/64 bits that holds ``largest``; otherwise
    ``index_bits`` itself, after checking that it is one of those widths and is wide enough.
    """
    needed = next((w for w in INDEX_WIDTHS if largest < 2**w), None)
    if needed is None:
        raise ValueError(f"indices up to {largest} do not fit in 64 bits")
    if index_bits is None:
        return needed
    check_choice("index_bits", index_bits, INDEX_WIDTHS)
    if index_bits < needed:
        raise ValueError(
            f"index_bits={index_bits} is too small for this matrix: its indices and pointers reach "
            f"{largest}, which needs at least {needed} bits (allowed: {list(INDEX_WIDTHS)})"
        )
    return index_bits


def _narrow(largest: int, index_bits: int | None, *indices: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The integer ``indices`` stored in the unsigned type chosen by ``index_bits_for``."""
    dtype = _INDEX_DTYPES[index_bits_for(largest, index_bits)]
    return tuple(t.to(dtype) for t in indices)


class SparseMatrix(ABC):
    """What every encoding has: ``shape``, named arrays, exact ``to_dense``, measured and formula bytes."""

    shape: tuple[int, int]
    values: torch.Tensor

    @abstractmethod
    def to_dense(self) -> torch.Tensor:
        """The dense (R, C) tensor this encodes, in the values' dtype."""

    @abstractmethod
    def formula_bits(self) -> dict[str, int]:
        """Bits each array needs by the storage formula (array name -> bits)."""

    def arrays(self) -> dict[str, torch.Tensor]:
        """The tensors that make up the encoding, by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if isinstance(getattr(self, f.name), torch.Tensor)}

    @property
    def nbytes(self) -> int:
        """Bytes the arrays really occupy (numel * element size, summed)."""
        return sum(a.numel() * a.element_size() for a in self.arrays().values())

    def formula_bytes(self) -> int:
        """The formula's bits with every array rounded up to whole bytes; equals ``nbytes``."""
        return sum(-(-bits // 8) for bits in self.formula_bits().values())

    @property
    def value_bits(self) -> int:
        return self.values.element_size() * 8

    def __repr__(self) -> str:
        parts = ", ".join(f"{name}: {tuple(a.shape)} {str(a.dtype).removeprefix('torch.')}"
                          for name, a in self.arrays().items())
        return f"{type(self).__name__}(shape={self.shape}; {parts}; {self.nbytes:,} bytes)"


def _compressed(dense: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Row-major non-zeros of ``dense`` (R, C): values (nnz,), column indices (nnz,), row_ptr (R + 1,)."""
    dense = dense.contiguous()  # a transposed view is twice as slow to scan
    mask = dense != 0
    counts = mask.sum(1)
    row_ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
    return dense[mask], mask.nonzero()[:, 1], row_ptr


def _expand_ptr(ptr: torch.Tensor) -> torch.Tensor:
    """Which row (or column) each stored entry belongs to, from a pointer array (n + 1,)."""
    ptr = ptr.long()
    return torch.repeat_interleave(torch.arange(ptr.numel() - 1), ptr.diff())


def _scipy_values(values: torch.Tensor) -> np.ndarray:
    if values.dtype not in _SCIPY_DTYPES:
        raise TypeError(f"scipy.sparse cannot hold {values.dtype} values; convert them first "
                        "(for example .float())")
    return values.numpy()


@dataclass(frozen=True, eq=False, repr=False)
class COO(SparseMatrix):
    """Coordinate list: one (row, column, value) triple per non-zero, in row-major order."""

    shape: tuple[int, int]
    values: torch.Tensor       # (nnz,)
    row_indices: torch.Tensor  # (nnz,)
    col_indices: torch.Tensor  # (nnz,)

    @classmethod
    def encode(cls, dense, *, index_bits=None):
        mask = dense != 0
        rows, cols = mask.nonzero().T
        largest = max(dense.shape) - 1
        return cls(tuple(dense.shape), dense[mask], *_narrow(largest, index_bits, rows, cols))

    @staticmethod
    def storage_bits(shape, nnz, value_bits, index_bits) -> dict[str, int]:
        return {"values": nnz * value_bits, "row_indices": nnz * index_bits,
                "col_indices": nnz * index_bits}

    def formula_bits(self):
        return self.storage_bits(self.shape, self.values.numel(), self.value_bits,
                                 self.row_indices.element_size() * 8)

    def to_dense(self):
        out = self.values.new_zeros(self.shape)
        out[self.row_indices.long(), self.col_indices.long()] = self.values
        return out

    def to_torch(self) -> torch.Tensor:
        indices = torch.stack([self.row_indices.long(), self.col_indices.long()])
        return torch.sparse_coo_tensor(indices, self.values, self.shape, is_coalesced=True,
                                       check_invariants=True)

    def to_scipy(self):
        coords = (self.row_indices.long().numpy(), self.col_indices.long().numpy())
        return scipy.sparse.coo_array((_scipy_values(self.values), coords), shape=self.shape)


@dataclass(frozen=True, eq=False, repr=False)
class CSR(SparseMatrix):
    """Compressed sparse rows: values and column indices row by row; row i is
    ``values[row_ptr[i]:row_ptr[i + 1]]``."""

    shape: tuple[int, int]
    values: torch.Tensor       # (nnz,)
    col_indices: torch.Tensor  # (nnz,)
    row_ptr: torch.Tensor      # (R + 1,)

    @classmethod
    def encode(cls, dense, *, index_bits=None):
        values, cols, row_ptr = _compressed(dense)
        largest = max(dense.shape[1] - 1, values.numel())
        return cls(tuple(dense.shape), values, *_narrow(largest, index_bits, cols, row_ptr))

    @staticmethod
    def storage_bits(shape, nnz, value_bits, index_bits) -> dict[str, int]:
        return {"values": nnz * value_bits, "col_indices": nnz * index_bits,
                "row_ptr": (shape[0] + 1) * index_bits}

    def formula_bits(self):
        return self.storage_bits(self.shape, int(self.row_ptr[-1]), self.value_bits,
                                 self.row_ptr.element_size() * 8)

    def to_dense(self):
        out = self.values.new_zeros(self.shape)
        out[_expand_ptr(self.row_ptr), self.col_indices.long()] = self.values
        return out

    def to_torch(self) -> torch.Tensor:
        return torch.sparse_csr_tensor(self.row_ptr.long(), self.col_indices.long(), self.values,
                                       self.shape, check_invariants=True)

    def to_scipy(self):
        arrays = (_scipy_values(self.values), self.col_indices.long().numpy(),
                  self.row_ptr.long().numpy())
        return scipy.sparse.csr_array(arrays, shape=self.shape)


@dataclass(frozen=True, eq=False, repr=False)
class CSC(SparseMatrix):
    """Compressed sparse columns: CSR of the transpose; column j is ``values[col_ptr[j]:col_ptr[j + 1]]``."""

    shape: tuple[int, int]
    values: torch.Tensor       # (nnz,)
    row_indices: torch.Tensor  # (nnz,)
    col_ptr: torch.Tensor      # (C + 1,)

    @classmethod
    def encode(cls, dense, *, index_bits=None):
        values, rows, col_ptr = _compressed(dense.T)
        largest = max(dense.shape[0] - 1, values.numel())
        return cls(tuple(dense.shape), values, *_narrow(largest, index_bits, rows, col_ptr))

    @staticmethod
    def storage_bits(shape, nnz, value_bits, index_bits) -> dict[str, int]:
        return {"values": nnz * value_bits, "row_indices": nnz * index_bits,
                "col_ptr": (shape[1] + 1) * index_bits}

    def formula_bits(self):
        return self.storage_bits(self.shape, int(self.col_ptr[-1]), self.value_bits,
                                 self.col_ptr.element_size() * 8)

    def to_dense(self):
        out = self.values.new_zeros(self.shape)
        out[self.row_indices.long(), _expand_ptr(self.col_ptr)] = self.values
        return out

    def to_torch(self) -> torch.Tensor:
        return torch.sparse_csc_tensor(self.col_ptr.long(), self.row_indices.long(), self.values,
                                       self.shape, check_invariants=True)

    def to_scipy(self):
        arrays = (_scipy_values(self.values), self.row_indices.long().numpy(),
                  self.col_ptr.long().numpy())
        return scipy.sparse.csc_array(arrays, shape=self.shape)


def _check_blocksize(blocksize) -> tuple[int, int]:
    pair = (blocksize, blocksize) if isinstance(blocksize, int) else tuple(blocksize)
    if len(pair) != 2:
        raise ValueError(f"blocksize must be an int or a pair (r, c), got {blocksize!r}")
    for b in pair:
        check_positive_int("blocksize", b)
    return pair


@dataclass(frozen=True, eq=False, repr=False)
class BSR(SparseMatrix):
    """Block sparse rows: CSR whose entries are dense r x c blocks; only blocks with a non-zero are
    stored. With ``pad=True`` a shape the blocks do not divide is padded with zeros (not stored in
    ``shape``, which stays the original one)."""

    shape: tuple[int, int]
    values: torch.Tensor       # (nb, r, c)
    col_indices: torch.Tensor  # (nb,)  block column of each stored block
    row_ptr: torch.Tensor      # (ceil(R / r) + 1,)

    @property
    def blocksize(self) -> tuple[int, int]:
        return tuple(self.values.shape[1:])

    @property
    def padded(self) -> bool:
        r, c = self.blocksize
        return self.shape[0] % r != 0 or self.shape[1] % c != 0

    @classmethod
    def encode(cls, dense, *, blocksize, pad=False, index_bits=None):
        r, c = _check_blocksize(blocksize)
        rows, cols = dense.shape
        if (rows % r or cols % c) and not pad:
            raise ValueError(f"blocksize {(r, c)} does not divide the shape {(rows, cols)}; "
                             "pass pad=True to pad the matrix with zeros")
        n_block_rows, n_block_cols = -(-rows // r), -(-cols // c)
        padded = F.pad(dense, (0, n_block_cols * c - cols, 0, n_block_rows * r - rows))
        blocks = padded.view(n_block_rows, r, n_block_cols, c).transpose(1, 2)  # (Rb, Cb, r, c)
        keep = (blocks != 0).flatten(2).any(2)                                 # (Rb, Cb)
        counts = keep.sum(1)
        row_ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
        block_cols = keep.nonzero()[:, 1]
        largest = max(n_block_cols - 1, block_cols.numel())
        return cls((rows, cols), blocks[keep], *_narrow(largest, index_bits, block_cols, row_ptr))

    @staticmethod
    def storage_bits(shape, n_blocks, value_bits, index_bits, blocksize) -> dict[str, int]:
        r, c = blocksize
        return {"values": n_blocks * r * c * value_bits, "col_indices": n_blocks * index_bits,
                "row_ptr": (-(-shape[0] // r) + 1) * index_bits}

    def formula_bits(self):
        return self.storage_bits(self.shape, int(self.row_ptr[-1]), self.value_bits,
                                 self.row_ptr.element_size() * 8, self.blocksize)

    def to_dense(self):
        (r, c), n_block_rows = self.blocksize, self.row_ptr.numel() - 1
        n_block_cols = -(-self.shape[1] // c)
        blocks = self.values.new_zeros(n_block_rows, n_block_cols, r, c)
        blocks[_expand_ptr(self.row_ptr), self.col_indices.long()] = self.values
        full = blocks.transpose(1, 2).reshape(n_block_rows * r, n_block_cols * c)
        return full[: self.shape[0], : self.shape[1]]

    def _check_unpadded(self, library: str) -> None:
        if self.padded:
            raise ValueError(f"{library} BSR needs blocks that divide the shape; this encoding pads "
                             f"{self.shape} to blocks of {self.blocksize}")

    def to_torch(self) -> torch.Tensor:
        self._check_unpadded("torch.sparse")
        return torch.sparse_bsr_tensor(self.row_ptr.long(), self.col_indices.long(), self.values,
                                       self.shape, check_invariants=True)

    def to_scipy(self):
        self._check_unpadded("scipy.sparse")
        arrays = (_scipy_values(self.values), self.col_indices.long().numpy(),
                  self.row_ptr.long().numpy())
        return scipy.sparse.bsr_array(arrays, shape=self.shape, blocksize=self.blocksize)


@dataclass(frozen=True, eq=False, repr=False)
class Bitmap(SparseMatrix):
    """One bit per entry (1 = non-zero, row-major, packed 8 to a byte) and the non-zero values."""

    shape: tuple[int, int]
    values: torch.Tensor  # (nnz,)
    bitmap: torch.Tensor  # (ceil(R * C / 8),) uint8

    @classmethod
    def encode(cls, dense):
        mask = dense != 0
        return cls(tuple(dense.shape), dense[mask], pack_bits(mask.flatten(), 1))

    @staticmethod
    def storage_bits(shape, nnz, value_bits) -> dict[str, int]:
        return {"values": nnz * value_bits, "bitmap": shape[0] * shape[1]}

    def mask(self) -> torch.Tensor:
        """The unpacked bitmap: (R, C) bool, True at the non-zeros."""
        return unpack_bits(self.bitmap, 1, math.prod(self.shape)).bool().view(self.shape)

    def formula_bits(self):
        return self.storage_bits(self.shape, int(self.mask().sum()), self.value_bits)

    def to_dense(self):
        out = self.values.new_zeros(self.shape)
        out[self.mask()] = self.values
        return out


@dataclass(frozen=True, eq=False, repr=False)
class EIE(SparseMatrix):
    """EIE's relative indexing (Han et al., ISCA 2016), column by column.

    Each stored entry has a value and a ``gap_bits``-bit code: the number of zeros between it and the
    previous stored entry of its column (or the column's start). A gap larger than 2^b - 1 cannot be
    written, so a padding zero is stored after 2^b - 1 zeros and counting starts again from it.
    Column j is entries ``col_ptr[j]:col_ptr[j + 1]``; padding zeros count as stored entries.
    """

    shape: tuple[int, int]
    values: torch.Tensor   # (n_stored,) non-zeros and padding zeros
    gaps: torch.Tensor     # (ceil(n_stored * b / 8),) uint8, b-bit codes packed
    col_ptr: torch.Tensor  # (C + 1,)
    gap_bits: int = 4

    @classmethod
    def encode(cls, dense, *, gap_bits=4, index_bits=None):
        check_positive_int("gap_bits", gap_bits)
        if gap_bits > 8:
            raise ValueError(f"gap_bits must be between 1 and 8, got {gap_bits!r}")
        values, rows, col_ptr = _compressed(dense.T)       # column-major non-zeros
        cols = _expand_ptr(col_ptr)
        first = torch.ones_like(cols, dtype=torch.bool)    # first non-zero of its column
        first[1:] = cols[1:] != cols[:-1]
        previous = torch.where(first, -1, rows.roll(1))
        gap = rows - previous - 1                           # zeros skipped before each non-zero
        span = 2**gap_bits                                  # a padding zero skips 2^b - 1 zeros + itself
        ends = (gap // span + 1).cumsum(0)                  # stored entries up to each non-zero
        n_stored = int(ends[-1]) if ends.numel() else 0
        stored_values = values.new_zeros(n_stored)
        stored_values[ends - 1] = values
        codes = torch.full((n_stored,), span - 1)
        codes[ends - 1] = gap % span
        stored_ptr = torch.cat([ends.new_zeros(1), ends])[col_ptr]
        (stored_ptr,) = _narrow(n_stored, index_bits, stored_ptr)
        return cls(tuple(dense.shape), stored_values, pack_bits(codes, gap_bits), stored_ptr,
                   gap_bits)

    @staticmethod
    def storage_bits(shape, n_stored, value_bits, gap_bits, index_bits) -> dict[str, int]:
        return {"values": n_stored * value_bits, "gaps": n_stored * gap_bits,
                "col_ptr": (shape[1] + 1) * index_bits}

    def formula_bits(self):
        return self.storage_bits(self.shape, int(self.col_ptr[-1]), self.value_bits,
                                 self.gap_bits, self.col_ptr.element_size() * 8)

    @property
    def n_padding(self) -> int:
        """How many padding zeros the gaps forced."""
        return int((self.values == 0).sum())

    def gap_codes(self) -> torch.Tensor:
        """The unpacked gaps: (n_stored,) int64, zeros skipped before each stored entry."""
        return unpack_bits(self.gaps, self.gap_bits, int(self.col_ptr[-1]))

    def to_dense(self):
        steps = (self.gap_codes() + 1).cumsum(0)           # running count of rows consumed
        cols = _expand_ptr(self.col_ptr)
        before_column = torch.cat([steps.new_zeros(1), steps])[self.col_ptr[:-1].long()]
        rows = steps - 1 - before_column[cols]             # position within the column
        out = self.values.new_zeros(self.shape)
        out[rows, cols] = self.values
        return out


@dataclass(frozen=True, eq=False, repr=False)
class NM(SparseMatrix):
    """N:M structured sparsity, stored as ``hardware.compress_nm`` stores it: in every group of
    ``m`` consecutive entries of a row (the reduction dimension of a Linear weight) exactly ``n``
    values, and each one's position in its group as ceil(log2 m) bits of metadata (2 bits for 2:4,
    as on the A100). A group with fewer than ``n`` non-zeros stores some zeros. With ``pad=True`` rows
    are zero-padded to a multiple of ``m``."""

    shape: tuple[int, int]
    values: torch.Tensor    # (R, ceil(C / m) * n)
    metadata: torch.Tensor  # (ceil(R * ceil(C / m) * n * ceil(log2 m) / 8),) uint8
    n: int = 2
    m: int = 4

    @classmethod
    def encode(cls, dense, *, n=2, m=4, pad=False):
        crowded = int((kept_per_group(dense, m, pad) > n).sum())
        if crowded:
            raise ValueError(f"dense is not {n}:{m} sparse: {crowded} groups of {m} have more than "
                             f"{n} non-zeros; prune it with pruning.nm_mask first")
        # compress_nm takes floating weights; float64 holds every integer value of int8 exactly
        compressed = compress_nm(dense if dense.is_floating_point() else dense.double(), n, m, pad)
        return cls(tuple(dense.shape), compressed.values.to(dense.dtype), compressed.metadata, n, m)

    @staticmethod
    def storage_bits(shape, value_bits, n, m) -> dict[str, int]:
        kept = shape[0] * -(-shape[1] // m) * n
        return {"values": kept * value_bits, "metadata": kept * position_bits(m)}

    def formula_bits(self):
        return self.storage_bits(self.shape, self.value_bits, self.n, self.m)

    def to_dense(self):
        return decompress_nm(NMCompressed(self.values, self.metadata, self.shape, self.n, self.m))


FORMATS: dict[str, type[SparseMatrix]] = {
    "coo": COO, "csr": CSR, "csc": CSC, "bsr": BSR, "bitmap": Bitmap, "nm": NM, "eie": EIE,
}


def _check_dense(dense) -> torch.Tensor:
    if not isinstance(dense, torch.Tensor):
        raise TypeError(f"dense must be a torch.Tensor, got {type(dense).__name__}")
    if dense.layout != torch.strided:
        raise TypeError(f"dense must be a dense (strided) tensor, got layout {dense.layout}; "
                        "use from_torch for torch.sparse tensors")
    if dense.dim() != 2:
        raise ValueError(f"dense must be a 2-D tensor (rows, cols), got shape {tuple(dense.shape)}")
    if dense.dtype == torch.bool or dense.is_complex():
        raise TypeError(f"dense must hold real floating-point or integer values, got {dense.dtype}")
    return dense.detach().cpu().contiguous()


def encode(dense: torch.Tensor, fmt: str, **options) -> SparseMatrix:
    """Encode ``dense`` (R, C) in format ``fmt`` (one of ``FORMATS``); see the module docstring for
    each format's arrays and options. ``encode(w, "csr").to_dense()`` equals ``w`` exactly."""
    check_choice("fmt", fmt, FORMATS)
    encoder = FORMATS[fmt].encode
    allowed = set(inspect.signature(encoder).parameters) - {"dense"}
    unknown = set(options) - allowed
    if unknown:
        raise TypeError(f"format {fmt!r} takes the options {sorted(allowed)}, "
                        f"got unknown {sorted(unknown)}")
    return encoder(_check_dense(dense), **options)


def from_torch(tensor: torch.Tensor, index_bits: int | None = None) -> SparseMatrix:
    """The kit's encoding of a 2-D ``torch.sparse`` tensor (COO, CSR, CSC or BSR layout), with the
    same arrays; stored entries are kept as they are (explicit zeros included)."""
    layouts = {torch.sparse_coo: "coo", torch.sparse_csr: "csr", torch.sparse_csc: "csc",
               torch.sparse_bsr: "bsr"}
    if not isinstance(tensor, torch.Tensor) or tensor.layout not in layouts:
        raise TypeError("tensor must be a torch.sparse tensor with layout sparse_coo, sparse_csr, "
                        f"sparse_csc or sparse_bsr, got {getattr(tensor, 'layout', type(tensor))}")
    if tensor.dim() != 2 or tensor.dense_dim() != 0:
        raise ValueError(f"tensor must be a 2-D sparse matrix without dense dimensions, got shape "
                         f"{tuple(tensor.shape)} with {tensor.dense_dim()} dense dimensions")
    shape = tuple(tensor.shape)
    fmt = layouts[tensor.layout]
    if fmt == "coo":
        tensor = tensor.coalesce()
        rows, cols = tensor.indices()
        return COO(shape, tensor.values(), *_narrow(max(shape) - 1, index_bits, rows, cols))
    if fmt == "csc":
        ptr, minor = tensor.ccol_indices(), tensor.row_indices()
    else:  # csr and bsr
        ptr, minor = tensor.crow_indices(), tensor.col_indices()
    return _from_compressed(fmt, shape, tensor.values(), minor, ptr, index_bits)


def _from_compressed(fmt, shape, values, minor, ptr, index_bits) -> SparseMatrix:
    """A CSR, CSC or BSR encoding from a library's (values, minor indices, pointers)."""
    if fmt == "bsr":
        minor_size = -(-shape[1] // values.shape[2])  # block columns
    else:
        minor_size = shape[1] if fmt == "csr" else shape[0]
    largest = max(minor_size - 1, int(ptr[-1]))
    return FORMATS[fmt](shape, values, *_narrow(largest, index_bits, minor, ptr))


def from_scipy(matrix, index_bits: int | None = None) -> SparseMatrix:
    """The kit's encoding of a ``scipy.sparse`` array or matrix in COO, CSR, CSC or BSR format,
    with the same arrays after scipy's own canonicalisation (sorted indices, duplicates summed)."""
    if not scipy.sparse.issparse(matrix) or matrix.format not in ("coo", "csr", "csc", "bsr"):
        raise TypeError("matrix must be a scipy.sparse array in coo, csr, csc or bsr format, got "
                        f"{getattr(matrix, 'format', type(matrix).__name__)!r}")
    matrix = matrix.copy()
    matrix.sum_duplicates()
    shape = tuple(int(s) for s in matrix.shape)
    values = torch.from_numpy(matrix.data)
    if matrix.format == "coo":
        rows, cols = (torch.from_numpy(a.astype(np.int64)) for a in (matrix.row, matrix.col))
        return COO(shape, values, *_narrow(max(shape) - 1, index_bits, rows, cols))
    minor, ptr = (torch.from_numpy(a.astype(np.int64)) for a in (matrix.indices, matrix.indptr))
    return _from_compressed(matrix.format, shape, values, minor, ptr, index_bits)
