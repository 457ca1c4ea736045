"""Calibration: what criteria read from a little data. What each layer sees, and the gradients and
Hessian diagonals of the loss.

**What a layer sees.** A prunable layer multiplies a matrix: its weight as a (C_out, K) matrix
times the K inputs of every output position. :data:`LAYER_KINDS` says, for each layer type, how
to get that matrix and those input rows, in the same order:

- ``nn.Linear``: the weight (C_out, C_in); one row per example (per token for 3-D inputs);
- ``nn.Conv2d``: ``pruning.reduction_matrix(weight)`` (C_out, K) with K = K_h*K_w*C_in ordered as the
  hardware multiplies it (input channel fastest, lesson 03); one row per example and output position,
  the unfolded patch (im2col) in that order.

Other layer types (Hugging Face GPT-2's transposed ``Conv1D``) are added with
:func:`register_layer_kind`. :func:`input_rows` is the one converter from a layer's input to its rows:
:func:`layer_inputs` keeps the rows, the post-training pipeline accumulates their Gram matrix XᵀX.

**Gradients and Hessians.** :func:`layer_data` computes, for any parameters, what a criterion
``needs`` (``pruning.criteria``): per-mini-batch gradients, a Hessian diagonal (exact, Hutchinson or
empirical Fisher) and the norms of the input features.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.nn import functional as F

from ..core.modules import eval_mode, hooks_attached, prunable_weights
from ..core.validation import check_choice, check_positive_int
from .nm import from_reduction_matrix, reduction_matrix

HESSIAN_METHODS = ("exact", "hutchinson", "fisher")


EXACT_HESSIAN_LIMIT = 4096  # the exact diagonal builds full Hessian rows: n x n numbers


NEEDS = ("grad", "hessian_diag", "input_norm")


@dataclass(frozen=True)
class LayerKind:
    """How one layer type multiplies: ``matrix(layer)`` is its weight as (C_out, K), ``rows(layer, x)``
    its input ``x`` as (N, K) in the same column order, ``to_weight(layer, t)`` turns a (C_out, K)
    tensor (a new weight, or a mask) back into the weight's own shape."""

    matrix: Callable
    rows: Callable
    to_weight: Callable


