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


# --- masks --------------------------------------------------------------------------------------


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
    later entry wins, so earlier entries are pruned first, as in ``pruning.keep_largest``. The
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
    metadata = pack_bits(positions.T.flatten(), index_bits(m))
    return NMCompressed(values.T.reshape(groups.shape[0], -1), metadata, tuple(weight.shape), n, m)


def decompress_nm(compressed: NMCompressed) -> torch.Tensor:
    """The dense weight (shape and dtype of the original) with zeros at the pruned positions."""
    if not isinstance(compressed, NMCompressed):
        raise TypeError(f"compressed must be an NMCompressed, got {type(compressed).__name__}")
    n, m, values = compressed.n, compressed.m, compressed.values
    positions = unpack_bits(compressed.metadata, index_bits(m), values.numel()).view(-1, n).T  # (n, Co·G)
    columns = values.new_zeros(m, positions.shape[1])
    columns.scatter_(0, positions, values.reshape(-1, n).T)
    return _ungrouped(columns.T.reshape(values.shape[0], -1, m), compressed.shape)


# --- channel permutation (NVIDIA ASP's idea) ----------------------------------------------------


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


def _module(model: torch.nn.Module, name: str, kinds: tuple, argument: str) -> torch.nn.Module:
    modules = dict(model.named_modules())
    if name not in modules or not isinstance(modules[name], kinds):
        allowed = sorted(k for k, v in modules.items() if isinstance(v, kinds))
        raise ValueError(f"{argument} must name one of the model's {[k.__name__ for k in kinds]}: "
                         f"{allowed}, got {name!r}")
    return modules[name]


@torch.no_grad()
def permute_channels(
    model: torch.nn.Module, perm: torch.Tensor, consumer: str, producer: str, norm: str | None = None
) -> torch.nn.Module:
    """Reorder the channels between ``producer`` and ``consumer`` in place; the function is unchanged.

    ``producer`` (Conv2d/Linear) computes the channels, an optional BatchNorm ``norm`` normalises them,
    only channel-wise operations (ReLU, pooling) follow, and ``consumer`` (Conv2d/Linear) reads them.
    New channel i is old channel ``perm[i]``: the producer's output rows (and bias), the norm's
    statistics and affine parameters, and the consumer's input columns are all permuted alike.
    """
    layer_types = (torch.nn.Conv2d, torch.nn.Linear)
    into = _module(model, consumer, layer_types, "consumer")
    out_of = _module(model, producer, layer_types, "producer")
    bn = None if norm is None else _module(model, norm, (torch.nn.modules.batchnorm._BatchNorm,), "norm")
    channels = into.weight.shape[1]
    if not isinstance(perm, torch.Tensor) or not torch.equal(perm.sort().values, torch.arange(channels)):
        raise ValueError(f"perm must be a permutation of range({channels}) (the consumer's input "
                         f"channels), got {perm!r}")
    if out_of.weight.shape[0] != channels or (bn is not None and bn.num_features != channels):
        raise ValueError(f"producer {producer!r} and norm {norm!r} must have {channels} channels to feed "
                         f"consumer {consumer!r}")
    if any(getattr(layer, "groups", 1) != 1 for layer in (into, out_of)):
        raise ValueError("grouped convolutions are not supported: permuting channels would cross groups")
    into.weight.copy_(into.weight[:, perm])
    tensors = [out_of.weight, out_of.bias]
    if bn is not None:
        tensors += [bn.weight, bn.bias, bn.running_mean, bn.running_var]
    for tensor in tensors:
        if tensor is not None:
            tensor.copy_(tensor[perm])
    return model


# The ConvNet's producer -> consumer chains a permutation can reorder: (consumer, producer, norm).
# fc1 reads conv3's channels through a flatten (each channel is 4 features), so it is not listed.
CONVNET_CHAINS = (("conv2", "conv1", "bn1"), ("conv3", "conv2", "bn2"), ("fc2", "fc1", None))


def permute_for_nm(model: torch.nn.Module, n: int, m: int, chains=CONVNET_CHAINS) -> list[dict]:
    """Search and apply an input-channel permutation for each ``(consumer, producer, norm)`` chain.

    Modifies ``model`` in place (pass a copy to keep the original); its outputs do not change.
    Returns one row per chain: the consumer's name, ``before`` and ``after``: kept magnitude under the
    N:M mask without and with the permutation, and ``gain`` = after / before - 1.
    """
    report = []
    for consumer, producer, norm in chains:
        weight = _module(model, consumer, (torch.nn.Conv2d, torch.nn.Linear), "consumer").weight
        before = kept_magnitude(weight, nm_mask(weight, n, m))
        permute_channels(model, search_permutation(weight, n, m), consumer, producer, norm)
        after = kept_magnitude(weight, nm_mask(weight, n, m))
        report.append({"layer": consumer, "before": before, "after": after, "gain": after / before - 1})
    return report


# --- comparing patterns -------------------------------------------------------------------------


