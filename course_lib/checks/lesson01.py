"""Checks for lesson 01's exercises (the L0 formulation)."""

import functools

import torch
from torch import nn
from torch.nn import functional as F

from ..core.selection import keep_largest
from ..data import tiny_regression_data
from ..models import TinyNet
from ..pruning import importance_scores
from ..pruning import magnitude_mask as _magnitude_mask
from ..recipes import flat_weights, l0_study, support_losses
from ..train import fit_full_batch
from . import Case, CheckResult, call_learner, exercise, run_check


@exercise("1.1", mirrors=[_magnitude_mask, keep_largest])
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


@exercise("1.3", mirrors=[importance_scores])
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


# ---------------------------------------------------------------- Exercise 1.2 (design: a pruning plan)

PLAN_CRITERIA = ("magnitude", "obd")
PLAN_TARGETS = (0.5, 0.25, 0.1, 0.03)  # training MSE budgets for the lesson's TinyNet


@functools.lru_cache(maxsize=1)
def _tiny_study():
    x, y = tiny_regression_data()
    tiny = fit_full_batch(TinyNet(seed=0), x, y)
    return tiny, (x, y), l0_study(tiny, (x, y))


def _measured_loss(criterion: str, n_kept: int) -> float:
    """Prune the TinyNet to the ``n_kept`` weights ``criterion`` ranks highest and measure its MSE."""
    tiny, (x, y), _ = _tiny_study()
    if criterion == "magnitude":
        scores = flat_weights(tiny).abs()
    else:
        obd = importance_scores(tiny, "obd", (x, y), loss_fn=F.mse_loss)
        scores = torch.cat([s.flatten() for s in obd.values()])
    support = keep_largest(scores, scores.numel() - n_kept)
    return float(support_losses(tiny, (x, y), support[None])[0])


@exercise("1.2")
def pruning_plan(fn, targets=PLAN_TARGETS):
    """Exercise 1.2 (design): ``fn(study, target)`` returns ``(criterion, n_kept)``: a criterion that
    needs no brute force ("magnitude" or "obd") and how many weights to keep so that the pruned TinyNet's
    training MSE is at most ``target`` with as few weights as possible. The check prunes the net with
    that plan itself, measures the loss, and compares the count with the fewest either criterion needs."""
    _, _, study = _tiny_study()
    d = study["magnitude"].numel() - 1
    for number, target in enumerate(targets, start=1):
        where = f"Exercise 1.2, case {number} (MSE at most {target})"
        plan = call_learner("1.2", where, fn, study, target)
        if not (isinstance(plan, (tuple, list)) and len(plan) == 2 and plan[0] in PLAN_CRITERIA
                and isinstance(plan[1], int) and not isinstance(plan[1], bool) and 0 <= plan[1] <= d):
            return CheckResult("1.2", False, f"✗ {where}: expected (criterion, n_kept) with criterion in "
                               f"{PLAN_CRITERIA} and 0 <= n_kept <= {d}, got {plan!r}")
        criterion, n_kept = plan
        loss = _measured_loss(criterion, n_kept)
        if loss > target + 1e-6:
            return CheckResult("1.2", False, f"✗ {where}: {criterion} keeping {n_kept} weights gives MSE "
                               f"{loss:.4f}, over the budget")
        fewest = min(int((study[c] <= target).nonzero()[0]) for c in PLAN_CRITERIA)
        if n_kept > fewest:
            return CheckResult("1.2", False, f"✗ {where}: {criterion} keeping {n_kept} weights meets the "
                               f"budget (MSE {loss:.4f}), but a plan with fewer weights does too")
    return CheckResult("1.2", True, f"✓ Exercise 1.2: all {len(targets)} budgets met with the fewest weights "
                       "(losses measured by pruning the net).")
