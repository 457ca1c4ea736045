"""LoRA adapters on a frozen (pruned) model: the PEFT stage of pruning.

A LoRA adapter (Hu et al. 2021) leaves a layer's weight W (C_out, fan_in) frozen and learns a
low-rank correction: W + s * B A with A (r, fan_in), B (C_out, r) and s = alpha / r. B starts at
zero, so the adapted model starts exactly where the frozen one is, and only r * (fan_in + C_out)
numbers per layer are trained instead of C_out * fan_in.

On a pruned base the product B A is dense. Merging it back (W <- W + s B A) therefore has a choice:
keep the sparsity pattern (add s B A only where the mask keeps weights; the merged layer is sparse
but no longer computes what the adapted one did) or break it (exact, but dense). Training the
adapter through the mask (``sparse_delta=True``: the layer uses W + s (B A) * mask) removes the
dilemma: the sparse merge is then exact.
"""

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

from ..core.modules import PRUNABLE_TYPES, set_submodule
from ..core.validation import check_positive_int, check_positive_number


def lora_linear(x, weight, bias, a, b, scale: float) -> torch.Tensor:
    """A LoRA linear layer's output x W^T + bias + s (x A^T) B^T, computed without forming B A.

    ``x``: (..., fan_in); ``weight``: (C_out, fan_in); ``bias``: (C_out,) or None;
    ``a``: (r, fan_in); ``b``: (C_out, r). Returns (..., C_out).
    """
    return F.linear(x, weight, bias) + scale * F.linear(F.linear(x, a), b)


class _LoRALayer(nn.Module):
    """Shared by LoRALinear and LoRAConv2d: the frozen base, its mask, A, B, merge and unmerge."""

    def __init__(self, base: nn.Module, rank: int, alpha: float | None = None,
                 sparse_delta: bool = False):
        super().__init__()
        fan_in, fan_out = base.weight[0].numel(), base.weight.shape[0]
        check_positive_int("rank", rank)
        if rank > min(fan_in, fan_out):
            raise ValueError(
                f"rank must be <= min(fan_in, fan_out) = min({fan_in}, {fan_out}) for a layer with "
                f"weight shape {tuple(base.weight.shape)}, got {rank}"
            )
        alpha = float(rank) if alpha is None else alpha
        check_positive_number("alpha", alpha)
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.register_buffer("mask", base.weight.detach() != 0)  # the base's sparsity pattern
        self.a = nn.Parameter(torch.empty(rank, fan_in))  # (r, fan_in)
        nn.init.kaiming_uniform_(self.a, a=math.sqrt(5))
        self.b = nn.Parameter(torch.zeros(fan_out, rank))  # (C_out, r): starts at zero
        self.scale = alpha / rank
        self.sparse_delta = sparse_delta
        self.merged: bool | None = None  # None, or the keep_sparsity of the current merge

    @property
    def rank(self) -> int:
        return self.a.shape[0]

    def delta_weight(self, keep_sparsity: bool = False) -> torch.Tensor:
        """s * B A reshaped to the base weight's shape; times the mask with ``keep_sparsity``."""
        delta = (self.scale * self.b @ self.a).view_as(self.base.weight)
        return delta * self.mask if keep_sparsity else delta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merged is not None:
            return self.base(x)
        if self.sparse_delta:
            return self.with_weight(x, self.base.weight + self.delta_weight(keep_sparsity=True))
        return self.lora_forward(x)

    @torch.no_grad()
    def merge(self, keep_sparsity: bool) -> None:
        """Add the adapter into the base weight in place; the layer then runs as the base alone."""
        if self.merged is not None:
            raise RuntimeError("the adapter is already merged; call unmerge() first")
        self.base.weight += self.delta_weight(keep_sparsity)
        self.merged = keep_sparsity

    @torch.no_grad()
    def unmerge(self) -> None:
        """Undo ``merge``: subtract the adapter and zero the pruned weights again (exactly)."""
        if self.merged is None:
            raise RuntimeError("the adapter is not merged")
        self.base.weight -= self.delta_weight(self.merged)
        self.base.weight *= self.mask
        self.merged = None

    def with_weight(self, x, weight):  # the base layer's operation with another weight
        raise NotImplementedError

    def lora_forward(self, x):  # base(x) + s * B A x, without forming B A
        raise NotImplementedError


