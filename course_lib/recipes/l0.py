"""The L0-constrained pruning problem, solved exactly on a tiny network, and relaxed with hard-concrete gates.

    argmin_{W_p} L(x; W_p)   subject to   ||W_p||_0 <= N

Here W_p = W * m keeps the trained values on a support m with N entries (pruning without retraining),
so the exact optimum is a search over all C(d, N) supports: feasible for a dozen weights, hopeless for
millions. That is why pruning uses cheap criteria, and why it is worth seeing how close they get.

The second half is Louizos et al. 2018's relaxation: every weight gets a stochastic gate z in [0, 1]
(a "hard-concrete" variable) whose probability of being non-zero is differentiable, so the expected
L0 norm can be added to the loss and minimised by gradient descent.
"""

import copy
import math

import torch
from torch import nn
from torch.func import functional_call, vmap
from torch.nn import functional as F
from tqdm.auto import tqdm

from ..core.modules import eval_mode, prunable_weights
from ..core.selection import keep_largest
from ..core.validation import check_int_in_range, check_positive_int
from ..pruning.criteria import importance_scores

MAX_BRUTE_FORCE_WEIGHTS = 20  # 2^20 supports: about a million forward passes


# Louizos et al. 2018: temperature beta, stretch interval (gamma, zeta)
BETA, GAMMA, ZETA = 2 / 3, -0.1, 1.1


def all_supports(d: int, n: int | None = None) -> torch.Tensor:
    """Every subset of d positions as rows of a bool tensor (2^d, d), or only those of size ``n``
    (C(d, n), d). Row order: by the subset's binary code, so the result is deterministic."""
    check_int_in_range("d", d, 0, MAX_BRUTE_FORCE_WEIGHTS)
    codes = torch.arange(2**d)
    supports = (codes[:, None] >> torch.arange(d)) & 1 == 1  # (2^d, d)
    if n is None:
        return supports
    check_int_in_range("n", n, 0, d)
    return supports[supports.sum(dim=1) == n]


def flat_weights(model: nn.Module) -> torch.Tensor:
    """All Conv2d/Linear weights of ``model`` concatenated, in ``prunable_weights`` order: (d,)."""
    return torch.cat([w.detach().flatten() for w in prunable_weights(model).values()])


def unflatten_mask(model: nn.Module, flat_mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """A flat (d,) bool mask cut into ``{name: mask of that weight's shape}``."""
    weights = prunable_weights(model)
    pieces = flat_mask.split([w.numel() for w in weights.values()])
    return {name: piece.view(w.shape) for (name, w), piece in zip(weights.items(), pieces)}


@torch.no_grad()
def support_losses(model: nn.Module, batch, supports: torch.Tensor, loss_fn=F.mse_loss) -> torch.Tensor:
    """The loss of ``model`` with its weights masked by each support: supports (M, d) -> losses (M,).

    One vectorised forward pass per support (vmap), biases and all else unchanged.
    """
    weights = prunable_weights(model)
    d = sum(w.numel() for w in weights.values())
    if supports.ndim != 2 or supports.shape[1] != d or supports.dtype != torch.bool:
        raise ValueError(
            f"supports must be a bool tensor (M, {d}), got {supports.dtype} of shape {tuple(supports.shape)}"
        )
    x, y = batch
    params = dict(model.named_parameters())

    def loss_of(support):
        masked = dict(params)
        masked.update({name: params[name] * m for name, m in unflatten_mask(model, support).items()})
        return loss_fn(functional_call(model, masked, (x,)), y)

    return vmap(loss_of)(supports)


def l0_study(model: nn.Module, batch, loss_fn=F.mse_loss) -> dict:
    """Every support of every size, scored, and the supports three criteria would choose.

    Returns a dict of tensors indexed by N = 0..d (the number of weights kept):
    ``optimum`` / ``worst`` / ``random_mean`` losses over all supports of size N (the random mean is
    the exact expectation of picking N weights at random), ``magnitude`` / ``obd`` losses of those
    criteria's supports, ``best_support`` / ``magnitude_support`` / ``obd_support`` (d+1, d) bool,
    ``distance_optimum`` (smallest ||W - W_p||_2 over supports of size N) and ``distance_magnitude``;
    and every support (2^d, d) with its loss and distance: ``all_supports``, ``all_losses``,
    ``all_distances``.
    """
    w = flat_weights(model)
    d = w.numel()
    if d > MAX_BRUTE_FORCE_WEIGHTS:
        raise ValueError(
            f"model has {d} prunable weights; brute force tries all 2^d supports, so it allows at most "
            f"{MAX_BRUTE_FORCE_WEIGHTS}"
        )
    supports = all_supports(d)  # (2^d, d)
    sizes = supports.sum(dim=1)  # (2^d,)
    losses = support_losses(model, batch, supports, loss_fn)  # (2^d,)
    distances = ((~supports) * w.pow(2)).sum(dim=1).sqrt()  # ||W - W*m||_2 for each support
    obd = torch.cat([s.flatten() for s in importance_scores(model, "obd", batch, loss_fn=loss_fn).values()])
    study = {key: [] for key in ("optimum", "worst", "random_mean", "best_support", "distance_optimum")}
    for n in range(d + 1):
        of_size = (sizes == n).nonzero().flatten()
        best = of_size[losses[of_size].argmin()]
        study["optimum"].append(losses[best])
        study["worst"].append(losses[of_size].max())
        study["random_mean"].append(losses[of_size].mean())
        study["best_support"].append(supports[best])
        study["distance_optimum"].append(distances[of_size].min())
    study = {key: torch.stack(values) for key, values in study.items()}
    study.update(all_supports=supports, all_losses=losses, all_distances=distances)
    for name, scores in (("magnitude", w.abs()), ("obd", obd)):
        chosen = torch.stack([keep_largest(scores, d - n) for n in range(d + 1)])  # (d+1, d): keep n
        study[f"{name}_support"] = chosen
        study[name] = support_losses(model, batch, chosen, loss_fn)
    study["distance_magnitude"] = ((~study["magnitude_support"]) * w.pow(2)).sum(dim=1).sqrt()
    return study


class HardConcreteLinear(nn.Module):
    """A Linear layer whose every weight is multiplied by a hard-concrete gate z in [0, 1].

    Training samples z = clamp(sigmoid((log u - log(1-u) + log_alpha) / beta) * (zeta - gamma) + gamma, 0, 1)
    with u ~ U(0, 1); evaluation uses the deterministic gate (u = 1/2), which is exactly 0 for
    log_alpha below a threshold: those weights are pruned. Shapes: x (B, in) -> (B, out).
    """

    def __init__(self, linear: nn.Linear, init_log_alpha: float = 3.0):
        super().__init__()
        self.weight = nn.Parameter(linear.weight.detach().clone())
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone())
        self.log_alpha = nn.Parameter(torch.full_like(self.weight, init_log_alpha))

    def gates(self) -> torch.Tensor:
        """z (weight's shape): a sample while training, the deterministic gate in eval mode."""
        if self.training:
            u = torch.rand_like(self.log_alpha).clamp(1e-6, 1 - 1e-6)
            s = torch.sigmoid((u.log() - (-u).log1p() + self.log_alpha) / BETA)
        else:
            s = torch.sigmoid(self.log_alpha)
        return (s * (ZETA - GAMMA) + GAMMA).clamp(0.0, 1.0)

    def expected_l0(self) -> torch.Tensor:
        """Sum over weights of P(z != 0) = sigmoid(log_alpha - beta * log(-gamma / zeta)): differentiable."""
        return torch.sigmoid(self.log_alpha - BETA * math.log(-GAMMA / ZETA)).sum()

    def forward(self, x):
        return F.linear(x, self.weight * self.gates(), self.bias)


