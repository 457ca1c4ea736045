"""Criteria: which weights, channels, heads or units can go with the least harm? One protocol for all.

A criterion scores weights. For each parameter tensor it gives per-weight **contributions**, one
slice per calibration mini-batch::

    criterion.contributions(param, data) -> (S, *param.shape)      # S = 1 unless it reads batches

and a **reduction** that turns them into scores::

    criterion.reduce(sums) -> scores                                # sums: (S, ...) -> (...)

A single weight is scored as ``reduce(contributions)``. A *unit* made of many weights (a channel of
a dependency group, an attention head, an MLP unit) is scored by summing its weights' contributions
per mini-batch first and reducing the sums (:func:`unit_scores`). So one definition serves masks,
channel removal, heads and units, and post-training pruning alike.

=============  ============================  =====================================================
name           contribution (per weight)     reduction, idea and source
=============  ============================  =====================================================
random         U(0, 1)                       the baseline any criterion must beat
magnitude      |w|                           small weights matter little; summed over a channel's
                                             filter it is Li et al. 2017's L1 norm
l2             w^2                           sqrt of the sum: a unit's L2 norm
obd            1/2 * h_kk * w_k^2            LeCun, Denker & Solla 1989 (Optimal Brain Damage):
                                             the loss increase a 2nd-order Taylor expansion with a
                                             diagonal Hessian predicts when w_k is set to zero
taylor         w * dL_b/dw, per batch b      square, then mean over the mini-batches b: Molchanov
                                             et al. 2019 (CVPR), the squared first-order change of
                                             the batch loss when the unit is zeroed
wanda          |w_ij| * ||X_j||_2            Sun et al. 2023: weight times the norm of the input
                                             feature it multiplies, from calibration activations
bn_gamma       |gamma|                       magnitude of a channel's BatchNorm scale (network
                                             slimming, Liu et al. 2017)
next_layer_l2  w^2 of the readers            L2 norm of the weights that *read* the unit
=============  ============================  =====================================================

``reads`` says which weights of a unit a criterion looks at: ``"weights"`` (the weights that
compute the unit: a conv filter, a Linear row, a head's query/key/value rows), ``"all"`` (those
weights with their biases and normalisation parameters: every parameter whose zeroing removes the
unit), ``"norms"`` (the normalisation scale) or ``"readers"`` (the weights of the next layers that
read the unit). For single weights it does not matter.

``needs`` says what a criterion reads from its :class:`LayerData`: nothing, ``"grad"`` (per-batch
gradients), ``"hessian_diag"`` or ``"input_norm"``; ``pruning.layer_data`` computes them.

Adding a criterion is one class and one line: ``register_criterion("name", Class)``; it then works
for :func:`importance_masks`, ``structured.group_scores``, ``structured.head_scores`` and the
post-training pipeline (``recipes.prune_post_training``).
"""

from dataclasses import dataclass

import torch
from torch import nn

from ..core.validation import check_choice, check_fraction
from .calibration import LayerData, layer_data, select_weights
from .magnitude import masks_from_scores

READS = ("weights", "all", "norms", "readers")


class Criterion:
    """Base class: per-weight contributions of shape (S, *param.shape), reduced over S by ``reduce``.

    Subclasses set ``needs`` and implement ``contributions``; the default reduction is the mean over
    the S slices (S = 1 for a criterion that reads no per-batch data)."""

    needs: frozenset = frozenset()

    def __init__(self, reads: str = "weights"):
        self.reads = check_choice("reads", reads, READS)

    def contributions(self, param: torch.Tensor, data: "LayerData | None") -> torch.Tensor:
        raise NotImplementedError

    def reduce(self, sums: torch.Tensor) -> torch.Tensor:
        """(S, ...) sums of contributions -> (...) scores."""
        return sums.mean(dim=0)

    def __call__(self, layer, data: "LayerData | None" = None) -> torch.Tensor:
        """Scores of every weight of ``layer.weight`` (its shape; higher = more important)."""
        return self.reduce(self.contributions(layer.weight.detach(), data))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reads={self.reads!r})"


