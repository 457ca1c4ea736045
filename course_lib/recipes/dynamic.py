"""Dynamic (input-dependent) channel pruning: a small gate picks, per input, which channels to compute.

Static channel pruning removes the same channels for every input. A dynamic network keeps them all
but runs only ``k`` of a layer's ``C`` output channels for each input, chosen by a cheap *gate*
that looks at the layer's input first (Feature Boosting and Suppression, Gao et al. ICLR 2019;
channel gating, Hua et al. 2019). A skipped channel is never computed and never read by the next
layer, so both the layer and its consumers do k/C of their work.

The gate here: a channel's *saliency* for one input is its mean activation after BatchNorm and ReLU
times the L2 norm of the next layer's weights that read it (how much it can move the next layer).
A linear map from the layer's globally pooled input (B, C_in) predicts all C saliencies, fitted by
least squares on calibration inputs; ``topk_mask`` keeps the k largest. The gate costs
C_in x C (+ C) MACs per input, small next to a conv.

The gated stage computes the full conv and multiplies by the mask: the same numbers as skipping
the channels (``GatedStage.forward_skipping`` does skip them, one input at a time), and average MACs
per input are counted as if skipped (``gated_macs``).

Training the gates (``gated_copy(..., trainable=True)`` then ``train.train``): the top-k mask has no
gradient, so in training mode the stage uses a straight-through estimator. The forward pass still
multiplies by the hard 0/1 mask; the backward pass treats it as sigmoid((score - threshold) / spread),
the threshold half-way between the k-th and the (k+1)-th score of each input and the spread the
scores' standard deviation. A skipped channel's output is computed anyway (the full conv), so the
loss tells its gate whether switching it on would help.
"""

import copy

import torch
from torch import nn

from ..analysis.metrics import count_macs
from ..analysis.search import ChannelCostModel
from ..core.modules import eval_mode, hooks_attached, set_submodule
from ..core.selection import keep_largest_per_row
from ..core.validation import check_fraction, check_positive_int
from ..structured.graph import channel_groups
from ..structured.scores import input_channel_norms
from ..structured.surgery import prune_channels
from ..train import evaluate


def topk_mask(scores: torch.Tensor, k: int) -> torch.Tensor:
    """(B, C) scores -> (B, C) bool mask with True at each row's ``k`` largest scores.

    Ties as everywhere in the kit (:mod:`course_lib.core.selection`): the later channel survives.
    ``1 <= k <= C``.
    """
    if not isinstance(scores, torch.Tensor) or scores.ndim != 2 or not scores.is_floating_point():
        got = getattr(scores, "shape", scores)
        raise TypeError(f"scores must be a float tensor of shape (B, C), got {got!r}")
    check_positive_int("k", k)
    if k > scores.shape[1]:
        raise ValueError(f"k must be at most the number of channels C={scores.shape[1]}, got {k}")
    return keep_largest_per_row(scores, scores.shape[1] - k)


def kept_channels(channels: int, kept_fraction: float) -> int:
    """Channels a gate keeps of ``channels`` at fraction ``kept_fraction`` in (0, 1]: round(kept_fraction *
    C), at least 1."""
    kept_fraction = check_fraction("kept_fraction", kept_fraction)
    if kept_fraction == 0:
        raise ValueError("kept_fraction must be in (0, 1]: a gate keeps at least one channel, got 0")
    return max(1, round(kept_fraction * channels))


class GatedStage(nn.Module):
    """conv -> BatchNorm, with only the top-k output channels per input kept (the rest are zero).

    ``gate`` is a Linear(C_in, C_out) applied to the input pooled over space: (B, C_in) -> (B, C_out)
    predicted saliencies. Input (B, C_in, H, W) -> output (B, C_out, H', W').
    """

    def __init__(self, conv: nn.Conv2d, bn: nn.BatchNorm2d, gate: nn.Linear, k: int):
        super().__init__()
        self.conv, self.bn, self.gate, self.k = conv, bn, gate, k

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C_out) bool: the channels each input computes."""
        return topk_mask(self.gate(x.mean(dim=(2, 3))), self.k)

    def forward(self, x):
        scores = self.gate(x.mean(dim=(2, 3)))  # (B, C_out)
        mask = topk_mask(scores.detach(), self.k).to(scores.dtype)
        if self.training and scores.requires_grad:
            mask = mask + _surrogate(scores, self.k) - _surrogate(scores, self.k).detach()  # same value
        return self.bn(self.conv(x)) * mask[:, :, None, None]

    @torch.no_grad()
    def forward_skipping(self, x):
        """The same output, computing only the kept filters of each input (eval mode)."""
        out = []
        for xi, mask in zip(x, self.mask(x)):  # one input at a time: (C_in, H, W), (C_out,)
            w = self.conv.weight[mask]  # (k, C_in, Kh, Kw)
            y = nn.functional.conv2d(xi[None], w, None, self.conv.stride, self.conv.padding)
            scale = self.bn.weight[mask] / (self.bn.running_var[mask] + self.bn.eps).sqrt()
            mean, shift = self.bn.running_mean[mask], self.bn.bias[mask]
            y = (y - mean[:, None, None]) * scale[:, None, None] + shift[:, None, None]
            full = y.new_zeros(1, self.conv.out_channels, *y.shape[2:])
            full[:, mask] = y
            out.append(full)
        return torch.cat(out)


def _surrogate(scores: torch.Tensor, k: int) -> torch.Tensor:
    """(B, C) scores -> (B, C) soft mask in (0, 1), about 1 for each row's top-k: the straight-through
    estimator's backward path (see the module docstring)."""
    ordered = scores.detach().sort(dim=1, descending=True).values  # (B, C)
    below = ordered[:, k] if k < scores.shape[1] else ordered[:, -1] - 1
    threshold = (ordered[:, k - 1] + below) / 2  # (B,)
    spread = scores.detach().std(dim=1, unbiased=False).clamp_min(1e-6)  # (B,)
    return torch.sigmoid((scores - threshold[:, None]) / spread[:, None])


