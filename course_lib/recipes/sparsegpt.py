"""SparseGPT (Frantar & Alistarh 2023): prune a Linear layer and repair it with the OBS update.

A layer computes Y = X Wᵀ with W (out, in) and calibration inputs X (tokens, in). Removing weights
changes every output row's error ‖X (w - ŵ)‖², a quadratic with Hessian H = 2 XᵀX (the same for every
row). Optimal Brain Surgeon says: removing weight q of a row costs w_q² / [H⁻¹]_qq, and the best
correction of the row's other weights is

    δw = -(w_q / [H⁻¹]_qq) · H⁻¹[:, q].

SparseGPT makes this affordable for a whole matrix by visiting the columns left to right: once column q
is decided, it is frozen, and the remaining columns q+1.. need the inverse Hessian of the *remaining*
inputs only. Those inverses are the rows of the upper Cholesky factor U of H⁻¹ (H⁻¹ = UᵀU): after
column q, the update of the row is -(w_q / U_qq) · U[q, q:], the OBS update restricted to the columns
not yet visited. One Cholesky factor serves all rows and all columns.

- Damping: H + λI with λ = ``damp`` · mean(diag H), so H is invertible on few tokens.
- Lazy batches: the updates inside a block of ``block_size`` columns are applied at once; the columns
  after the block receive the accumulated error in one matrix product (Err · U[block, rest]).
- Adaptive mask selection: at the start of each block, the mask of that block is chosen from the
  *current* (already updated) weights by the OBS saliency w² / U_qq², the ``sparsity`` fraction with the
  lowest saliency over the block pruned (so rows may end up with different counts); for N:M it is
  chosen per group of ``m`` columns when the group is reached, ``m - n`` pruned per row and group.

The calibration inputs enter only through their Gram matrix G = XᵀX (in, in), which the post-training
pipeline accumulates block by block (``recipes.prune_post_training``); H = 2G. The arithmetic is in
float32 as in the reference implementation (float64 for a float64 weight); the result is cast back to
the weight's dtype.
"""

import torch

from ..core.selection import keep_largest, keep_largest_per_row
from ..core.validation import FLOAT_DTYPES, check_positive_int
from ..pruning.nm import check_target


