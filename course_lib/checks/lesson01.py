"""Checks for lesson 01's exercises (the L0 formulation)."""

import torch
from torch import nn

from ..pruning import importance_scores
from ..pruning import magnitude_mask as _magnitude_mask
from ..pruning import project_l0 as _project_l0
from . import Case, run_check


def magnitude_mask(fn):
    """Exercise 1.1: a bool mask that prunes the round(sparsity * numel) weights of smallest |w|."""
    g = torch.Generator().manual_seed(0)
    cases = [
        Case("a small vector at 50%", (torch.tensor([0.3, -0.1, 0.05, -0.9]), 0.5)),
        Case("negative weights count by magnitude", (torch.tensor([-2.0, 0.5, -0.1, 1.0, 0.2]), 0.4)),
        Case("a 4-D conv weight at 70%", (torch.randn(4, 3, 3, 3, generator=g), 0.7)),
        Case("sparsity 0 keeps everything", (torch.randn(5, 4, generator=g), 0.0)),
        Case("sparsity 1 prunes everything", (torch.randn(5, 4, generator=g), 1.0)),
        Case("round(0.25 * 10) = 2 weights pruned (not 3)", (torch.randn(10, generator=g), 0.25)),
        Case("ties: equal weights, the earlier ones are pruned first", (torch.ones(6), 0.5)),
    ]
    return run_check("1.1", fn, _magnitude_mask, cases)


def project_l0(fn):
    """Exercise 1.2: the closest tensor to w (Euclidean distance) with at most n non-zeros."""
    g = torch.Generator().manual_seed(1)
    cases = [
        Case("keep 2 of 5", (torch.tensor([0.5, -3.0, 0.1, 2.0, -0.2]), 2)),
        Case("the sign is kept, not the magnitude alone", (torch.tensor([-4.0, 1.0, -0.5]), 1)),
        Case("a 3x4 matrix, keep 5", (torch.randn(3, 4, generator=g), 5)),
        Case("n = 0 gives all zeros", (torch.randn(6, generator=g), 0)),
        Case("n = numel changes nothing", (torch.randn(2, 3, generator=g), 6)),
    ]
    return run_check("1.2", fn, _project_l0, cases)


def _half_squared_error(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """1/2 * ||out - y||^2 per example, averaged over the batch."""
    return 0.5 * (out - y).pow(2).sum(dim=1).mean()


def _obd_saliency(weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The library's OBD, with the exact Hessian, on a bias-free Linear layer with loss 1/2 ||Wx - y||^2."""
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    with torch.no_grad():
        layer.weight.copy_(weight)
    y = torch.zeros(len(x), weight.shape[0])
    return importance_scores(layer, "obd", (x, y), loss_fn=_half_squared_error)["weight"]


def obd_saliency(fn):
    """Exercise 1.3: OBD saliency 1/2 * h_kk * w_k^2 of a linear layer y = W x under 1/2 ||W x - y||^2,
    whose Hessian diagonal for w_ij is mean over the batch of x_j^2."""
    g = torch.Generator().manual_seed(2)
    x_scaled = torch.randn(16, 4, generator=g) * torch.tensor([5.0, 1.0, 0.2, 0.0])
    x_two = torch.tensor([[1.0, 3.0], [1.0, -1.0]])
    cases = [
        Case("one output, two inputs", (torch.tensor([[2.0, -1.0]]), x_two)),
        Case("inputs on different scales", (torch.randn(3, 4, generator=g), x_scaled)),
        Case("a single example", (torch.randn(2, 3, generator=g), torch.randn(1, 3, generator=g))),
    ]
    return run_check("1.3", fn, _obd_saliency, cases)
