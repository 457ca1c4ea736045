"""Each lesson-02 check passes on the reference answer and fails, naming the case, on wrong ones."""

import torch

from course_lib import core
from course_lib.checks import lesson02 as check


def unit_mask(weight, sparsity, unit_dims, score):
    """A from-scratch unit mask: score each unit, prune the lowest round(sparsity * units)."""
    scores = score(weight).sum(dim=unit_dims)
    keep = core.keep_largest(scores, round(sparsity * scores.numel()))
    return keep.view(*keep.shape, *([1] * len(unit_dims))).expand_as(weight).clone()


def test_kernel_mask():
    assert check.kernel_mask(lambda w, s: unit_mask(w, s, (2, 3), torch.square))
    l1_instead = check.kernel_mask(lambda w, s: unit_mask(w, s, (2, 3), torch.abs))
    assert not l1_instead and "one big weight" in repr(l1_instead)
    channels = check.kernel_mask(lambda w, s: unit_mask(w, s, (1, 2, 3), torch.square))
    assert not channels and "case 1" in repr(channels)
    signed = check.kernel_mask(lambda w, s: unit_mask(w, s, (2, 3), lambda t: t))
    assert not signed and "case 1" in repr(signed)


def test_channel_mask():
    assert check.channel_mask(lambda w, s: unit_mask(w, s, (1, 2, 3), torch.abs))
    l2_instead = check.channel_mask(lambda w, s: unit_mask(w, s, (1, 2, 3), torch.square))
    assert not l2_instead and "Exercise 2.2" in repr(l2_instead)
    input_channels = check.channel_mask(
        lambda w, s: unit_mask(w.transpose(0, 1), s, (1, 2, 3), torch.abs).transpose(0, 1)
    )
    assert not input_channels and "case 1" in repr(input_channels)


def test_choose_patterns():
    assert check.choose_patterns(lambda k, p: (k.pow(2) @ p.float().T).argmax(dim=1))
    by_abs = check.choose_patterns(lambda k, p: (k.abs() @ p.float().T).argmax(dim=1))
    assert not by_abs and "squares count" in repr(by_abs)
    signed = check.choose_patterns(lambda k, p: (k @ p.float().T).argmax(dim=1))
    assert not signed and "case 1" in repr(signed)
    last_tie = check.choose_patterns(
        lambda k, p: p.shape[0] - 1 - (k.pow(2) @ p.float().T).flip(1).argmax(dim=1)
    )
    assert not last_tie and "tie" in repr(last_tie)
