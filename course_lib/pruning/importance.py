"""Importance criteria: which weights can go with the least harm?

One small interface: a criterion is a callable ``criterion(layer, data=None) -> scores`` that takes a
Conv2d/Linear layer and returns a score tensor of ``layer.weight``'s shape (higher = more important).
Its ``needs`` attribute names what it reads from ``data`` (a :class:`LayerData`): nothing, the
gradient, or the Hessian diagonal, which :func:`layer_data` computes on a calibration batch.

=========  ===================  ===================================================================
name       score                idea
=========  ===================  ===================================================================
random     U(0, 1)              the baseline any criterion must beat
magnitude  |w|                  small weights matter little (and it is the L0 projection)
obd        1/2 * h_kk * w_k^2   LeCun et al. 1989: the loss increase a 2nd-order Taylor expansion
                                predicts when w_k is set to zero (diagonal Hessian, gradient ~ 0)
taylor     (w_k * g_k)^2        1st-order Taylor: the squared predicted loss change (Molchanov 2019)
wanda      |w_ij| * ||X_j||_2   Sun et al. 2023: weight times the norm of the input it multiplies,
                                from calibration activations (post-training pruning, lesson 06)
=========  ===================  ===================================================================

The same protocol serves every kind of pruning in the kit: unstructured masks
(:func:`importance_masks`), post-training pruning (``recipes.post_training_prune`` scores with
``get_criterion("magnitude" | "wanda")``) and structured pruning (``structured.group_scores`` sums a
criterion's scores over each channel's weights).
"""

from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.nn import functional as F

from ..core.modules import eval_mode, prunable_weights
from ..core.validation import check_choice, check_fraction, check_positive_int
from .magnitude import masks_from_scores

HESSIAN_METHODS = ("exact", "hutchinson", "fisher")


EXACT_HESSIAN_LIMIT = 4096  # the exact diagonal builds full Hessian rows: n x n numbers


@dataclass(frozen=True)
class LayerData:
    """What data-driven criteria read for one weight; each tensor has the weight's shape."""

    grad: torch.Tensor | None = None  # dL/dw on the calibration batch
    hessian_diag: torch.Tensor | None = None  # d^2L/dw^2, exact or estimated
    input_norm: torch.Tensor | None = None  # (fan_in,) L2 norm of each input feature over calibration rows


class Magnitude:
    """|w|: keep the largest weights."""

    needs = frozenset()

    def __call__(self, layer: nn.Module, data: LayerData | None = None) -> torch.Tensor:
        return layer.weight.detach().abs()


class Random:
    """Uniform random scores from a seeded generator: the same draws on every rerun."""

    needs = frozenset()

    def __init__(self, seed: int = 0):
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, layer: nn.Module, data: LayerData | None = None) -> torch.Tensor:
        return torch.rand(layer.weight.shape, generator=self.generator).to(layer.weight.device)


class OBD:
    """Optimal Brain Damage saliency 1/2 * h_kk * w_k^2 (needs the Hessian diagonal)."""

    needs = frozenset({"hessian_diag"})

    def __call__(self, layer: nn.Module, data: LayerData | None = None) -> torch.Tensor:
        return 0.5 * _require(data, "hessian_diag", "obd") * layer.weight.detach().pow(2)


class Taylor:
    """First-order Taylor importance (w * dL/dw)^2 (needs the gradient)."""

    needs = frozenset({"grad"})

    def __call__(self, layer: nn.Module, data: LayerData | None = None) -> torch.Tensor:
        return (layer.weight.detach() * _require(data, "grad", "taylor")).pow(2)


class Wanda:
    """Wanda's |W_ij| * ||X_j||_2 (needs the calibration inputs' per-feature norms, ``input_norm``).

    The weight is (C_out, fan_in) for Linear or (C_out, C_in, K_h, K_w) for Conv2d, fan_in = C_in*K_h*K_w;
    column j of the flattened weight is scaled by the norm of input feature j.
    """

    needs = frozenset({"input_norm"})

    def __call__(self, layer: nn.Module, data: LayerData | None = None) -> torch.Tensor:
        return wanda_scores(layer.weight.detach(), _require(data, "input_norm", "wanda"))