def _check_arguments(weight, gram, sparsity, n, m, block_size, damp):
    for name, value in (("weight", weight), ("gram", gram)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
        if value.dim() != 2 or value.dtype not in FLOAT_DTYPES:
            raise ValueError(f"{name} must be a 2-D floating-point tensor, got {value.dtype} of shape "
                             f"{tuple(value.shape)}")
    if gram.shape != (weight.shape[1], weight.shape[1]):
        raise ValueError(f"gram must be XᵀX of shape ({weight.shape[1]}, {weight.shape[1]}) for weight of "
                         f"shape {tuple(weight.shape)} (out, in), got {tuple(gram.shape)}")
    check_target(sparsity, n, m)
    if sparsity is None:
        if weight.shape[1] % m:
            raise ValueError(f"m={m} must divide the input size {weight.shape[1]} of weight "
                             f"{tuple(weight.shape)}")
        if block_size % m:
            raise ValueError(f"block_size must be a multiple of m={m}, got {block_size}")
    check_positive_int("block_size", block_size)
    if isinstance(damp, bool) or not isinstance(damp, (int, float)) or not damp >= 0:
        raise ValueError(f"damp must be a number >= 0 (a fraction of mean(diag H)), got {damp!r}")


def obs_update(w: torch.Tensor, hinv: torch.Tensor, q: int) -> torch.Tensor:
    """The row ``w`` (in,) after removing weight ``q`` with Optimal Brain Surgeon's correction
    w - (w_q / [H⁻¹]_qq) · H⁻¹[:, q], where ``hinv`` is H⁻¹ (in, in); entry ``q`` comes out 0."""
    if w.dim() != 1 or hinv.shape != (len(w), len(w)):
        raise ValueError(f"w must be 1-D (in,) and hinv (in, in), got shapes {tuple(w.shape)} and "
                         f"{tuple(hinv.shape)}")
    if not 0 <= q < len(w):
        raise ValueError(f"q must be an index in [0, {len(w) - 1}], got {q!r}")
    return w - (w[q] / hinv[q, q]) * hinv[:, q]


def inverse_hessian_factor(gram: torch.Tensor, damp: float = 0.01) -> torch.Tensor:
    """U, the upper Cholesky factor of (2 XᵀX + λI)⁻¹ with λ = damp · mean(diag(2 XᵀX)), in the Gram
    matrix's precision (at least float32), from ``gram`` = XᵀX (in, in) of the calibration inputs.

    An input feature that is always 0 (a zero column of X) gets H_qq = 1 so H stays invertible."""
    dtype = torch.promote_types(gram.dtype, torch.float32)
    hessian = 2 * gram.to(dtype)  # (in, in)
    dead = hessian.diagonal() == 0
    hessian[dead, dead] = 1.0
    hessian += damp * hessian.diagonal().mean() * torch.eye(len(hessian), dtype=dtype, device=hessian.device)
    # U = J C⁻¹ J with C the lower Cholesky factor of J H J (J reverses the order of the inputs): then
    # UᵀU = J C⁻ᵀ C⁻¹ J = J (J H J)⁻¹ J = H⁻¹. One factorisation and one triangular inverse.
    flipped = hessian.flip(0, 1)
    chol, info = torch.linalg.cholesky_ex(flipped)
    if info != 0:
        raise ValueError(
            f"the Hessian H = 2 XᵀX + λI of {len(hessian)} inputs is singular or not "
            f"positive definite with damp={damp!r} (fewer independent tokens than inputs?): use damp > 0, "
            "such as 0.01, or more calibration tokens"
        )
    identity = torch.eye(len(hessian), dtype=dtype, device=hessian.device)
    return torch.linalg.solve_triangular(chol, identity, upper=False).flip(0, 1)


@torch.no_grad()
def sparsegpt_block(w: torch.Tensor, u: torch.Tensor, sparsity: float | None = None, *, n: int | None = None,
                    m: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One lazy block of SparseGPT: the columns ``w`` (out, b) of the weight and the matching block ``u``
    (b, b) of the upper Cholesky factor of H⁻¹. Returns (the block after its OBS updates, its mask,
    ``err`` (out, b) = (w_q - ŵ_q) / U_qq per column, what the columns after the block receive as
    ``- err @ U[block, rest]``). With ``sparsity`` the mask is chosen once, at the start, from the
    saliency w² / U_qq² over the whole block; for N:M per group of ``m`` columns when it is reached.
    ``w`` is not modified."""
    w, keep = w.clone(), torch.ones_like(w, dtype=torch.bool)
    err = torch.zeros_like(w)  # (out, b)
    if sparsity is not None:  # adaptive mask over the whole block, from the current weights
        saliency = w.square() / u.diagonal().square()  # OBS: w² / [H⁻¹]_qq
        keep = keep_largest(saliency, round(sparsity * saliency.numel()))
    for i in range(w.shape[1]):  # the paper's column loop
        if sparsity is None and i % m == 0:  # N:M: choose this group's mask when it is reached
            group = w[:, i:i + m].square() / u.diagonal()[i:i + m].square()  # (out, m)
            keep[:, i:i + m] = keep_largest_per_row(group, m - n)
        removed = torch.where(keep[:, i], 0.0, w[:, i])  # the part of column i set to zero
        err[:, i] = removed / u[i, i]
        # OBS update of the block's columns i.. : w -= (w_q / U_qq) U[q, q:]; column i becomes ŵ_q
        w[:, i:] -= err[:, i:i + 1] * u[i:i + 1, i:]
    return w, keep, err


@torch.no_grad()
def sparsegpt_prune(weight: torch.Tensor, gram: torch.Tensor, sparsity: float | None = None, *,
                    n: int | None = None, m: int | None = None, block_size: int = 128,
                    damp: float = 0.01) -> tuple[torch.Tensor, torch.Tensor]:
    """Prune ``weight`` (out, in) with SparseGPT, given the Gram matrix ``gram`` = XᵀX (in, in) of its
    calibration inputs X (tokens, in).

    Give ``sparsity`` (unstructured: that fraction of each block of ``block_size`` columns, chosen
    adaptively, ``round(sparsity * out * block columns)`` weights) or ``n`` and ``m`` (keep ``n`` of
    every ``m`` consecutive weights of each row). Returns ``(new_weight, mask)``: the updated weight,
    zero where pruned, in ``weight``'s dtype, and the bool mask (True = kept). Arguments are not modified.
    """
    _check_arguments(weight, gram, sparsity, n, m, block_size, damp)
    dtype = torch.promote_types(weight.dtype, torch.float32)
    u = inverse_hessian_factor(gram.to(dtype), damp)  # (in, in), H⁻¹ = UᵀU
    w = weight.detach().to(dtype).clone()  # (out, in)
    keep = torch.ones_like(w, dtype=torch.bool)
    for start in range(0, w.shape[1], block_size):
        end = min(start + block_size, w.shape[1])
        w[:, start:end], keep[:, start:end], err = sparsegpt_block(w[:, start:end], u[start:end, start:end],
                                                                   sparsity, n=n, m=m)
        w[:, end:] -= err @ u[start:end, end:]  # lazy batch: the rest of the row gets the block's error
    w[~keep] = 0.0  # exact zeros (the update leaves rounding residue)
    return w.to(weight.dtype), keep
