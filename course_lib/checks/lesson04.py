"""Checks for lesson 04's exercises (channel pruning)."""

import functools
from dataclasses import dataclass

import torch
from torch import nn

from ..analysis import channel_sensitivity, mac_fraction, ratios_for_mac_budget
from ..analysis import largest_safe_ratio as _largest_safe_ratio
from ..data import digits_loaders
from ..models import load_pretrained
from ..structured import input_channel_norms, prune_channels, prune_conv_pair
from ..train import evaluate
from . import Case, Invalid, exercise, run_check, same, summarize


@exercise("4.1", mirrors=[input_channel_norms])
def input_channel_importance(fn):
    """Exercise 4.1: the L2 norm of each input channel's slice of a conv weight (Co, Ci, Kh, Kw)."""
    g = torch.Generator().manual_seed(0)
    zero_channel = torch.randn(4, 3, 3, 3, generator=g)
    zero_channel[:, 1] = 0
    cases = [
        Case("a 1x1 conv with 2 outputs and 3 inputs", (torch.tensor([[[[3.0]], [[0.0]], [[1.0]]],
                                                                     [[[4.0]], [[2.0]], [[-1.0]]]]),)),
        Case("a 3x3 conv, 8 outputs, 5 inputs", (torch.randn(8, 5, 3, 3, generator=g),)),
        Case("input channel 1 is all zeros", (zero_channel,)),
        Case("a single input channel", (torch.randn(6, 1, 5, 5, generator=g),)),
    ]  # fmt: skip
    return run_check("4.1", fn, input_channel_norms, cases)


@dataclass(frozen=True)
class _Pair:
    """What a pruned (conv, consumer) pair must match: channel counts and every weight."""

    out_channels: int
    in_channels: int
    tensors: tuple

    def __eq__(self, other):
        return (
            isinstance(other, _Pair)
            and (self.out_channels, self.in_channels) == (other.out_channels, other.in_channels)
            and same(self.tensors, other.tensors)
        )

    def __repr__(self):
        conv_weight = self.tensors[0]
        norms = [round(v, 3) for v in conv_weight.abs().flatten(1).sum(dim=1).tolist()]
        return (
            f"conv with {self.out_channels} output channels (filter L1 norms in order {norms}) and a "
            f"consumer with {self.in_channels} input channels"
        )


def _pair(result) -> "_Pair | Invalid":
    if not (isinstance(result, tuple) and len(result) == 2 and all(isinstance(m, nn.Conv2d) for m in result)):
        return Invalid(f"expected a (conv, consumer) pair of nn.Conv2d, got {summarize(result)}")
    conv, consumer = result
    tensors = (
        conv.weight.detach(),
        None if conv.bias is None else conv.bias.detach(),
        consumer.weight.detach(),
    )
    return _Pair(conv.out_channels, consumer.in_channels, tensors)


@exercise("4.2", mirrors=[prune_conv_pair])
def keep_top_filters(fn):
    """Exercise 4.2: keep a conv's n_keep filters of largest L1 norm and fix the consumer's inputs."""
    torch.manual_seed(1)
    cases = [
        Case("8 filters, keep 5", (nn.Conv2d(1, 8, 3), nn.Conv2d(8, 4, 3), 5)),
        Case("no bias, 3x3 -> 1x1, keep 2 of 6", (nn.Conv2d(3, 6, 3, bias=False), nn.Conv2d(6, 2, 1), 2)),
        Case("keep every filter", (nn.Conv2d(2, 4, 3), nn.Conv2d(4, 3, 3), 4)),
        Case("keep one filter", (nn.Conv2d(2, 5, 1), nn.Conv2d(5, 2, 3), 1)),
    ]
    def answer(conv, consumer, n_keep):
        return _pair(fn(conv, consumer, n_keep))

    def expected(conv, consumer, n_keep):
        return _pair(prune_conv_pair(conv, consumer, n_keep))

    return run_check("4.2", answer, expected, cases)