class Magnitude(Criterion):
    """|w|: keep the largest weights (summed over a unit: its L1 norm)."""

    def contributions(self, param, data=None):
        return param.detach().abs()[None]


class L2(Criterion):
    """w^2 per weight; a unit's score is the square root of the sum, its L2 norm."""

    def contributions(self, param, data=None):
        return param.detach().square()[None]

    def reduce(self, sums):
        return sums.mean(dim=0).sqrt()


class Random(Criterion):
    """Uniform random contributions from a seeded generator: the same draws on every rerun."""

    def __init__(self, seed: int = 0, reads: str = "weights"):
        super().__init__(reads)
        self.generator = torch.Generator().manual_seed(seed)

    def contributions(self, param, data=None):
        return torch.rand(param.shape, generator=self.generator).to(param.device)[None]


class OBD(Criterion):
    """Optimal Brain Damage saliency 1/2 * h_kk * w_k^2 (needs the Hessian diagonal)."""

    needs = frozenset({"hessian_diag"})

    def contributions(self, param, data=None):
        return (0.5 * _require(data, "hessian_diag", "obd") * param.detach().square())[None]


class Taylor(Criterion):
    """First-order Taylor importance: mean over calibration mini-batches b of (sum of w * dL_b/dw)^2.

    The sum runs over the weights of the unit (one weight alone: (w * g_b)^2). Squaring per batch
    before averaging is what Molchanov et al. 2019 accumulate; from one batch the score is dominated
    by that batch's noise, because a trained network's mean gradient is small (lessons 01 and 04).
    Reads ``"all"`` by default: a channel's filter, bias and BatchNorm parameters together."""

    needs = frozenset({"grad"})

    def __init__(self, reads: str = "all"):
        super().__init__(reads)

    def contributions(self, param, data=None):
        return param.detach()[None] * _require(data, "batch_grads", "taylor")  # (S, *shape)

    def reduce(self, sums):
        return sums.square().mean(dim=0)


class Wanda(Criterion):
    """Wanda's |W_ij| * ||X_j||_2 (needs the calibration inputs' per-feature norms, ``input_norm``).

    The weight is (C_out, fan_in) for Linear or (C_out, C_in, K_h, K_w) for Conv2d, fan_in =
    C_in*K_h*K_w; column j of the flattened weight is scaled by the norm of input feature j."""

    needs = frozenset({"input_norm"})

    def contributions(self, param, data=None):
        return wanda_scores(param.detach(), _require(data, "input_norm", "wanda"))[None]


def wanda_scores(weight: torch.Tensor, input_norm: torch.Tensor) -> torch.Tensor:
    """Wanda's importance |W_ij| * ||X_j||_2, of the weight's shape.

    ``weight``: (C_out, fan_in) for Linear or (C_out, C_in, K_h, K_w) for Conv2d; ``input_norm``:
    (fan_in,) with fan_in = C_in*K_h*K_w, the L2 norm of each input feature over the calibration rows
    (``pruning.layer_inputs(...)[name].norm(dim=0)``). Each column j of the weight is scaled by its norm.
    """
    fan_in = weight[0].numel()
    if input_norm.shape != (fan_in,):
        raise ValueError(
            f"input_norm must have shape ({fan_in},) for a weight of shape {tuple(weight.shape)}, "
            f"got {tuple(input_norm.shape)}"
        )
    return weight.abs() * input_norm.view(1, *weight.shape[1:])


def _require(data, field: str, criterion: str) -> torch.Tensor:
    value = getattr(data, field, None) if data is not None else None
    if value is None:
        raise ValueError(f"criterion {criterion!r} needs data.{field}: compute it with "
                         "pruning.layer_data(...)")
    return value


# The one registry: name -> a callable that makes the criterion (extra keyword arguments go to it).
CRITERIA = {
    "random": Random,
    "magnitude": Magnitude,
    "l2": L2,
    "obd": OBD,
    "taylor": Taylor,
    "wanda": Wanda,
    "bn_gamma": lambda **kwargs: Magnitude(reads="norms", **kwargs),
    "next_layer_l2": lambda **kwargs: L2(reads="readers", **kwargs),
}