def wanda_scores(weight: torch.Tensor, input_norm: torch.Tensor) -> torch.Tensor:
    """Wanda's importance |W_ij| * ||X_j||_2, of the weight's shape.

    ``weight``: (C_out, fan_in) for Linear or (C_out, C_in, K_h, K_w) for Conv2d; ``input_norm``:
    (fan_in,) with fan_in = C_in*K_h*K_w, the L2 norm of each input feature over the calibration rows
    (``recipes.layer_inputs(...)[name].norm(dim=0)``). Each column j of the weight is scaled by its norm.
    """
    fan_in = weight[0].numel()
    if input_norm.shape != (fan_in,):
        raise ValueError(
            f"input_norm must have shape ({fan_in},) for a weight of shape {tuple(weight.shape)}, "
            f"got {tuple(input_norm.shape)}"
        )
    return weight.abs() * input_norm.view(1, *weight.shape[1:])


CRITERIA = {"random": Random, "magnitude": Magnitude, "obd": OBD, "taylor": Taylor, "wanda": Wanda}


def _require(data: LayerData | None, field: str, criterion: str) -> torch.Tensor:
    value = getattr(data, field, None) if data is not None else None
    if value is None:
        raise ValueError(f"criterion {criterion!r} needs data.{field}: compute it with layer_data(...)")
    return value


def get_criterion(criterion, **kwargs):
    """A criterion instance from its name (``"obd"``, ``"random"`` with ``seed=``...) or as given."""
    if isinstance(criterion, str):
        return CRITERIA[check_choice("criterion", criterion, CRITERIA)](**kwargs)
    if not callable(criterion) or not hasattr(criterion, "needs"):
        raise TypeError(
            f"criterion must be one of {sorted(CRITERIA)} or a callable with a `needs` attribute, "
            f"got {criterion!r}"
        )
    return criterion


def _loss(model: nn.Module, params: dict, batch, loss_fn) -> torch.Tensor:
    x, y = batch
    return loss_fn(functional_call(model, params, (x,)), y)


def _exact_diag(model, params, batch, loss_fn) -> dict[str, torch.Tensor]:
    """Rows of the Hessian by double backward, all at once (vmap over the unit vectors); keep h_kk."""
    names = list(params)
    n = sum(p.numel() for p in params.values())
    if n > EXACT_HESSIAN_LIMIT:
        raise ValueError(
            f"hessian='exact' builds an n x n Hessian; these layers have n = {n} weights, more than "
            f"{EXACT_HESSIAN_LIMIT}: use hessian='hutchinson' or 'fisher'"
        )
    inputs = [p.detach().requires_grad_(True) for p in params.values()]
    loss = _loss(model, dict(zip(names, inputs)), batch, loss_fn)
    g = torch.cat([t.flatten() for t in torch.autograd.grad(loss, inputs, create_graph=True)])  # (n,)
    rows = torch.autograd.grad(g, inputs, grad_outputs=torch.eye(n), is_grads_batched=True)
    hessian = torch.cat([r.reshape(n, -1) for r in rows], dim=1)  # (n, n)
    pieces = hessian.diagonal().split([p.numel() for p in inputs])
    return {name: piece.reshape(p.shape) for name, piece, p in zip(names, pieces, inputs)}


def _hutchinson_diag(model, params, batch, loss_fn, n_samples, seed) -> dict[str, torch.Tensor]:
    """Hutchinson's estimator diag(H) = E[z * Hz] with Rademacher z (Bekas et al. 2007)."""
    inputs = {name: p.detach().requires_grad_(True) for name, p in params.items()}
    loss = _loss(model, inputs, batch, loss_fn)
    grads = torch.autograd.grad(loss, list(inputs.values()), create_graph=True)
    generator = torch.Generator().manual_seed(seed)
    total = {name: torch.zeros_like(p) for name, p in inputs.items()}
    for _ in range(n_samples):
        zs = [torch.randint(0, 2, p.shape, generator=generator).to(p) * 2 - 1 for p in inputs.values()]
        hz = torch.autograd.grad(grads, list(inputs.values()), grad_outputs=zs, retain_graph=True)
        for name, z, h in zip(inputs, zs, hz):
            total[name] += z * h
    return {name: t / n_samples for name, t in total.items()}


