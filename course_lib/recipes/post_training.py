"""Post-training pruning: prune a trained model with no retraining, from a small calibration batch.

Magnitude pruning looks at |W| alone. Wanda (Sun et al. 2023) also looks at what flows through each
weight: input feature j of a layer carries activations X_j over the calibration batch, and the score

    S_ij = |W_ij| * ||X_j||_2

estimates how much output i changes when W_ij is removed. Scores are compared within each output
row (each row loses the same fraction), and a weight feeding a large activation survives even when it
is small. The activations are collected with forward hooks.

A convolution is a matrix product over unfolded patches (im2col): output channel o is row o of the
weight flattened to (C_out, C_in*K_h*K_w), and its input features are the C_in*K_h*K_w entries of
each patch. Everything here treats Conv2d that way. N:M selection is ``nm_sparsity.nm_mask`` applied
to the scores (they are >= 0, so its |.| changes nothing): groups of m run along the reduction
dimension in the hardware's (K_h, K_w, C_in) order, and with scores = |W| it is the magnitude mask.

Optionally the kept weights are refitted by least squares on the calibration inputs so the layer's
outputs move as little as possible (the layer-wise reconstruction of OBS / SparseGPT, in spirit).
"""

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..core.modules import eval_mode, hooks_attached, prunable_weights
from ..core.selection import keep_largest_per_row
from ..core.validation import check_choice, check_fraction, check_positive_int
from ..pruning.importance import LayerData, get_criterion
from ..pruning.nm import nm_mask
from ..train import evaluate

METHODS = ("magnitude", "wanda")


