"""Keeping masks applied: the ``Pruner`` holds pruned weights at zero through training (lesson 05),
through ``torch.nn.utils.prune`` so that learners meet the mechanism PyTorch ships (``weight_orig``,
``weight_mask``, a forward pre-hook); ``make_permanent`` and ``load_pruned_state_dict`` finish and
reload the result. Both the Pruner and ``train.fine_tune(masks=...)`` keep masks applied the same way:
``core.apply_masks`` after every optimizer step.
"""


import torch
from torch import nn
from torch.nn.utils import prune

from ..core.modules import _check_masks, apply_masks, parameter_owner
from .magnitude import masks_sparsity


class Pruner:
    """Holds boolean masks and keeps them applied.

    Call it on the model after every optimizer step, ``train(model, ..., after_step=pruner)``, so
    pruned weights stay exactly zero while the others train (Adam's momentum would otherwise grow
    them back). Or hand the masks to ``torch.nn.utils.prune`` with :meth:`attach` (the forward pass
    then uses weight_orig * weight_mask) and make them permanent with :func:`make_permanent`.
    A Pruner deep-copies, and saves and loads through ``state_dict`` / ``load_state_dict``.
    """

    def __init__(self, masks: dict[str, torch.Tensor]):
        self.masks = {name: m.detach().clone() for name, m in _check_masks(masks).items()}

    @classmethod
    def from_model(cls, model: nn.Module) -> "Pruner":
        """The masks that ``torch.nn.utils.prune`` holds on ``model`` (its ``*_mask`` buffers)."""
        masks = {
            f"{module_name}.{attr}" if module_name else attr: getattr(module, f"{attr}_mask").bool()
            for module_name, module, attr in _pruned_tensors(model)
        }
        if not masks:
            raise ValueError("model has no torch.nn.utils.prune masks (no *_mask buffers) to read")
        return cls(masks)

    def __call__(self, model: nn.Module) -> nn.Module:
        """Zero every pruned weight of ``model`` in place, also under torch.nn.utils.prune
        (``core.apply_masks``, the kit's one way of keeping masks applied)."""
        return apply_masks(model, self.masks)

    def attach(self, model: nn.Module) -> nn.Module:
        """Apply the masks with ``torch.nn.utils.prune.custom_from_mask`` (reversible, in place)."""
        for name, mask in self.masks.items():
            module, attr = parameter_owner(model, name)
            prune.custom_from_mask(module, attr, mask)
        return self(model)

    def sparsity(self) -> float:
        """Fraction of pruned entries over all masks together."""
        return masks_sparsity(self.masks)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The masks (copies), ready for ``torch.save`` and ``torch.load(..., weights_only=True)``."""
        return {name: m.clone() for name, m in self.masks.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.masks = {name: m.detach().clone() for name, m in _check_masks(state).items()}

    def __repr__(self) -> str:
        return f"Pruner({len(self.masks)} masks, sparsity {self.sparsity():.1%})"


def _pruned_tensors(model: nn.Module) -> list[tuple[str, nn.Module, str]]:
    """(module name, module, tensor name) for every tensor that torch.nn.utils.prune masks."""
    return [
        (module_name, module, hook._tensor_name)
        for module_name, module in model.named_modules()
        for hook in module._forward_pre_hooks.values()
        if isinstance(hook, prune.BasePruningMethod)
    ]


def make_permanent(model: nn.Module) -> nn.Module:
    """``torch.nn.utils.prune.remove`` on every pruned tensor: weight_orig * mask becomes the plain
    weight again and the mask buffers and hooks go."""
    for _, module, attr in _pruned_tensors(model):
        prune.remove(module, attr)
    return model


def load_pruned_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """Load a state_dict saved from a model with ``torch.nn.utils.prune`` masks attached.

    Such a state_dict holds ``<name>_orig`` and ``<name>_mask`` instead of ``<name>``; the masks are
    attached to ``model`` first so that every key finds its place.
    """
    for key, value in state.items():
        if key.endswith("_mask") and key.removesuffix("_mask") + "_orig" in state:
            module, attr = parameter_owner(model, key.removesuffix("_mask"))
            if not hasattr(module, f"{attr}_mask"):
                prune.custom_from_mask(module, attr, value.bool())
    model.load_state_dict(state)
    return model
