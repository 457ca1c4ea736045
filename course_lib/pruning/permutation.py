"""Channel permutation for N:M sparsity (lesson 03): reorder the input channels of a weight so that
each group of m holds fewer large weights, and an N:M mask keeps more magnitude. The search works on
one weight matrix; applying a permutation to a model's layers is structural (``structured.permutation``).
"""

import math

import torch

from ..core.validation import check_positive_int
from .nm import _check_nm, _check_weight


def _channel_matrix(weight: torch.Tensor, m: int) -> torch.Tensor:
    """(Ci, Co·Kh·Kw) float32 |w|, one row per input channel; N:M groups are ``m`` adjacent rows."""
    ci = _check_weight(weight).shape[1]
    if ci % m:
        raise ValueError(
            f"the number of input channels Ci = {ci} of weight with shape {tuple(weight.shape)} is not "
            f"a multiple of m={m}: a channel permutation needs every group to hold m whole channels"
        )
    return weight.detach().abs().float().transpose(0, 1).reshape(ci, -1).contiguous()


def _stripe_kept(chans: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """(S,) kept magnitude of each stripe (group of m channels) of ``chans`` (C, R)."""
    return chans.view(-1, m, chans.shape[1]).topk(n, dim=1).values.sum(dim=(1, 2))


def _replacement_values(chans: torch.Tensor, positions: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """(len(positions), C): kept magnitude of the stripe holding position q if q's channel were
    replaced by the channel now at position p, for every q in ``positions`` and every p.

    With the stripe's other m-1 channels sorted per row (o1 >= o2 >= ...), keeping n of them plus a
    new value x keeps sum(o1..on) + max(0, x - on): the new value displaces the n-th largest if larger.
    """
    c, rows = chans.shape
    out = chans.new_empty(len(positions), c)
    chunk = max(1, 2**21 // (rows * c))  # bound the (chunk, C, rows) temporary to ~8 MB
    for start in range(0, len(positions), chunk):
        q = positions[start : start + chunk]  # (Q,)
        stripe = (q // m)[:, None] * m + torch.arange(m)  # (Q, m) positions of q's stripe
        others = stripe[stripe != q[:, None]].view(len(q), m - 1)  # (Q, m-1)
        top = chans[others].topk(n, dim=1).values  # (Q, n, rows), descending along dim 1
        nth = top[:, -1]  # (Q, rows)
        excess = (chans[None] - nth[:, None]).clamp_min_(0).sum(dim=2)  # (Q, C)
        out[start : start + chunk] = top.sum(dim=(1, 2))[:, None] + excess
    return out


def search_permutation(weight: torch.Tensor, n: int, m: int, max_swaps: int | None = None) -> torch.Tensor:
    """A permutation ``perm`` (Ci,) of input channels such that ``weight[:, perm]`` keeps more |w|
    under the N:M mask (``kept_magnitude``); never less than the identity keeps.

    Greedy channel swaps, as in NVIDIA's ASP: evaluate every swap of two channels in different groups
    ("stripes" of m channels), apply the best one, repeat until no swap gains or after ``max_swaps``.
    Gains are computed in float32; only those above 1e-5 of a stripe's average kept magnitude count,
    far above the rounding error, so every accepted swap truly gains. Needs Ci to be a multiple of m.
    """
    n, m = _check_nm(n, m)
    if max_swaps is not None:
        check_positive_int("max_swaps", max_swaps)
    chans = _channel_matrix(weight, m)  # (C, R); chans[p] is the channel now at position p
    c = chans.shape[0]
    perm = torch.arange(c)
    if n == m or c == m:  # everything kept, or a single stripe: nothing to move
        return perm
    stripe_of = torch.arange(c) // m
    same_stripe = stripe_of[:, None] == stripe_of[None, :]
    value = _replacement_values(chans, torch.arange(c), n, m)  # (C, C)
    kept = _stripe_kept(chans, n, m)  # (S,)
    tolerance = 1e-5 * float(kept.mean())
    for _ in range(max_swaps or c * c):
        # gain of swapping the channels at positions q1 and q2 (their two stripes re-evaluated)
        half = value - kept[stripe_of][:, None]  # (C, C): change in q's stripe when q takes p's channel
        gain = (half + half.T).masked_fill_(same_stripe, -math.inf)
        q1, q2 = divmod(int(gain.argmax()), c)
        if gain[q1, q2] <= tolerance:
            break
        pair, swapped = torch.tensor([q1, q2]), torch.tensor([q2, q1])
        perm[pair] = perm[swapped]
        chans[pair] = chans[swapped]
        value[:, pair] = value[:, swapped]
        changed = (stripe_of[pair][:, None] * m + torch.arange(m)).flatten()  # (2m,)
        value[changed] = _replacement_values(chans, changed, n, m)
        kept = _stripe_kept(chans, n, m)
    return perm