def compare_patterns(model: torch.nn.Module, patterns, loader) -> list[dict]:
    """One-shot N:M pruning against unstructured pruning at the same sparsity, on the same layers.

    One row ``"n:m"`` per ``(n, m)`` in ``patterns`` (``nm_masks``), and after the first pattern of
    each sparsity s = 1 - n/m a row ``"unstructured s%"`` (per-layer magnitude masks of sparsity s on
    the layers that pattern covers). Each row has ``sparsity``, ``kept_fraction`` (kept |w| over all
    |w| of those layers) and ``accuracy`` on ``loader``. ``model`` is not modified.
    """
    import copy

    from .pruning import apply_masks, magnitude_mask
    from .train import evaluate

    params = dict(model.named_parameters())
    rows, seen = [], set()
    for n, m in patterns:
        nm, _ = nm_masks(model, n, m)
        sparsity = 1 - n / m
        candidates = {f"{n}:{m}": nm}
        if sparsity not in seen:
            seen.add(sparsity)
            candidates[f"unstructured {sparsity:.0%}"] = {k: magnitude_mask(params[k], sparsity) for k in nm}
        total = sum(kept_magnitude(params[k], torch.ones_like(v)) for k, v in nm.items())
        for label, masks in candidates.items():
            kept = sum(kept_magnitude(params[k], v) for k, v in masks.items())
            pruned = apply_masks(copy.deepcopy(model), masks)
            rows.append({"pattern": label, "sparsity": sparsity, "kept_fraction": kept / total,
                         "accuracy": evaluate(pruned, loader)})
    return rows


# --- figures ------------------------------------------------------------------------------------


def plot_nm_pattern(weight: torch.Tensor, n: int, m: int, rows: int = 16, cols: int = 32, ax=None):
    """Heatmap of |w| on the first ``rows`` x ``cols`` of ``reduction_matrix(weight)``, pruned entries
    blanked by the N:M mask, with thin lines between groups. Returns the matplotlib Axes."""
    import matplotlib.pyplot as plt

    mask = nm_mask(weight, n, m)
    matrix = reduction_matrix(weight.detach()).abs()[:rows, :cols].float()
    kept = reduction_matrix(mask)[:rows, :cols]
    shown = torch.where(kept, matrix, torch.nan)
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.5))
    image = ax.imshow(shown.numpy(), cmap="viridis", vmin=0, vmax=float(matrix.max()))
    for x in range(m, shown.shape[1], m):
        ax.axvline(x - 0.5, color="0.6", linewidth=0.6)
    fraction = kept_magnitude(weight, mask) / kept_magnitude(weight, torch.ones_like(mask))
    ax.set_title(f"{n}:{m} mask: {1 - n / m:.0%} sparse, keeps {fraction:.1%} of |w| (white = pruned)")
    ax.set_xlabel(f"reduction index k (groups of {m} between grey lines)")
    ax.set_ylabel("output channel")
    ax.figure.colorbar(image, ax=ax, label="|w| (weight units)")
    return ax


def plot_pattern_comparison(rows: list[dict]):
    """Two bar charts from ``compare_patterns`` rows: kept magnitude and one-shot accuracy."""
    import matplotlib.pyplot as plt

    labels = [row["pattern"].replace("unstructured ", "unstr. ") for row in rows]
    cmap = plt.get_cmap("cividis")
    colors = [cmap(0.85 if row["pattern"].startswith("unstructured") else 0.2) for row in rows]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, key, title in zip(axes, ("kept_fraction", "accuracy"),
                              ("kept magnitude (fraction of |w|)", "one-shot test accuracy")):
        percent = [100 * row[key] for row in rows]
        ax.bar(labels, percent, color=colors)
        ax.set_title(title)
        ax.set_ylabel("percent (%)")
        ax.set_xlabel("pattern (dark: N:M, light: unstructured at the same sparsity)")
        ax.set_ylim(max(0.0, min(percent) - 10), 100)
    fig.tight_layout()
    return fig


# --- 2:4 kernels on the GPU -------------------------------------------------------------------------


def semi_structured_status() -> tuple[bool, str]:
    """(available, reason): PyTorch's 2:4 kernels need CUDA with compute capability >= 8.0 (Ampere)."""
    if not torch.cuda.is_available():
        return False, "no CUDA device: torch.cuda.is_available() is False"
    capability = torch.cuda.get_device_capability()
    if capability < (8, 0):
        return False, f"the GPU has compute capability {capability}, 2:4 sparse tensor cores need >= (8, 0)"
    return True, f"CUDA device {torch.cuda.get_device_name()} with compute capability {capability}"


def semi_structured_speedup(features: int = 4096, batch: int = 4096) -> dict:
    """Time an fp16 ``features x features`` Linear on ``batch`` rows, dense against 2:4 through
    ``torch.sparse.to_sparse_semi_structured``. Needs CUDA with capability >= 8.0.

    Returns ``dense_s``, ``sparse_s`` (median seconds per call), ``speedup`` and ``max_error`` (the
    largest difference between the two outputs; the same 2:4 weight is used in both).
    """
    from torch.sparse import to_sparse_semi_structured
    from torch.utils.benchmark import Timer

    available, reason = semi_structured_status()
    if not available:
        raise RuntimeError(f"semi_structured_speedup needs CUDA with compute capability >= 8.0: {reason}")
    check_positive_int("features", features)
    check_positive_int("batch", batch)
    weight = torch.randn(features, features, dtype=torch.float16, device="cuda")
    weight = weight * nm_mask(weight, 2, 4)
    x = torch.randn(batch, features, dtype=torch.float16, device="cuda")
    sparse_weight = to_sparse_semi_structured(weight)
    linear = torch.nn.functional.linear
    times = {
        key: Timer("linear(x, w)", globals={"linear": linear, "x": x, "w": w}).blocked_autorange().median
        for key, w in (("dense_s", weight), ("sparse_s", sparse_weight))
    }
    error = float((linear(x, weight) - linear(x, sparse_weight)).abs().max())
    return {**times, "speedup": times["dense_s"] / times["sparse_s"], "max_error": error}