def register_criterion(name: str, factory) -> None:
    """Add a criterion to the registry: ``factory(**kwargs)`` returns a :class:`Criterion`."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty string, got {name!r}")
    if name in CRITERIA:
        raise ValueError(f"a criterion named {name!r} is registered already")
    if not callable(factory):
        raise TypeError(f"factory must be callable (a Criterion class), got {factory!r}")
    CRITERIA[name] = factory


def get_criterion(criterion, **kwargs) -> Criterion:
    """A criterion from its registered name (``"taylor"``, ``"random"`` with ``seed=``...) or as given."""
    if isinstance(criterion, str):
        return CRITERIA[check_choice("criterion", criterion, CRITERIA)](**kwargs)
    if not isinstance(criterion, Criterion):
        raise TypeError(f"criterion must be one of {sorted(CRITERIA)} or a pruning.Criterion, "
                        f"got {criterion!r}")
    return criterion


@dataclass(frozen=True)
class Part:
    """Some weights of a structure, as units: ``view`` maps a (S, *param.shape) tensor to (S, U, k),
    U units of k weights each (e.g. a conv's output rows, or the input columns of its readers).

    ``name`` is the parameter's name in the model; ``role`` is ``"weight"``, ``"bias"``, ``"norm"``
    (a normalisation scale) or ``"reader"``: which criteria read it (:data:`READS`)."""

    name: str
    param: torch.Tensor
    role: str
    view: object

    def __post_init__(self):
        check_choice("role", self.role, ("weight", "bias", "norm", "reader"))


_ROLES = {"weights": {"weight"}, "all": {"weight", "bias", "norm"}, "norms": {"norm"}, "readers": {"reader"}}


def unit_scores(criterion: Criterion, parts: list[Part], data: dict | None = None) -> torch.Tensor | None:
    """Scores (U,) of the units that ``parts`` describe: per mini-batch, the sum of the contributions
    of every weight of each unit that the criterion reads, then ``criterion.reduce``. None when the
    criterion reads no part of this structure (``bn_gamma`` on a group without a BatchNorm)."""
    read = [p for p in parts if p.role in _ROLES[criterion.reads]]
    if not read:
        return None
    data = data or {}
    sums = sum(p.view(criterion.contributions(p.param, data.get(p.name))).sum(dim=2) for p in read)  # (S, U)
    return criterion.reduce(sums)


def importance_scores(model: nn.Module, criterion="magnitude", batch=None, layers=None, **data_kwargs):
    """Scores of every weight in ``layers`` (default: all Conv2d/Linear): name -> tensor (weight's shape).

    ``criterion``: a registered name or a :class:`Criterion`. Criteria that read data need ``batch``:
    one ``(x, y)`` pair or an iterable of mini-batches (Taylor averages over them); ``data_kwargs``
    go to ``pruning.layer_data``.
    """
    criterion = get_criterion(criterion)
    weights = select_weights(model, layers)
    data = {}
    if criterion.needs:
        if batch is None:
            raise ValueError(f"criterion {type(criterion).__name__} needs batch=(x, y) to compute "
                             f"{sorted(criterion.needs)}")
        data = layer_data(model, batch, criterion.needs, params=list(weights), **data_kwargs)
    return {name: criterion.reduce(criterion.contributions(w, data.get(name))) for name, w in weights.items()}


def importance_masks(
    model: nn.Module, sparsity: float, criterion="magnitude", batch=None, scope: str = "global", **kwargs
) -> dict[str, torch.Tensor]:
    """Masks that prune the ``round(sparsity * total)`` least important weights (``scope="global"``)
    or that fraction of every layer (``scope="layer"``); ``kwargs`` go to :func:`importance_scores`."""
    check_fraction("sparsity", sparsity)  # before any costly scoring
    return masks_from_scores(importance_scores(model, criterion, batch, **kwargs), sparsity, scope)
