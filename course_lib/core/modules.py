"""Module helpers: which layers are prunable, applying masks in place, swapping submodules, and the
two context managers: ``eval_mode`` and ``hooks_attached``, and the one check of a model's example input.

A mask is a ``torch.bool`` tensor of its weight's shape: True keeps a weight, False prunes it.
"""

from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def eval_mode(model: nn.Module):
    """Run the body with ``model`` in eval mode (BatchNorm uses running statistics, dropout is off),
    then restore the train/eval mode it had, even if the body raises."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def check_example_input(model: nn.Module, example_input, *, run: bool = False) -> torch.Tensor:
    """``example_input`` if it is a tensor with a batch dimension (B, ...) for ``model``, an
    ``nn.Module``; else a ``TypeError`` naming what was given. ``run``: also do one forward pass in
    eval mode, so an input of the wrong shape is a ``ValueError`` naming both, not a trace deep inside."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(example_input, torch.Tensor) or example_input.ndim < 2:
        raise TypeError(
            "example_input must be a tensor with a batch dimension, e.g. torch.zeros(1, 1, 8, 8), "
            f"got {example_input!r:.80}"
        )
    if run:
        try:
            with torch.no_grad(), eval_mode(model):
                model(example_input)
        except Exception as err:
            raise ValueError(
                f"example_input of shape {tuple(example_input.shape)} does not fit {type(model).__name__}: "
                f"the forward pass raised {type(err).__name__}: {err}"
            ) from err
    return example_input


@contextmanager
def hooks_attached(forward=(), pre=()):
    """Run the body with forward hooks attached, then remove them, even if the body raises.

    ``forward``: (module, hook(module, args, output)) pairs; ``pre``: (module, hook(module, args))
    pairs, run before the module's forward. The one way the kit records what layers see."""
    handles = [module.register_forward_hook(hook) for module, hook in forward]
    handles += [module.register_forward_pre_hook(hook) for module, hook in pre]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def set_submodule(model: nn.Module, name: str, new: nn.Module) -> None:
    """Replace the submodule called ``name`` (dotted, e.g. ``"layer1.0.conv1"``) with ``new``."""
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name), child, new)


PRUNABLE_TYPES = (nn.Conv2d, nn.Linear)

# nn.MultiheadAttention multiplies its inputs by parameters of its own, not by Linear layers: the
# packed q/k/v input projection (or three separate ones when key and value sizes differ). Its output
# projection, out_proj, is a Linear and is covered as one.
ATTENTION_WEIGHTS = ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight")

NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


def prunable_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """Every weight matrix the model multiplies its inputs by, by parameter name (``"conv1.weight"``):
    Conv2d and Linear weights, and ``nn.MultiheadAttention``'s input projections
    (``"attn.in_proj_weight"``, see ``ATTENTION_WEIGHTS``).

    Left out, because no input is multiplied by them: embedding tables (looked up), position
    embeddings and class tokens (added, e.g. ViT's ``pos_embedding`` and ``class_token``, Swin's
    relative position bias tables), and the vectors of norms and biases.
    """
    return prunable_parameters(model)


def _layer_weights(model: nn.Module, layer_types) -> dict[str, nn.Parameter]:
    return {
        f"{name}.weight" if name else "weight": module.weight
        for name, module in model.named_modules()
        if isinstance(module, layer_types)
    }


def prunable_parameters(
    model: nn.Module, include_biases: bool = False, include_norm: bool = False
) -> dict[str, nn.Parameter]:
    """The weights of ``prunable_weights``, plus biases and normalisation layers' parameters on
    request, in module order.

    ``include_biases`` adds the Conv2d/Linear biases and the attention's ``in_proj_bias``;
    ``include_norm`` adds the scale (gamma) of BatchNorm/LayerNorm/GroupNorm layers, and their shift
    (beta) as well when ``include_biases`` is also set.
    """
    params = {}
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(module, nn.MultiheadAttention):
            attrs = [*ATTENTION_WEIGHTS, *(("in_proj_bias",) if include_biases else ())]
        elif isinstance(module, PRUNABLE_TYPES) or (include_norm and isinstance(module, NORM_TYPES)):
            attrs = ("weight", "bias") if include_biases else ("weight",)
        else:
            continue
        for attr in attrs:
            if getattr(module, attr, None) is not None:
                params[f"{prefix}{attr}"] = getattr(module, attr)
    return params


def _check_masks(masks) -> dict[str, torch.Tensor]:
    if not isinstance(masks, dict) or not masks:
        raise TypeError(f"masks must be a non-empty dict of parameter name -> bool mask, got {masks!r}")
    for name, mask in masks.items():
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            got = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise TypeError(f"masks[{name!r}] must be a torch.bool tensor, got {got}")
    return masks


def parameter_owner(model: nn.Module, param_name: str) -> tuple[nn.Module, str]:
    """The module that holds ``param_name`` ("layer1.0.conv1.weight") and the attribute name."""
    module_name, _, attr = param_name.rpartition(".")
    try:
        module = model.get_submodule(module_name)
    except AttributeError as err:
        raise ValueError(f"masks has a key {param_name!r}: the model has no module {module_name!r}") from err
    if not hasattr(module, attr):
        raise ValueError(f"masks has a key {param_name!r}: {module_name or 'the model'} has no {attr!r}")
    return module, attr


@torch.no_grad()
def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> nn.Module:
    """Zero the pruned weights of ``model`` in place (weight *= mask) and return it.

    The one way the kit keeps masks applied: ``train.fine_tune(masks=...)`` calls it after every
    optimizer step, and so does a ``pruning.Pruner``. Under ``torch.nn.utils.prune`` it zeroes
    ``weight_orig`` and recomputes ``weight`` as a plain tensor (the forward pre-hook recomputes it
    with gradients), which also lets such a model be deep-copied after a training step.
    """
    for name, mask in masks.items():
        module, attr = parameter_owner(model, name)
        orig = getattr(module, f"{attr}_orig", None)
        param = getattr(module, attr) if orig is None else orig
        if mask.shape != param.shape:
            raise ValueError(
                f"mask for {name!r} has shape {tuple(mask.shape)}, the parameter has {tuple(param.shape)}"
            )
        param.mul_(mask.to(param.device))
        if orig is not None:
            setattr(module, attr, orig.detach() * getattr(module, f"{attr}_mask"))
    return model
