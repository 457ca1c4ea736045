"""Sparse operands for the SpGEMM simulator (lesson 08): conversion to scipy CSR, the useful
multiplications of a product, and seeded test matrices.

Shapes: ``A`` is (M, K), ``B`` is (K, N). nnz(X) counts the stored non-zeros of X. Every simulated
dataflow (``course_lib.hardware.spgemm``) works on the float64 CSR form ``as_csr`` returns.
"""

import numpy as np
import scipy.sparse as sp
import torch

from ..core.validation import check_choice, check_fraction, check_positive_int

MATRIX_KINDS = ("uniform", "power_law", "banded")


def as_csr(x, name: str) -> sp.csr_matrix:
    """A 2-D scipy, torch (sparse or dense) or numpy matrix as a float64 scipy CSR matrix with
    sorted indices and no explicit zeros."""
    if isinstance(x, torch.Tensor):
        if x.dim() != 2:
            raise ValueError(f"{name} must be a 2-D matrix, got a tensor of shape {tuple(x.shape)}")
        x = x.to_sparse_coo().coalesce() if x.layout != torch.strided else x
        if x.layout == torch.sparse_coo:
            rows, cols = x.indices().numpy()
            x = sp.coo_matrix((x.values().double().numpy(), (rows, cols)), shape=tuple(x.shape))
        else:
            x = x.detach().double().numpy()
    if sp.issparse(x):
        if len(x.shape) != 2:
            raise ValueError(f"{name} must be a 2-D matrix, got shape {x.shape}")
        out = sp.csr_matrix(x, dtype=np.float64)
    elif isinstance(x, np.ndarray):
        if x.ndim != 2:
            raise ValueError(f"{name} must be a 2-D matrix, got an array of shape {x.shape}")
        out = sp.csr_matrix(x.astype(np.float64))
    else:
        raise TypeError(
            f"{name} must be a scipy.sparse matrix, a torch tensor or a numpy array, got {type(x).__name__}"
        )
    out.sum_duplicates()
    out.eliminate_zeros()
    out.sort_indices()
    return out


def csr_operands(A, B) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """A (M, K) and B (K, N) as ``as_csr`` matrices; raises ``ValueError`` when K differs."""
    A, B = as_csr(A, "A"), as_csr(B, "B")
    if A.shape[1] != B.shape[0]:
        raise ValueError(
            f"A has shape {A.shape} and B has shape {B.shape}: A's number of columns "
            f"({A.shape[1]}) must equal B's number of rows ({B.shape[0]})"
        )
    return A, B


def count_multiplications(A, B) -> int:
    """Useful multiplications of A @ B: sum over k of nnz(A[:, k]) * nnz(B[k, :]). Every dataflow
    performs exactly these (the inner product also compares indices that do not match)."""
    A, B = csr_operands(A, B)
    return int(np.dot(np.bincount(A.indices, minlength=A.shape[1]), np.diff(B.indptr)))


def sparse_matrix(kind: str, n: int, density: float, seed: int = 0) -> sp.csr_matrix:
    """An (n, n) test matrix with about ``density * n * n`` non-zeros, integer values 1..9 (so
    products and sums are exact in float64), made from ``seed``.

    ``"uniform"``: positions drawn uniformly (a random sparse matrix). ``"power_law"``: row and
    column of each non-zero drawn with probability proportional to 1/rank, then mirrored (an
    undirected graph with hubs: a few very long rows, and the same columns). ``"banded"``: a full
    band |i - j| <= b around the diagonal (a finite-element-like stencil), b set by the density.
    """
    check_choice("kind", kind, set(MATRIX_KINDS))
    n = check_positive_int("n", n)
    density = check_fraction("density", density)
    rng = np.random.default_rng(seed)
    target = round(density * n * n)
    if kind == "banded":
        half = max(round((density * n - 1) / 2), 0)
        rows = np.repeat(np.arange(n), 2 * half + 1)
        cols = rows + np.tile(np.arange(-half, half + 1), n)
        inside = (cols >= 0) & (cols < n)
        rows, cols = rows[inside], cols[inside]
    else:
        if kind == "uniform":
            weights = np.full(n, 1.0 / n)
        else:
            weights = 1.0 / np.arange(1, n + 1)
            weights /= weights.sum()
        rows, cols = rng.choice(n, size=(2, target // 2 if kind == "power_law" else target), p=weights)
        if kind == "power_law":  # an undirected graph: symmetric, hubs spread over the indices
            relabel = rng.permutation(n)
            rows, cols = np.r_[relabel[rows], relabel[cols]], np.r_[relabel[cols], relabel[rows]]
    values = rng.integers(1, 10, size=rows.size).astype(np.float64)
    matrix = sp.coo_matrix((values, (rows, cols)), shape=(n, n)).tocsr()
    matrix.data[:] = rng.integers(1, 10, size=matrix.nnz)  # duplicates were summed: redraw values
    return matrix