@exercise("4.3", mirrors=[_largest_safe_ratio])
def largest_safe_ratio(fn):
    """Exercise 4.3: the largest ratio whose accuracy is at most max_drop below dense, else 0.0."""
    ratios = (0.25, 0.5, 0.75)
    cases = [
        Case("accuracy falls steadily", (ratios, (1.0, 0.875, 0.5), 1.0, 0.125)),
        Case("a drop exactly equal to max_drop is allowed", (ratios, (0.75, 0.5, 0.25), 1.0, 0.25)),
        Case("no ratio is safe", (ratios, (0.5, 0.25, 0.0), 1.0, 0.25)),
        Case("not monotone: a later ratio recovers", (ratios, (1.0, 0.5, 0.9375), 1.0, 0.0625)),
        Case("every ratio is safe", (ratios, (1.0, 1.0, 1.0), 1.0, 0.0)),
    ]
    return run_check("4.3", fn, _largest_safe_ratio, cases)


# --- Exercise 4.4 (design): per-group ratios for a MAC budget, from a validation scan ---------------

ACCURACY_TOLERANCE = 0.01  # one point of validation accuracy (about 3 of the 270 validation images)
SCAN_RATIOS = (0.25, 0.5, 0.75)


@functools.lru_cache(maxsize=1)
def _convnet_and_scan():
    """The trained ConvNet, its validation loader and a channel sensitivity scan on validation."""
    model = load_pretrained("convnet")
    val_loader = digits_loaders().validation
    example = torch.zeros(1, 1, 8, 8)
    scan = channel_sensitivity(model, example, lambda m: evaluate(m, val_loader), ratios=SCAN_RATIOS,
                               progress=False)
    return model, val_loader, example, scan


@dataclass(frozen=True)
class _Ratios:
    """What a valid choice of per-group ratios achieves once applied: MACs kept and validation accuracy."""

    ratios: dict
    macs: float
    accuracy: float

    def __repr__(self):
        shown = {k: round(v, 3) for k, v in self.ratios.items()}
        return f"ratios {shown}: MACs kept {self.macs:.1%}, validation accuracy {self.accuracy:.2%}"


@dataclass(frozen=True)
class _Bar:
    """What a choice must reach: the MAC budget, and one point below the library's choice."""

    budget: float
    accuracy: float

    def __repr__(self):
        return (f"MACs kept at most {self.budget:.0%} and validation accuracy at least {self.accuracy:.2%} "
                "(one point below the library's choice from the same scan)")


def _measure(ratios) -> "_Ratios | Invalid":
    model, val_loader, example, scan = _convnet_and_scan()
    if not isinstance(ratios, dict) or not all(isinstance(v, (int, float)) for v in ratios.values()):
        return Invalid(f"expected a {{group name: ratio}} dict, got {summarize(ratios)}")
    unknown = [k for k in ratios if k not in scan.curves]
    if unknown:
        return Invalid(f"{unknown[0]!r} is not a group of the scan (groups: {list(scan.curves)})")
    bad = [k for k, v in ratios.items() if not 0 <= v < 1]
    if bad:
        return Invalid(f"ratio {ratios[bad[0]]!r} for {bad[0]!r} is not in [0, 1)")
    pruned = prune_channels(model, dict(ratios), example)
    return _Ratios(dict(ratios), mac_fraction(model, pruned, example), evaluate(pruned, val_loader))


def _reaches(got: _Ratios, expected: _Bar) -> bool:
    return got.macs <= expected.budget + 1e-9 and got.accuracy >= expected.accuracy - 1e-12


@exercise("4.4", mirrors=[ratios_for_mac_budget])
def choose_channel_ratios(fn):
    """Exercise 4.4: per-group ratios whose pruned ConvNet keeps at most ``budget`` of the MACs and
    whose validation accuracy (before fine-tuning) is within one point of the library's choice
    (``analysis.ratios_for_mac_budget``) from the same validation scan."""
    model, _, example, scan = _convnet_and_scan()
    cases = [Case(f"ConvNet, keep at most {b:.0%} of the MACs (scan at ratios {SCAN_RATIOS})",
                  (model, example, scan, b)) for b in (0.5, 0.35)]

    def bar(model, example, scan, budget):
        choice = ratios_for_mac_budget(model, example, scan, budget)
        return _Bar(budget, _measure(choice).accuracy - ACCURACY_TOLERANCE)

    def measured(model, example, scan, budget):
        return _measure(fn(model, example, scan, budget))

    return run_check("4.4", measured, bar, cases, compare=_reaches)