def _fisher_diag(model, params, batch, loss_fn) -> dict[str, torch.Tensor]:
    """Empirical Fisher diagonal: the mean over examples of the squared per-example gradient."""

    def one_loss(p, x, y):
        return _loss(model, p, (x[None], y[None]), loss_fn)

    detached = {name: p.detach() for name, p in params.items()}
    per_example = vmap(grad(one_loss), in_dims=(None, 0, 0))(detached, *batch)  # name -> (B, *shape)
    return {name: g.detach().pow(2).mean(dim=0) for name, g in per_example.items()}


def layer_data(
    model: nn.Module,
    batch,
    needs,
    layers=None,
    loss_fn=F.cross_entropy,
    hessian: str = "exact",
    n_samples: int = 32,
    seed: int = 0,
) -> dict[str, LayerData]:
    """Gradients and/or Hessian diagonals of ``loss_fn(model(x), y)`` for each weight, in eval mode.

    batch: ``(x, y)``, the calibration batch. needs: a subset of {"grad", "hessian_diag"}.
    layers: weight names (default: all Conv2d/Linear weights). hessian: "exact" (small models:
    at most ``EXACT_HESSIAN_LIMIT`` weights in ``layers`` together), "hutchinson" (``n_samples``
    Hessian-vector products, seeded) or "fisher" (squared per-example gradients).
    """
    check_choice("hessian", hessian, HESSIAN_METHODS)
    check_positive_int("n_samples", n_samples)
    unknown = set(needs) - {"grad", "hessian_diag"}
    if unknown:
        raise ValueError(f"needs must be a subset of {{'grad', 'hessian_diag'}}, got {sorted(unknown)}")
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        raise TypeError(f"batch must be an (x, y) pair of tensors, got {type(batch).__name__}")
    weights = _select_layers(model, layers)
    with eval_mode(model):  # BatchNorm uses its running statistics, as at inference
        grads = hessians = {}
        if "grad" in needs:
            inputs = {name: w.detach().requires_grad_(True) for name, w in weights.items()}
            loss = _loss(model, inputs, batch, loss_fn)
            grads = dict(zip(inputs, torch.autograd.grad(loss, list(inputs.values()))))
        if "hessian_diag" in needs:
            if hessian == "exact":
                hessians = _exact_diag(model, weights, batch, loss_fn)
            elif hessian == "hutchinson":
                hessians = _hutchinson_diag(model, weights, batch, loss_fn, n_samples, seed)
            else:
                hessians = _fisher_diag(model, weights, batch, loss_fn)
    return {name: LayerData(grads.get(name), hessians.get(name)) for name in weights}


def _select_layers(model: nn.Module, layers) -> dict[str, nn.Parameter]:
    weights = prunable_weights(model)
    if not weights:
        raise ValueError(f"model has no Conv2d or Linear weights to score: {type(model).__name__}")
    if layers is None:
        return weights
    unknown = [name for name in layers if name not in weights]
    if unknown:
        raise ValueError(
            f"layers has {unknown}, not Conv2d/Linear weights of the model; allowed: {list(weights)}"
        )
    return {name: weights[name] for name in layers}


def importance_scores(model: nn.Module, criterion="magnitude", batch=None, layers=None, **data_kwargs):
    """Scores of every weight in ``layers`` (default: all Conv2d/Linear): name -> tensor (weight's shape).

    criterion: a name of ``CRITERIA`` or a criterion callable. Criteria that need a gradient or a
    Hessian diagonal need ``batch=(x, y)``; ``data_kwargs`` go to :func:`layer_data`.
    """
    criterion = get_criterion(criterion)
    weights = _select_layers(model, layers)
    data = {}
    if criterion.needs:
        if batch is None:
            raise ValueError(f"criterion {criterion.__class__.__name__} needs batch=(x, y) to compute "
                             f"{sorted(criterion.needs)}")
        data = layer_data(model, batch, criterion.needs, layers=list(weights), **data_kwargs)
    modules = dict(model.named_modules())
    return {name: criterion(modules[name.rpartition(".")[0]], data.get(name)) for name in weights}


def importance_masks(
    model: nn.Module, sparsity: float, criterion="magnitude", batch=None, scope: str = "global", **kwargs
) -> dict[str, torch.Tensor]:
    """Masks that prune the ``round(sparsity * total)`` least important weights (``scope="global"``)
    or that fraction of every layer (``scope="layer"``); ``kwargs`` go to :func:`importance_scores`."""
    check_fraction("sparsity", sparsity)  # before any costly scoring
    return masks_from_scores(importance_scores(model, criterion, batch, **kwargs), sparsity, scope)