def _unfold_input(module: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """(B, C_in, H, W) -> (B * L, C_in * K_h * K_w): one row per output position (im2col)."""
    if module.groups != 1 or module.padding_mode != "zeros":
        raise ValueError(
            f"only Conv2d with groups=1 and padding_mode='zeros' is supported, got "
            f"groups={module.groups}, padding_mode={module.padding_mode!r}"
        )
    if isinstance(module.padding, str):
        raise ValueError(f"Conv2d padding must be given as numbers, got {module.padding!r}")
    patches = F.unfold(x, module.kernel_size, module.dilation, module.padding, module.stride)
    return patches.transpose(1, 2).reshape(-1, patches.shape[1])  # (B, K, L) -> (B*L, K)


@torch.no_grad()
def layer_inputs(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """What every Conv2d/Linear layer of ``model`` receives on the calibration batch ``x``.

    Returns weight name (``"conv1.weight"``) -> a matrix (rows, fan_in): for Linear one row per
    example (per token for 3-D inputs); for Conv2d one row per example and output position, the
    unfolded patch of C_in*K_h*K_w values in the weight's own order. Collected with forward hooks in
    one forward pass in eval mode; the model is left unchanged.
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor (a calibration batch), got {type(x)}")
    inputs: dict[str, torch.Tensor] = {}

    def hook(name):
        def record(module, args, output):
            (inp,) = args
            rows = _unfold_input(module, inp) if isinstance(module, nn.Conv2d) else inp.flatten(0, -2)
            inputs[name] = rows.detach().clone()

        return record

    hooks = [(module, hook(f"{name}.weight")) for name, module in model.named_modules()
             if isinstance(module, (nn.Conv2d, nn.Linear))]
    with hooks_attached(forward=hooks), eval_mode(model):
        model(x)
    return inputs


@torch.no_grad()
def reconstruct_weight(
    weight: torch.Tensor, mask: torch.Tensor, inputs: torch.Tensor, damping: float = 0.01
) -> torch.Tensor:
    """Refit the kept weights so the layer's outputs on ``inputs`` change as little as possible.

    For each output row i with kept set S_i, solve min over w' (zero outside S_i) of
    ||X (w' - w_i)||^2 + lam ||w' - w_i||^2, whose normal equations are H_SS w'_S = (H w_i)_S with
    H = X^T X + lam I and lam = ``damping`` * mean(diag(X^T X)). All rows are solved in one batched
    call: pruned coordinates get an identity row and a zero right-hand side, so they come out 0.

    ``weight``: (C_out, ...) with fan_in entries per row; ``mask``: bool of the same shape;
    ``inputs``: (rows, fan_in) from ``layer_inputs``. Memory is C_out * fan_in^2 floats.
    """
    if mask.shape != weight.shape or mask.dtype != torch.bool:
        raise ValueError(f"mask must be a bool tensor of shape {tuple(weight.shape)}, got "
                         f"{mask.dtype} {tuple(mask.shape)}")
    w, keep = weight.flatten(1).double(), mask.flatten(1)  # (C_out, K)
    if inputs.ndim != 2 or inputs.shape[1] != w.shape[1]:
        raise ValueError(f"inputs must have shape (rows, {w.shape[1]}), got {tuple(inputs.shape)}")
    x = inputs.double()
    gram = x.T @ x  # (K, K)
    hessian = gram + damping * gram.diagonal().mean().clamp_min(1e-12) * torch.eye(len(gram))
    pair = keep[:, :, None] & keep[:, None, :]  # (C_out, K, K): both coordinates kept
    system = torch.where(pair, hessian, 0.0) + torch.diag_embed((~keep).double())
    rhs = torch.where(keep, w @ hessian, 0.0)  # (C_out, K): (H w_i)_S, H symmetric
    # Each system is symmetric positive definite (a block of H, identity elsewhere): Cholesky fits, and
    # it avoids torch.linalg.solve's batched LU, which returned garbage on 2 CPU threads (torch 2.14, MKL).
    solved = torch.cholesky_solve(rhs[..., None], torch.linalg.cholesky(system))[..., 0]
    return solved.to(weight.dtype).view_as(weight)


def post_training_prune(
    model: nn.Module,
    x: torch.Tensor,
    sparsity: float | None = None,
    n_m: tuple[int, int] | None = None,
    method: str = "wanda",
    reconstruct: bool = False,
) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """Prune a copy of a trained ``model`` with no retraining, using the calibration batch ``x``.

    Give either ``sparsity`` (unstructured: that fraction of every output row of every Conv2d/Linear
    weight) or ``n_m=(n, m)`` (N:M along fan_in; a layer whose fan_in ``m`` does not divide, such
    as a first conv with 1*3*3 inputs, is left dense and absent from the masks). ``method`` scores
    weights by ``"magnitude"`` |W| or ``"wanda"`` |W|*||X||. With ``reconstruct`` the kept weights of
    each layer are refitted by least squares (``reconstruct_weight``) on its calibration inputs.

    Returns (pruned copy, masks by weight name). ``model`` itself is never changed.
    """
    check_choice("method", method, METHODS)
    if (sparsity is None) == (n_m is None):
        raise ValueError(f"give exactly one of sparsity or n_m, got sparsity={sparsity!r}, n_m={n_m!r}")
    if n_m is not None:
        if not isinstance(n_m, tuple) or len(n_m) != 2:
            raise ValueError(f"n_m must be a pair (n, m) such as (2, 4), got {n_m!r}")
        check_positive_int("n", n_m[0])
        check_positive_int("m", n_m[1])
    else:
        sparsity = check_fraction("sparsity", sparsity)
    pruned = copy.deepcopy(model)
    inputs = layer_inputs(pruned, x) if method == "wanda" or reconstruct else {}
    masks = {}
    for name, weight in prunable_weights(pruned).items():
        if n_m is not None and weight[0].numel() % n_m[1]:
            continue  # fan_in not a multiple of m: the hardware would keep this layer dense
        layer = pruned.get_submodule(name.rpartition(".")[0])
        data = LayerData(input_norm=inputs[name].norm(dim=0)) if method == "wanda" else None
        scores = get_criterion(method)(layer, data)  # the kit's one criterion protocol
        if n_m is None:  # the same fraction of every output row
            masks[name] = keep_largest_per_row(scores, round(sparsity * scores[0].numel()))
        else:
            masks[name] = nm_mask(scores, *n_m)
        with torch.no_grad():
            if reconstruct:
                weight.copy_(reconstruct_weight(weight, masks[name], inputs[name]))
            weight.mul_(masks[name])
    return pruned, masks


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """A copy of ``model`` whose BatchNorm running statistics are re-estimated on the batch ``x``.

    Pruning shifts every layer's output distribution, so the mean and variance a BatchNorm stored
    during training no longer fit. One forward pass in train mode with a cumulative average
    (momentum None) replaces them by the statistics of ``x``: no gradient, no trainable parameter.
    ``model`` itself is unchanged.
    """
    fixed = copy.deepcopy(model)
    norms = [m for m in fixed.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        raise ValueError(f"model has no BatchNorm layer to recalibrate: {type(model).__name__}")
    momenta = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None
    fixed.train()
    fixed(x)
    for bn, momentum in zip(norms, momenta, strict=True):
        bn.momentum = momentum
    return fixed.eval()


# The post-training recipes lesson 06 compares, by name: keyword arguments of ``post_training_prune``.
POST_TRAINING_RECIPES = {
    "magnitude": {"method": "magnitude"},
    "wanda": {"method": "wanda"},
    "wanda + least squares": {"method": "wanda", "reconstruct": True},
}


def post_training_sweep(
    model: nn.Module, x: torch.Tensor, loader, sparsities, recipes=tuple(POST_TRAINING_RECIPES)
) -> dict[tuple[str, float], float]:
    """Accuracy on ``loader`` of ``model`` pruned after training by each recipe at each sparsity.

    ``recipes`` are names of ``POST_TRAINING_RECIPES``; ``x`` is the calibration batch. Returns
    ``{(recipe, sparsity): accuracy}``; every entry prunes a fresh copy, ``model`` is unchanged. Use a
    validation loader here when the result chooses anything.
    """
    for name in recipes:
        check_choice("recipe", name, set(POST_TRAINING_RECIPES))
    sparsities = [check_fraction("sparsity", s) for s in sparsities]
    return {
        (name, s): evaluate(post_training_prune(model, x, s, **POST_TRAINING_RECIPES[name])[0], loader)
        for name in recipes
        for s in sparsities
    }


def choose_post_training(accuracies: dict, baseline: float, max_drop: float) -> tuple[str, float] | None:
    """The (recipe, sparsity) of ``accuracies`` with the highest sparsity whose accuracy is at most
    ``max_drop`` below ``baseline``; among equal sparsities the most accurate, then the first listed.
    ``None`` when nothing meets the target. ``accuracies`` is ``post_training_sweep``'s result."""
    max_drop = check_fraction("max_drop", max_drop)
    meets = [(s, acc, -i, name) for i, ((name, s), acc) in enumerate(accuracies.items())
             if acc >= baseline - max_drop - 1e-12]
    if not meets:
        return None
    sparsity, _, _, name = max(meets)
    return name, sparsity