class LoRALinear(_LoRALayer):
    """A frozen ``nn.Linear`` plus a trainable rank-``rank`` adapter: (..., fan_in) -> (..., C_out)."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float | None = None,
                 sparse_delta: bool = False):
        if not isinstance(base, nn.Linear):
            raise TypeError(f"base must be an nn.Linear, got {type(base).__name__}")
        super().__init__(base, rank, alpha, sparse_delta)

    def with_weight(self, x, weight):
        return F.linear(x, weight, self.base.bias)

    def lora_forward(self, x):
        return lora_linear(x, self.base.weight, self.base.bias, self.a, self.b, self.scale)


class LoRAConv2d(_LoRALayer):
    """A frozen ``nn.Conv2d`` plus a trainable adapter: (B, C_in, H, W) -> (B, C_out, H', W').

    A is a conv with r output channels and the base's kernel, stride and padding; B is a 1x1 conv
    from r channels back to C_out."""

    def __init__(self, base: nn.Conv2d, rank: int, alpha: float | None = None,
                 sparse_delta: bool = False):
        if not isinstance(base, nn.Conv2d) or base.groups != 1:
            raise TypeError(f"base must be an nn.Conv2d with groups=1, got {base!r}")
        super().__init__(base, rank, alpha, sparse_delta)

    def with_weight(self, x, weight):
        return self.base._conv_forward(x, weight, self.base.bias)

    def lora_forward(self, x):
        base = self.base
        a = self.a.view(self.rank, *base.weight.shape[1:])  # (r, C_in, K_h, K_w)
        low = F.conv2d(x, a, None, base.stride, base.padding, base.dilation)  # (B, r, H', W')
        b = self.b.view(*self.b.shape, 1, 1)  # (C_out, r, 1, 1)
        return base(x) + self.scale * F.conv2d(low, b)


def _lora_modules(model: nn.Module) -> list[tuple[str, _LoRALayer]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, _LoRALayer)]


def frozen_batchnorm(bn: nn.BatchNorm2d) -> FrozenBatchNorm2d:
    """torchvision's ``FrozenBatchNorm2d`` with ``bn``'s statistics and affine parameters: it always
    normalises with the stored running statistics, in train mode too, and has nothing to train."""
    if bn.running_mean is None:
        raise ValueError(f"bn must track running statistics to be frozen, got {bn!r}")
    frozen = FrozenBatchNorm2d(bn.num_features, bn.eps)
    with torch.no_grad():
        frozen.running_mean.copy_(bn.running_mean)
        frozen.running_var.copy_(bn.running_var)
        if bn.affine:
            frozen.weight.copy_(bn.weight)
            frozen.bias.copy_(bn.bias)
    return frozen


def add_lora(model: nn.Module, rank: int, alpha: float | None = None,
             sparse_delta: bool = False) -> nn.Module:
    """A copy of ``model`` in which only LoRA adapters of rank ``rank`` can learn.

    Every Conv2d/Linear is wrapped in a ``LoRALinear`` / ``LoRAConv2d`` (its weight frozen, its mask
    kept), every BatchNorm2d becomes a ``FrozenBatchNorm2d`` (in train mode a BatchNorm would keep
    re-estimating its statistics, a recovery of its own that does not belong to the adapters: see
    ``recipes.recalibrate_batchnorm``), and every other parameter is frozen. ``model`` itself is
    unchanged.
    """
    adapted = copy.deepcopy(model)
    for p in adapted.parameters():
        p.requires_grad_(False)
    for name, module in list(adapted.named_modules()):
        if isinstance(module, nn.BatchNorm2d):
            set_submodule(adapted, name, frozen_batchnorm(module))
        elif isinstance(module, PRUNABLE_TYPES):
            wrapper = LoRALinear if isinstance(module, nn.Linear) else LoRAConv2d
            try:
                set_submodule(adapted, name, wrapper(module, rank, alpha, sparse_delta))
            except ValueError as err:
                raise ValueError(f"layer {name!r}: {err}") from err
    return adapted


def merge_lora(model: nn.Module, keep_sparsity: bool) -> nn.Module:
    """Fold every adapter of ``model`` into its base layer and put the plain layer back, in place.

    With ``keep_sparsity`` only the weights the mask keeps change (sparse, approximate unless the
    adapters were trained with ``sparse_delta``); without it the merge is exact but dense.
    """
    for name, module in _lora_modules(model):
        module.merge(keep_sparsity)
        set_submodule(model, name, module.base)
    return model


def adapter_parameters(weight_shape, rank: int) -> int:
    """Trainable numbers of a rank-``rank`` adapter on a weight (C_out, ...): r * (fan_in + C_out)."""
    check_positive_int("rank", rank)
    return rank * (math.prod(weight_shape[1:]) + weight_shape[0])


def count_trainable(model: nn.Module) -> int:
    """Parameters that an optimizer would update (``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
