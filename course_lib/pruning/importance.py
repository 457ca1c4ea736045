"""Importance criteria: which weights can go with the least harm?

One small interface: a criterion is a callable ``criterion(layer, data=None) -> scores`` that takes a
Conv2d/Linear layer and returns a score tensor of ``layer.weight``'s shape (higher = more important).
Its ``needs`` attribute names what it reads from ``data`` (a :class:`LayerData`): nothing, the
gradient, or the Hessian diagonal, which :func:`layer_data` computes on a calibration batch.

=========  ==========================  ============================================================
name       score                       idea and source
=========  ==========================  ============================================================
random     U(0, 1)                     the baseline any criterion must beat
magnitude  |w|                         small weights matter little (and it is the L0 projection)
obd        1/2 * h_kk * w_k^2          LeCun, Denker & Solla 1989 ("Optimal Brain Damage"): the loss
                                       increase a 2nd-order Taylor expansion predicts when w_k is set
                                       to zero (diagonal Hessian, gradient ~ 0 at a minimum). With
                                       ``hessian="fisher"`` h_kk is the empirical Fisher
                                       mean_i(g_ik^2) over the calibration *examples* i.
taylor     mean_b (w_k * g_bk)^2       Molchanov et al. 2019 ("Importance Estimation for Neural
                                       Network Pruning", CVPR): the squared 1st-order predicted loss
                                       change, g_b the mean gradient of mini-batch b, averaged over
                                       the calibration *mini-batches* b. From one batch it is
                                       (w_k * g_k)^2, and near a minimum g is small and noisy.
wanda      |w_ij| * ||X_j||_2          Sun et al. 2023: weight times the norm of the input it
                                       multiplies, from calibration activations (lesson 06)
=========  ==========================  ============================================================

The two gradient-based scores differ only in what is averaged before squaring: Fisher-OBD squares
per-example gradients (``w^2 * mean_i g_i^2``), Taylor squares per-mini-batch gradients
(``w^2 * mean_b g_b^2``). Averaging a gradient over a batch of B examples cancels much of its noise,
so a one-batch Taylor score is dominated by whatever the batch mean happens to be; averaging the
squares over many batches is what makes it a stable ranking.

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

    grad: torch.Tensor | None = None  # dL/dw of the mean loss over all calibration examples
    hessian_diag: torch.Tensor | None = None  # d^2L/dw^2, exact or estimated
    input_norm: torch.Tensor | None = None  # (fan_in,) L2 norm of each input feature over calibration rows
    grad_sq: torch.Tensor | None = None  # mean over calibration mini-batches b of (dL_b/dw)^2
    n_batches: int = 1  # how many calibration mini-batches grad and grad_sq were averaged over


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
    """First-order Taylor importance mean_b (w * dL_b/dw)^2 over calibration mini-batches b.

    Molchanov et al. 2019 (CVPR) accumulate the squared first-order term over many mini-batches.
    :func:`layer_data` fills ``grad_sq`` (the mean of the squared per-batch gradients); given only
    ``grad`` (one batch) the score is (w * grad)^2. Needs the gradient.
    """

    needs = frozenset({"grad"})

    def __call__(self, layer: nn.Module, data: LayerData | None = None) -> torch.Tensor:
        w = layer.weight.detach()
        grad_sq = getattr(data, "grad_sq", None) if data is not None else None
        if grad_sq is not None:
            return w.pow(2) * grad_sq
        return (w * _require(data, "grad", "taylor")).pow(2)


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


def calibration_batches(batches) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``batches`` as a list of (x, y) pairs: one ``(x, y)`` pair of tensors, or an iterable of them
    (a list of batches or a DataLoader, read once)."""
    if isinstance(batches, (tuple, list)) and len(batches) == 2 and all(
        isinstance(t, torch.Tensor) for t in batches
    ):
        return [tuple(batches)]
    if isinstance(batches, torch.Tensor) or not hasattr(batches, "__iter__"):
        raise TypeError(
            "batch must be an (x, y) pair of tensors or an iterable of such pairs (a list of batches "
            f"or a DataLoader), got {type(batches).__name__}"
        )
    pairs = []
    for i, pair in enumerate(batches):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2
                and all(isinstance(t, torch.Tensor) for t in pair)):
            raise TypeError(
                f"batch must be an (x, y) pair of tensors or an iterable of such pairs; item {i} is "
                f"a {type(pair).__name__}"
            )
        pairs.append(tuple(pair))
    if not pairs:
        raise ValueError("batch must hold at least one (x, y) mini-batch, got an empty iterable")
    return pairs


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

    batch: the calibration data, one ``(x, y)`` pair or an iterable of pairs (a list of mini-batches
    or a DataLoader). needs: a subset of {"grad", "hessian_diag"}. layers: weight names (default: all
    Conv2d/Linear weights). hessian: "exact" (small models: at most ``EXACT_HESSIAN_LIMIT`` weights in
    ``layers`` together), "hutchinson" (``n_samples`` Hessian-vector products, seeded) or "fisher"
    (squared per-example gradients).

    Over B mini-batches of n_b examples (N in all): ``grad`` is the gradient of the mean loss over all
    N examples (sum_b n_b g_b / N); ``grad_sq`` is mean_b g_b^2, the per-batch gradients squared and
    then averaged over batches (the Taylor criterion's accumulation); ``hessian_diag`` is the
    example-weighted mean of the per-batch diagonals (for "fisher": mean over all N examples of the
    squared per-example gradient).
    """
    check_choice("hessian", hessian, HESSIAN_METHODS)
    check_positive_int("n_samples", n_samples)
    unknown = set(needs) - {"grad", "hessian_diag"}
    if unknown:
        raise ValueError(f"needs must be a subset of {{'grad', 'hessian_diag'}}, got {sorted(unknown)}")
    batches = calibration_batches(batch)
    weights = _select_layers(model, layers)
    sizes = [len(y) for _, y in batches]
    total = sum(sizes)
    grads, grad_sq, hessians = {}, {}, {}
    with eval_mode(model):  # BatchNorm uses its running statistics, as at inference
        for one, size in zip(batches, sizes):
            share = size / total
            if "grad" in needs:
                inputs = {name: w.detach().requires_grad_(True) for name, w in weights.items()}
                loss = _loss(model, inputs, one, loss_fn)
                for name, g in zip(inputs, torch.autograd.grad(loss, list(inputs.values()))):
                    grads[name] = grads.get(name, 0) + share * g
                    grad_sq[name] = grad_sq.get(name, 0) + g.pow(2) / len(batches)
            if "hessian_diag" in needs:
                if hessian == "exact":
                    diag = _exact_diag(model, weights, one, loss_fn)
                elif hessian == "hutchinson":
                    diag = _hutchinson_diag(model, weights, one, loss_fn, n_samples, seed)
                else:
                    diag = _fisher_diag(model, weights, one, loss_fn)
                for name, h in diag.items():
                    hessians[name] = hessians.get(name, 0) + share * h
    return {
        name: LayerData(grads.get(name), hessians.get(name), grad_sq=grad_sq.get(name),
                        n_batches=len(batches))
        for name in weights
    }


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
    Hessian diagonal need ``batch``: one ``(x, y)`` pair or an iterable of mini-batches (a list or a
    DataLoader; Taylor averages over them); ``data_kwargs`` go to :func:`layer_data`.
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
