"""Checks for lesson 06's exercises (the three stages of pruning)."""

import torch

from ..pruning import wanda_scores as _wanda_scores
from ..recipes import adapter_parameters as _adapter_parameters
from ..recipes import lora_linear as _lora_linear
from . import Case, run_check


def _random(*shape, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def lora_forward(fn):
    """Exercise 6.1: a LoRA linear layer's output x W^T + bias + scale * (x A^T) B^T."""
    cases = [
        Case("B = 0: the frozen layer alone",
             (_random(3, 5, seed=0), _random(4, 5, seed=1), _random(4, seed=2), _random(2, 5, seed=3),
              torch.zeros(4, 2), 1.0)),
        Case("rank 1, scale 1, no bias",
             (_random(2, 3, seed=4), _random(2, 3, seed=5), None, _random(1, 3, seed=6),
              _random(2, 1, seed=7), 1.0)),
        Case("rank 2 on a pruned weight, scale 0.5",
             (_random(6, 8, seed=8), _random(5, 8, seed=9) * (_random(5, 8, seed=10) > 0.5),
              _random(5, seed=11), _random(2, 8, seed=12), _random(5, 2, seed=13), 0.5)),
        Case("a batch of sequences (2, 3, 4), scale 2",
             (_random(2, 3, 4, seed=14), _random(3, 4, seed=15), _random(3, seed=16),
              _random(2, 4, seed=17), _random(3, 2, seed=18), 2.0)),
    ]
    return run_check("6.1", fn, _lora_linear, cases)


def lora_parameters(fn):
    """Exercise 6.2: trainable numbers of a rank-r adapter on a weight (C_out, ...): r * (fan_in + C_out)."""
    cases = [
        Case("a Linear weight (64, 256), rank 4", ((64, 256), 4)),
        Case("a square Linear weight (10, 10), rank 1", ((10, 10), 1)),
        Case("a Conv weight (64, 32, 3, 3), rank 2", ((64, 32, 3, 3), 2)),
        Case("a Conv weight (16, 1, 3, 3), rank 9", ((16, 1, 3, 3), 9)),
    ]
    return run_check("6.2", fn, _adapter_parameters, cases)


def wanda_scores(fn):
    """Exercise 6.3: Wanda's |W_ij| * ||X_j||_2 for a Linear weight (C_out, C_in) and inputs (N, C_in)."""

    def reference(weight, inputs):
        return _wanda_scores(weight, inputs.norm(dim=0))

    cases = [
        Case("2x3 weight, inputs of very different sizes",
             (torch.tensor([[1.0, -1.0, 2.0], [0.5, 3.0, -0.1]]),
              torch.tensor([[10.0, 1.0, 0.5], [0.0, 0.0, 0.0]]))),
        Case("negative weights and inputs", (-_random(4, 6, seed=20).abs(), -_random(9, 6, seed=21).abs())),
        Case("constant inputs: scores proportional to |W|", (_random(3, 5, seed=22), torch.ones(7, 5))),
        Case("64x256 weight, 128 calibration rows", (_random(64, 256, seed=23), _random(128, 256, seed=24))),
    ]
    return run_check("6.3", fn, reference, cases)