@torch.no_grad()
def _stage_io(model: nn.Module, stages: dict[str, str], x: torch.Tensor):
    """Inputs of each gated conv and its channels' activations after BatchNorm and ReLU."""
    modules = dict(model.named_modules())
    captured = {}
    pre = [(modules[conv], lambda m, args, name=conv: captured.__setitem__(("in", name), args[0]))
           for conv in stages]
    forward = [(modules[bn], lambda m, args, out, name=conv: captured.__setitem__(("out", name), out.relu()))
               for conv, bn in stages.items()]
    with hooks_attached(forward=forward, pre=pre), eval_mode(model):
        model(x)
    return {c: (captured[("in", c)], captured[("out", c)]) for c in stages}


def channel_saliency(model: nn.Module, stages: dict[str, str], x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-input saliency of every gated conv's output channels: {conv name: (N, C_out)}.

    Saliency = mean over space of the channel's activation after BatchNorm and ReLU, times the L2
    norm of the consumer weights that read it (``structured.input_channel_norms``, all consumers).
    ``stages`` maps each gated conv's name to its BatchNorm's, e.g. {"conv2": "bn2"}.
    """
    groups = {g.name: g for g in channel_groups(model, x[:1])}
    modules = dict(model.named_modules())
    out = {}
    for conv, (_, act) in _stage_io(model, stages, x).items():
        if conv not in groups or not groups[conv].prunable:
            raise ValueError(f"stages has {conv!r}, which is not a prunable conv; allowed: "
                             f"{[n for n, g in groups.items() if g.prunable]}")
        norms = torch.stack([input_channel_norms(modules[n].weight.detach(), r)
                             for n, r in groups[conv].consumers]).square().sum(dim=0).sqrt()  # (C_out,)
        out[conv] = act.mean(dim=(2, 3)) * norms  # (N, C_out)
    return out


def _check_stages(model: nn.Module, stages) -> dict[str, str]:
    modules = dict(model.named_modules())
    if not isinstance(stages, dict) or not stages:
        raise TypeError(f"stages must be a non-empty dict {{conv name: BatchNorm name}}, got {stages!r}")
    for conv, bn in stages.items():
        if not isinstance(modules.get(conv), nn.Conv2d) or not isinstance(modules.get(bn), nn.BatchNorm2d):
            raise ValueError(
                f"stages[{conv!r}] = {bn!r} must name a Conv2d and its BatchNorm2d of the model"
            )
    return stages


@torch.no_grad()
def fit_gates(model: nn.Module, stages: dict[str, str], x: torch.Tensor) -> dict[str, nn.Linear]:
    """Least-squares gates: {conv name: Linear(C_in, C_out)} predicting ``channel_saliency`` from
    the conv's input pooled over space, fitted on calibration inputs ``x`` (N, ...)."""
    stages = _check_stages(model, stages)
    saliency = channel_saliency(model, stages, x)
    gates = {}
    for conv, (inp, _) in _stage_io(model, stages, x).items():
        pooled = inp.mean(dim=(2, 3))  # (N, C_in)
        design = torch.cat([pooled, torch.ones(len(pooled), 1)], dim=1)  # (N, C_in + 1)
        solution = torch.linalg.lstsq(design.double(), saliency[conv].double()).solution.float()
        gate = nn.Linear(pooled.shape[1], saliency[conv].shape[1])
        gate.weight.copy_(solution[:-1].T)
        gate.bias.copy_(solution[-1])
        gates[conv] = gate.requires_grad_(False)
    return gates


def gated_copy(
    model: nn.Module, stages: dict[str, str], gates: dict[str, nn.Linear], kept_fraction: float,
    trainable: bool = False,
) -> nn.Module:
    """A deep copy of ``model`` whose gated convs keep ``kept_channels(C, kept_fraction)`` channels per input.

    Each conv in ``stages`` becomes a ``GatedStage`` (conv, its BatchNorm, its gate) and the
    BatchNorm's own slot becomes ``nn.Identity``; the model's forward must apply conv then BatchNorm
    (as ``models.ConvNet`` does). With ``trainable`` the gates' parameters require gradients, so
    ``train.train`` trains them jointly with the network (straight-through estimator); otherwise
    they stay fixed. ``model`` and ``gates`` are not changed.
    """
    stages = _check_stages(model, stages)
    gated = copy.deepcopy(model)
    modules = dict(gated.named_modules())
    for conv, bn in stages.items():
        k = kept_channels(modules[conv].out_channels, kept_fraction)
        gate = copy.deepcopy(gates[conv]).requires_grad_(bool(trainable))
        stage = GatedStage(modules[conv], modules[bn], gate, k)
        set_submodule(gated, conv, stage)
        set_submodule(gated, bn, nn.Identity())
    return gated.eval()


def gated_macs(model: nn.Module, example_input: torch.Tensor, stages: dict[str, str],
               kept_fraction: float) -> float:
    """Average MACs per input of ``gated_copy(model, stages, gates, kept_fraction)``: every layer's dense MACs
    scaled by its kept input and output channel fractions, plus the gates' own MACs.

    The same count as ``analysis.ChannelCostModel.macs`` for the static model pruned to the same
    channel counts, plus C_in x C_out per gate."""
    stages = _check_stages(model, stages)
    modules = dict(model.named_modules())
    gates = sum(modules[c].in_channels * modules[c].out_channels for c in stages)
    return ChannelCostModel(model, example_input).macs(_static_ratios(model, stages, kept_fraction)) + gates


def _static_ratios(model: nn.Module, stages: dict[str, str], kept_fraction: float) -> dict[str, float]:
    """Ratios for ``structured.prune_channels`` that keep the channel counts the gates keep."""
    modules = dict(model.named_modules())
    return {c: 1 - kept_channels(modules[c].out_channels, kept_fraction) / modules[c].out_channels
            for c in stages}


def static_copy(model: nn.Module, stages: dict[str, str], kept_fraction: float, x: torch.Tensor) -> nn.Module:
    """The static baseline: ``structured.prune_channels`` removes, for every input alike, the channels
    of lowest *average* ``channel_saliency`` over ``x``, keeping the channel counts the gates keep."""
    stages = _check_stages(model, stages)
    mean = {c: s.mean(dim=0) for c, s in channel_saliency(model, stages, x).items()}  # (C_out,) each
    return prune_channels(model, _static_ratios(model, stages, kept_fraction), x[:1], scores=mean)


def gated_vs_static(model: nn.Module, stages: dict[str, str], gates: dict[str, nn.Linear],
                    kept_fraction: float, calibration_x: torch.Tensor, loader) -> dict[str, dict[str, float]]:
    """Dynamic vs static at one ``kept_fraction`` (the slider's work; ``model`` is not changed):
    ``{"dynamic" | "static": {"macs": average MACs per input, "accuracy": on loader}}``. Both keep
    the same channel counts; the dynamic model also pays for its gates."""

    static = static_copy(model, stages, kept_fraction, calibration_x)
    shape = tuple(calibration_x.shape[1:])
    return {
        "dynamic": {"macs": gated_macs(model, calibration_x[:1], stages, kept_fraction),
                    "accuracy": evaluate(gated_copy(model, stages, gates, kept_fraction), loader)},
        "static": {"macs": count_macs(static, shape), "accuracy": evaluate(static, loader)},
    }


def gating_tradeoff(model: nn.Module, stages: dict[str, str], gates: dict[str, nn.Linear], kept_fractions,
                    calibration_x: torch.Tensor, loader) -> list[dict[str, dict[str, float]]]:
    """``gated_vs_static`` at every kept fraction in ``kept_fractions``, computed once (a slider then only
    looks up)."""
    kept_fractions = [check_fraction("kept_fractions", k) for k in kept_fractions]
    if not kept_fractions:
        raise ValueError("keeps must hold at least one kept fraction in (0, 1], got none")
    return [gated_vs_static(model, stages, gates, k, calibration_x, loader) for k in kept_fractions]


def lookup_kept_fraction(kept_fractions, rows: list, kept_fraction: float):
    """The row of ``rows`` (one per entry of ``kept_fractions``, as from ``gating_tradeoff``) whose kept
    fraction equals ``kept_fraction`` (to 1e-9); a ``kept_fraction`` that was not computed is an error
    naming the ones that were."""
    kept_fractions = list(kept_fractions)
    if len(kept_fractions) != len(rows):
        raise ValueError(f"kept_fractions and rows must have the same length, got {len(kept_fractions)} and "
                         f"{len(rows)}")
    for k, row in zip(kept_fractions, rows):
        if abs(k - kept_fraction) <= 1e-9:
            return row
    raise ValueError(f"kept_fraction={kept_fraction!r} was not computed; computed: {kept_fractions}")
