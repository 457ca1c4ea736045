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

import torch

from ..core.modules import prunable_weights
from ..core.validation import FLOAT_DTYPES, check_fraction, check_positive_int


def _check_matrix_like(tensor, name: str) -> torch.Tensor:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dim() < 2:
        raise ValueError(
            f"{name} must have at least 2 dimensions (Linear (Co, Ci) or Conv (Co, Ci, Kh, Kw)), "
            f"got shape {tuple(tensor.shape)}"
        )
    return tensor


def _check_weight(weight) -> torch.Tensor:
    if _check_matrix_like(weight, "weight").dtype not in FLOAT_DTYPES:
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


def check_target(sparsity, n, m) -> None:
    """Exactly one pruning target: an unstructured ``sparsity`` in [0, 1], or ``n:m`` with 0 < n <= m."""
    if (sparsity is None) == (n is None and m is None):
        raise ValueError(f"give either sparsity or both n and m (not both, not neither), got "
                         f"sparsity={sparsity!r}, n={n!r}, m={m!r}")
    if sparsity is None:
        if n is None or m is None:
            raise ValueError(f"n and m must be given together (n:m sparsity), got n={n!r}, m={m!r}")
        _check_nm(n, m)
    else:
        check_fraction("sparsity", sparsity)


def reduction_matrix(weight: torch.Tensor) -> torch.Tensor:
    """The weight as the hardware multiplies it: (Co, K) with K = Ci·Kh·Kw ordered (Kh, Kw, Ci).

    Linear (Co, Ci) is returned as is; Conv (Co, Ci, *kernel) becomes channels-last, then flattened.
    Works for masks too (any dtype).
    """
    return _check_matrix_like(weight, "weight").movedim(1, -1).reshape(weight.shape[0], -1)


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


def _columns(groups: torch.Tensor) -> torch.Tensor:
    """(m, Co·G) contiguous: row i holds entry i of every group of ``groups`` (Co, G, m), so that the
    per-group work is m long vector operations rather than millions of tiny ones."""
    return groups.reshape(-1, groups.shape[-1]).T.contiguous()


def _count_dtype(m: int) -> torch.dtype:
    """The smallest integer dtype that counts up to ``m``."""
    return torch.uint8 if m < 256 else torch.int32


def _keep_columns(scores: torch.Tensor, n: int) -> torch.Tensor:
    """(m, G) bool keeping the ``n`` largest entries of each column of ``scores`` (m, G).

    An entry's rank is how many members of its group beat it; it is kept when rank < n. On ties the
    later entry wins, so earlier entries are pruned first, as in ``core.keep_largest``. The
    m(m-1)/2 pairwise comparisons are each one vector operation over all groups: for the small m of
    N:M patterns this is several times faster than sorting every group.
    """
    m = scores.shape[0]
    rank = torch.zeros_like(scores, dtype=_count_dtype(m))
    for i in range(m):
        for j in range(i + 1, m):
            later_wins = scores[j] >= scores[i]
            rank[i] += later_wins
            rank[j] += ~later_wins
    return rank < n


def nm_mask(weight: torch.Tensor, n: int, m: int, pad: bool = False) -> torch.Tensor:
    """Boolean mask of ``weight``'s shape keeping the ``n`` largest |w| in every group of ``m``.

    Groups are ``m`` consecutive weights of ``reduction_matrix(weight)`` (per output channel, input
    channel fastest). A reduction size that ``m`` does not divide is an error unless ``pad=True``:
    then each row is padded with zeros to a multiple of ``m`` and the last group may keep padding.
    Ties are broken by position: earlier entries are pruned first.
    """
    _check_weight(weight)
    n, m = _check_nm(n, m)
    scores = _grouped(weight.detach().abs(), m, pad)  # (Co, G, m)
    keep = _keep_columns(_columns(scores), n)  # (m, Co·G)
    return _ungrouped(keep.T.reshape(scores.shape), weight.shape)


def kept_per_group(mask: torch.Tensor, m: int, pad: bool = False) -> torch.Tensor:
    """(Co, G) number of True entries in each group of ``m`` of a mask (or non-zeros of a weight)."""
    check_positive_int("m", m)
    return _grouped((_check_matrix_like(mask, "mask") != 0).float(), m, pad).sum(dim=-1).long()


def kept_magnitude(weight: torch.Tensor, mask: torch.Tensor) -> float:
    """Sum of |w| over the kept entries, in float64 (the quantity N:M masks and permutations maximise)."""
    if mask.shape != weight.shape:
        raise ValueError(f"mask has shape {tuple(mask.shape)}, weight has {tuple(weight.shape)}")
    return float(weight.detach().double().abs()[mask].sum())


def nm_masks(model: torch.nn.Module, n: int, m: int) -> dict[str, torch.Tensor]:
    """N:M masks for every Conv2d/Linear weight whose reduction size ``m`` divides: parameter name ->
    mask. A layer it does not fit is left dense and absent from the result (as NVIDIA's ASP does for
    shapes the sparse kernels cannot take): see :func:`nm_incompatible`."""
    n, m = _check_nm(n, m)
    return {name: nm_mask(w, n, m) for name, w in prunable_weights(model).items() if name not in
            nm_incompatible(model, m)}


def nm_incompatible(model: torch.nn.Module, m: int) -> dict[str, int]:
    """The Conv2d/Linear weights whose reduction size K is not a multiple of ``m``: name -> K."""
    sizes = {name: math.prod(w.shape[1:]) for name, w in prunable_weights(model).items()}
    return {name: k for name, k in sizes.items() if k % m}