def _conv_rows(layer: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """(B, C_in, H, W) -> (B*L, K_h*K_w*C_in): one unfolded patch per output position, channel fastest."""
    if layer.groups != 1 or layer.padding_mode != "zeros" or isinstance(layer.padding, str):
        raise ValueError(
            f"only Conv2d with groups=1, padding_mode='zeros' and numeric padding is supported here, got "
            f"groups={layer.groups}, padding_mode={layer.padding_mode!r}, padding={layer.padding!r}"
        )
    patches = F.unfold(x, layer.kernel_size, layer.dilation, layer.padding, layer.stride)  # (B, C*k, L)
    b, _, positions = patches.shape
    patches = patches.view(b, layer.in_channels, -1, positions).transpose(1, 2)  # (B, k, C, L): C fastest
    return patches.reshape(b, -1, positions).transpose(1, 2).reshape(b * positions, -1)


LAYER_KINDS: dict[type, LayerKind] = {
    nn.Linear: LayerKind(lambda layer: layer.weight, lambda layer, x: x.flatten(0, -2), lambda layer, t: t),
    nn.Conv2d: LayerKind(lambda layer: reduction_matrix(layer.weight), _conv_rows,
                         lambda layer, t: from_reduction_matrix(t, layer.weight.shape)),
}


def register_layer_kind(layer_type: type, kind: LayerKind) -> None:
    """Teach the calibration code (and so the post-training pipeline) another layer type."""
    if not isinstance(layer_type, type) or not isinstance(kind, LayerKind):
        raise TypeError(f"register_layer_kind takes a class and a LayerKind, got {layer_type!r}, {kind!r}")
    LAYER_KINDS[layer_type] = kind


def is_prunable_layer(module: nn.Module) -> bool:
    """Whether ``module`` is of a layer type in :data:`LAYER_KINDS` (or a subclass of one)."""
    return any(cls in LAYER_KINDS for cls in type(module).__mro__)


def layer_kind(layer: nn.Module) -> LayerKind:
    """The :class:`LayerKind` of ``layer`` (its class or the nearest registered base class)."""
    for cls in type(layer).__mro__:
        if cls in LAYER_KINDS:
            return LAYER_KINDS[cls]
    raise TypeError(f"{type(layer).__name__} is not a layer type the kit can prune; known: "
                    f"{sorted(c.__name__ for c in LAYER_KINDS)}")


def input_rows(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What ``layer`` multiplies its weight matrix with: its input ``x`` as (N, K) rows."""
    return layer_kind(layer).rows(layer, x)


@torch.no_grad()
def layer_inputs(model: nn.Module, x, layers=None) -> dict[str, torch.Tensor]:
    """What each prunable layer of ``model`` (or each layer named in ``layers``) receives on the
    calibration batch ``x``: module name -> rows (N, K) in the order of the layer's weight matrix
    (:data:`LAYER_KINDS`). ``x`` is whatever the model takes (images, or token ids (B, T) of a
    language model). One forward pass with hooks in eval mode; the model is left unchanged."""
    modules = _prunable_modules(model, layers)
    inputs: dict[str, torch.Tensor] = {}

    def recorder(name):
        def record(module, args, output):
            inputs[name] = input_rows(module, args[0]).detach().clone()
        return record

    with hooks_attached(forward=[(m, recorder(name)) for name, m in modules.items()]), eval_mode(model):
        model(x)
    return inputs


def _prunable_modules(model: nn.Module, layers=None) -> dict[str, nn.Module]:
    found = {name: m for name, m in model.named_modules() if is_prunable_layer(m)}
    if layers is None:
        return found
    unknown = [name for name in layers if name not in found]
    if unknown:
        raise ValueError(f"layers has {unknown}, not prunable layers of the model; allowed: {list(found)}")
    return {name: found[name] for name in layers}


def natural_order(layer: nn.Module, values: torch.Tensor) -> torch.Tensor:
    """A vector over the K columns of ``layer``'s weight matrix, reordered as the weight's own
    fan-in (C_in, K_h, K_w) for a Conv2d; as it is for a Linear."""
    if isinstance(layer, nn.Conv2d):
        return from_reduction_matrix(values[None], (1, *layer.weight.shape[1:])).flatten()
    return values


@dataclass(frozen=True)
class LayerData:
    """What data-driven criteria read for one parameter; tensors have the parameter's shape unless said."""

    grad: torch.Tensor | None = None  # dL/dw of the mean loss over all calibration examples
    batch_grads: torch.Tensor | None = None  # (S, *shape): the gradient of each of the S mini-batches
    hessian_diag: torch.Tensor | None = None  # d^2L/dw^2, exact or estimated
    input_norm: torch.Tensor | None = None  # (fan_in,) L2 norm of each input feature over calibration rows

    @property
    def n_batches(self) -> int:
        """How many calibration mini-batches the gradients come from."""
        return 0 if self.batch_grads is None else len(self.batch_grads)


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


def select_weights(model: nn.Module, layers=None) -> dict[str, nn.Parameter]:
    """The Conv2d/Linear weights of ``model`` by parameter name, or those named in ``layers``."""
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


def _input_norms(model: nn.Module, batches, names: list[str]) -> dict[str, torch.Tensor]:
    """‖X_j‖₂ over all calibration rows of every input feature of the layers owning ``names``
    (weight parameter names), in each weight's own fan-in order: name -> (fan_in,)."""
    owners = {name: name.rpartition(".")[0] for name in names}
    squares: dict[str, torch.Tensor] = {}
    for x, _ in batches:
        for module_name, rows in layer_inputs(model, x, sorted(set(owners.values()))).items():
            squares[module_name] = squares.get(module_name, 0) + rows.double().square().sum(dim=0)
    modules = dict(model.named_modules())
    return {name: natural_order(modules[owner], squares[owner].sqrt().float())
            for name, owner in owners.items()}


def layer_data(
    model: nn.Module,
    batch,
    needs,
    params=None,
    loss_fn=F.cross_entropy,
    hessian: str = "exact",
    n_samples: int = 32,
    seed: int = 0,
) -> dict[str, LayerData]:
    """What ``needs`` asks for, for each parameter in ``params`` (names; default: every Conv2d/Linear
    weight), on calibration data, in eval mode: parameter name -> :class:`LayerData`.

    batch: one ``(x, y)`` pair or an iterable of pairs (a list of mini-batches or a DataLoader).
    needs: a subset of {"grad", "hessian_diag", "input_norm"}. hessian: "exact" (small models: at
    most ``EXACT_HESSIAN_LIMIT`` weights together), "hutchinson" (``n_samples`` Hessian-vector
    products, seeded) or "fisher" (squared per-example gradients).

    Over S mini-batches of n_b examples (N in all): ``batch_grads`` holds the S per-batch gradients
    g_b (Taylor squares them before averaging), ``grad`` is the gradient of the mean loss over all N
    examples (sum_b n_b g_b / N); ``hessian_diag`` is the example-weighted mean of the per-batch
    diagonals (for "fisher": the mean over all N examples of the squared per-example gradient);
    ``input_norm`` is ‖X_j‖₂ over every calibration row (weights of Conv2d/Linear layers only).
    """
    check_choice("hessian", hessian, HESSIAN_METHODS)
    check_positive_int("n_samples", n_samples)
    unknown = set(needs) - set(NEEDS)
    if unknown:
        raise ValueError(f"needs must be a subset of {set(NEEDS)}, got {sorted(unknown)}")
    batches = calibration_batches(batch)
    chosen = _select_params(model, params)
    sizes = [len(y) for _, y in batches]
    grads: dict[str, list] = {name: [] for name in chosen}
    hessians: dict[str, torch.Tensor] = {}
    with eval_mode(model):  # BatchNorm uses its running statistics, as at inference
        for one, size in zip(batches, sizes):
            if "grad" in needs:
                inputs = {name: p.detach().requires_grad_(True) for name, p in chosen.items()}
                loss = _loss(model, inputs, one, loss_fn)
                found = torch.autograd.grad(loss, list(inputs.values()), allow_unused=True)
                for name, g in zip(inputs, found):
                    grads[name].append(torch.zeros_like(inputs[name]) if g is None else g)
            if "hessian_diag" in needs:
                if hessian == "exact":
                    diag = _exact_diag(model, chosen, one, loss_fn)
                elif hessian == "hutchinson":
                    diag = _hutchinson_diag(model, chosen, one, loss_fn, n_samples, seed)
                else:
                    diag = _fisher_diag(model, chosen, one, loss_fn)
                for name, h in diag.items():
                    hessians[name] = hessians.get(name, 0) + size / sum(sizes) * h
        norms = _input_norms(model, batches, list(chosen)) if "input_norm" in needs else {}
    shares = torch.tensor(sizes, dtype=torch.float32) / sum(sizes)
    result = {}
    for name in chosen:
        per_batch = torch.stack(grads[name]) if grads[name] else None  # (S, *shape)
        mean = None if per_batch is None else torch.tensordot(shares, per_batch, dims=1)
        result[name] = LayerData(mean, per_batch, hessians.get(name), norms.get(name))
    return result


def _select_params(model: nn.Module, params) -> dict[str, nn.Parameter]:
    if params is None:
        return select_weights(model)
    named = dict(model.named_parameters())
    unknown = [name for name in params if name not in named]
    if unknown:
        raise ValueError(f"params has {unknown}, not parameters of the model; e.g. {list(named)[:4]}")
    return {name: named[name] for name in params}