def with_l0_gates(model: nn.Module, init_log_alpha: float = 3.0) -> nn.Module:
    """A copy of ``model`` with every nn.Linear replaced by a :class:`HardConcreteLinear`."""
    gated = copy.deepcopy(model)
    for module in list(gated.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.Linear):
                setattr(module, child_name, HardConcreteLinear(child, init_log_alpha))
    if not any(isinstance(m, HardConcreteLinear) for m in gated.modules()):
        raise ValueError(f"model {type(model).__name__} has no nn.Linear layers to gate")
    return gated


def expected_l0(model: nn.Module) -> torch.Tensor:
    """The expected number of non-zero gated weights of ``model`` (a differentiable scalar)."""
    return sum(m.expected_l0() for m in model.modules() if isinstance(m, HardConcreteLinear))


@torch.no_grad()
def gate_sparsity(model: nn.Module) -> float:
    """Fraction of gated weights whose deterministic (eval-mode) gate is exactly zero."""
    layers = [m for m in model.modules() if isinstance(m, HardConcreteLinear)]
    with eval_mode(model):
        zeros = sum(int((m.gates() == 0).sum()) for m in layers)
    return zeros / sum(m.weight.numel() for m in layers)


def train_l0(
    model: nn.Module,
    loader,
    epochs: int,
    penalty: float,
    lr: float = 1e-3,
    gate_lr: float = 0.1,
    progress: bool = True,
) -> dict:
    """Minimise cross-entropy + ``penalty`` * E[L0] / (number of gated weights) with Adam.

    Weights and biases learn at ``lr``, gates (log_alpha) at ``gate_lr``. Returns per epoch
    ``{"gate_sparsity": [...], "expected_l0": [...]}``.
    """
    check_positive_int("epochs", epochs)
    if not penalty >= 0:
        raise ValueError(f"penalty must be >= 0, got {penalty!r}")
    gates = [p for name, p in model.named_parameters() if name.endswith("log_alpha")]
    others = [p for name, p in model.named_parameters() if not name.endswith("log_alpha")]
    if not gates:
        raise ValueError("model has no hard-concrete gates: wrap it with with_l0_gates(model) first")
    n_gated = sum(g.numel() for g in gates)
    optimizer = torch.optim.Adam([{"params": others, "lr": lr}, {"params": gates, "lr": gate_lr}])
    history = {"gate_sparsity": [], "expected_l0": []}
    for _ in tqdm(range(epochs), desc="L0 training", disable=not progress, leave=False):
        model.train()
        for x, y in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y) + penalty * expected_l0(model) / n_gated
            loss.backward()
            optimizer.step()
        history["gate_sparsity"].append(gate_sparsity(model))
        history["expected_l0"].append(float(expected_l0(model).detach()))
    model.eval()
    return history
