"""Selection: the one "keep the largest scores" of the kit, and its tie rule.

Every mask in the course is built here: magnitude masks, global thresholds, per-row (Wanda,
post-training) masks, the L0 study's supports and dynamic gates. One rule for ties, everywhere:
among equal scores the earlier entries are pruned first (later ones survive), so masks are
deterministic and agree with ``torch.nn.utils.prune``.

- :func:`keep_largest`: over all entries of a tensor (or several as one, ``keep_largest_many``); O(n).
- :func:`keep_largest_per_row`: the same count within each row of ``scores.flatten(1)``.
"""

import math

import torch

# Above this many scores, keep_largest first brackets the threshold on a strided sample (exact anyway).
_SAMPLED_SELECTION_MIN = 1 << 22


def _kth_smallest(flats: list[torch.Tensor], k: int) -> torch.Tensor:
    """The k-th smallest value (k from 1) over several 1-D tensors together, exactly as
    ``torch.cat(flats).kthvalue(k)`` but without building the concatenation when it is large.

    A strided sample brackets the answer [lo, hi] first, so the exact selection runs on the few values
    inside the bracket: on ResNet-50's 25M weights about 3x less work than one kthvalue. If the
    bracket misses (possible on adversarial data), it falls back to the full kthvalue.
    """
    n = sum(f.numel() for f in flats)
    if n < _SAMPLED_SELECTION_MIN:
        return torch.cat(flats).kthvalue(k).values
    stride = n // (1 << 20)
    sample = torch.cat([f[::stride] for f in flats])
    m = sample.numel()
    # The rank of the answer in the sample is about k*m/n, give or take a few binomial std devs.
    centre, margin = k * m / n, 8 * math.sqrt(m) + 8
    lo_rank, hi_rank = math.floor(centre - margin), math.ceil(centre + margin)
    lo = sample.kthvalue(lo_rank).values if lo_rank >= 1 else sample.new_tensor(-math.inf)
    hi = sample.kthvalue(hi_rank).values if hi_rank <= m else sample.new_tensor(math.inf)
    n_below = sum(int(torch.count_nonzero(f < lo)) for f in flats)
    inside = torch.cat([f[(f >= lo) & (f <= hi)] for f in flats])
    if n_below < k <= n_below + inside.numel():
        return inside.kthvalue(k - n_below).values
    return torch.cat(flats).kthvalue(k).values


def keep_largest_many(scores: list[torch.Tensor], n_pruned: int) -> list[torch.Tensor]:
    """:func:`keep_largest` over several tensors as if concatenated (one global threshold), returning
    one mask per tensor; ties are broken by position in the concatenation."""
    flats = [s.detach().flatten() for s in scores]
    n = sum(f.numel() for f in flats)
    if n_pruned <= 0 or n_pruned >= n:
        return [torch.full(s.shape, n_pruned <= 0, dtype=torch.bool, device=s.device) for s in scores]
    threshold = _kth_smallest(flats, n_pruned)
    masks = [f > threshold for f in flats]
    n_ties_kept = n - n_pruned - sum(int(torch.count_nonzero(m)) for m in masks)
    for f, mask in zip(reversed(flats), reversed(masks)):  # the last ties survive
        if n_ties_kept <= 0:
            break
        ties = (f == threshold).nonzero().flatten()[-n_ties_kept:]
        mask[ties] = True
        n_ties_kept -= ties.numel()
    return [m.view(s.shape) for m, s in zip(masks, scores)]


def keep_largest(scores: torch.Tensor, n_pruned: int) -> torch.Tensor:
    """Boolean mask of ``scores``' shape with the ``n_pruned`` smallest scores set to False.

    Ties at the threshold are broken by position (earlier entries are pruned first), so the result
    is deterministic. O(n): a selection (kthvalue), not a full sort.
    """
    return keep_largest_many([scores], n_pruned)[0]


def keep_largest_per_row(scores: torch.Tensor, n_pruned: int) -> torch.Tensor:
    """Boolean mask of ``scores``' shape (R, ...) with the ``n_pruned`` smallest entries of every row
    ``scores[r]`` set to False; ties as in :func:`keep_largest` (earlier entries pruned first)."""
    rows = scores.detach().flatten(1)  # (R, row_size)
    if not 0 <= n_pruned <= rows.shape[1]:
        raise ValueError(f"n_pruned must be in [0, {rows.shape[1]}] (the row size), got {n_pruned!r}")
    order = rows.argsort(dim=1, stable=True)  # lowest first; equal scores keep their order
    mask = torch.ones_like(rows, dtype=torch.bool)
    mask.scatter_(1, order[:, :n_pruned], False)
    return mask.view(scores.shape)
