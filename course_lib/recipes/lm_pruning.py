"""Pruning a trained language model after training, the way LLMs are pruned: one layer at a time,
from a few calibration windows of training text, with no retraining.

Every Linear layer inside the transformer blocks (query, key, value, attention output, MLP in and
out) is pruned; the embeddings, the final LayerNorm and the output head are kept dense, as Wanda and
SparseGPT do. Three methods:

- ``"magnitude"``: keep the largest |W| in each output row;
- ``"wanda"``: keep the largest |W_ij| * ||X_j||_2 in each output row (``post_training.wanda_scores``);
- ``"sparsegpt"``: choose the mask and update the kept weights with the OBS update on H = 2 X^T X + λI
  (``sparsegpt.sparsegpt_prune``).

Calibration inputs X are captured with forward hooks, block by block, on the partly pruned copy (the
papers' sequential order): a block's layers see the errors of the blocks pruned before them.

Also here: the training loop of the character model (``train_lm``), used to build the checkpoint and
for short recoveries (fine-tuning after head removal, LoRA adapters).
"""

import copy
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..analysis.language import EVAL_CHARS, perplexity, sample_text, window_losses
from ..core.modules import eval_mode, hooks_attached
from ..core.selection import keep_largest_per_row
from ..core.validation import check_choice, check_fraction, check_positive_int, check_positive_number
from ..data.text import random_windows, text_generator
from ..pruning.importance import wanda_scores
from ..pruning.nm import nm_mask
from .sparsegpt import check_target, sparsegpt_prune

LM_METHODS = ("magnitude", "wanda", "sparsegpt")


CALIBRATION_SEED = 1234


def train_lm(model: nn.Module, tokens: torch.Tensor, steps: int, batch_size: int = 12, lr: float = 1e-3,
             seed: int = 0, warmup: int = 50, min_lr_ratio: float = 0.1, weight_decay: float = 0.1,
             progress: bool = True, desc: str = "training") -> list[float]:
    """Train ``model`` in place on random windows of ``tokens`` for ``steps`` AdamW steps.

    Only parameters with ``requires_grad`` are trained (so LoRA adapters train alone). The learning
    rate warms up linearly for ``warmup`` steps, then follows a cosine down to ``min_lr_ratio * lr``;
    weight decay applies to matrices only; gradients are clipped at norm 1. Windows come from a
    generator seeded with ``seed`` (moved by the course-wide offset). Returns the loss of every step.
    """
    check_positive_int("steps", steps)
    check_positive_number("lr", lr)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameter (every requires_grad is False)")
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99))

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress_ = (step - warmup) / max(1, steps - warmup)
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress_))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    generator = text_generator(seed)
    losses = []
    model.train()
    bar = tqdm(range(steps), desc=desc, disable=not progress, leave=False)
    for _ in bar:
        x, y = random_windows(tokens, batch_size, model.context, generator)  # (B, T)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if len(losses) % 50 == 0:
            bar.set_postfix(loss=f"{sum(losses[-50:]) / 50:.3f}")
    model.eval()
    return losses


def block_linears(model: nn.Module) -> dict[str, nn.Linear]:
    """The Linear layers inside the transformer blocks, by module name (``"blocks.0.attn.q"``)."""
    layers = {name: module for name, module in model.named_modules()
              if name.startswith("blocks.") and isinstance(module, nn.Linear)}
    if not layers:
        raise ValueError(f"model must have transformer blocks (model.blocks) with Linear layers, got "
                         f"{type(model).__name__}")
    return layers


def calibration_windows(tokens: torch.Tensor, context: int, n_windows: int = 64,
                        seed: int = CALIBRATION_SEED) -> torch.Tensor:
    """``n_windows`` random windows (n_windows, context) of ``tokens`` (pass the *training* text)."""
    return random_windows(tokens, n_windows, context, text_generator(seed))[0]


@torch.no_grad()
def capture_inputs(model: nn.Module, idx: torch.Tensor, names=None) -> dict[str, torch.Tensor]:
    """What each block Linear (or those in ``names``) receives on token windows ``idx`` (B, T):
    module name -> (B*T, in). One forward pass with hooks in eval mode; the model is unchanged.

    (``post_training.layer_inputs`` does the same for models fed with floating-point inputs; a language
    model is fed token ids.)"""
    layers = block_linears(model)
    names = list(layers) if names is None else list(names)
    unknown = sorted(set(names) - set(layers))
    if unknown:
        raise ValueError(f"names must be block Linear layers of the model, got unknown {unknown}")
    inputs: dict[str, torch.Tensor] = {}
    hooks = [(layers[name], _recorder(inputs, name)) for name in names]
    with hooks_attached(forward=hooks), eval_mode(model):
        model(idx)
    return inputs


def prune_linear_weight(weight: torch.Tensor, inputs: torch.Tensor | None, method: str,
                        sparsity: float | None = None, *, n: int | None = None,
                        m: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Prune one Linear weight (out, in) by ``method``; returns (new weight, mask). ``inputs``
    (tokens, in) are the layer's calibration inputs (unused by magnitude). Unstructured sparsity
    removes ``round(sparsity * in)`` weights of every row (SparseGPT: of every column block)."""
    check_choice("method", method, LM_METHODS)
    check_target(sparsity, n, m)
    if method == "sparsegpt":
        return sparsegpt_prune(weight, inputs, sparsity, n=n, m=m)
    if method == "magnitude":
        scores = weight.detach().abs()
    else:
        if inputs is None:
            raise ValueError("inputs must be the layer's calibration inputs for method 'wanda', got None")
        scores = wanda_scores(weight.detach(), inputs.norm(dim=0))
    if sparsity is not None:
        mask = keep_largest_per_row(scores, round(sparsity * weight.shape[1]))
    else:
        mask = nm_mask(scores, n, m)
    return weight.detach() * mask, mask


def _recorder(inputs: dict, name: str):
    """A forward hook that stores its layer's input as ``inputs[name]``, (tokens, in)."""
    def record(module, args, output):
        inputs[name] = args[0].detach().flatten(0, -2).clone()
    return record


def _embed(model: nn.Module, idx: torch.Tensor) -> torch.Tensor:
    """The residual stream entering the first block: token + position embeddings, (B, T, C)."""
    return model.tok_emb(idx) + model.pos_emb(torch.arange(idx.shape[1], device=idx.device))


def layer_sparsities(model: nn.Module, sparsity) -> dict[str, float | None]:
    """One unstructured sparsity per block Linear (``"blocks.0.attn.q"`` -> 0.6): ``sparsity`` is a
    number for all of them, a dict naming every one of them, or None (an N:M target)."""
    names = list(block_linears(model))
    if not isinstance(sparsity, dict):
        return dict.fromkeys(names, sparsity)
    missing, unknown = [n for n in names if n not in sparsity], [n for n in sparsity if n not in names]
    if missing or unknown:
        raise ValueError(f"sparsity must give one value for each block Linear of the model ({len(names)}: "
                         f"{names[0]!r} ... {names[-1]!r}); missing {missing[:3]}, unknown {unknown[:3]}")
    for name in names:
        check_fraction(f"sparsity[{name!r}]", sparsity[name])
    return {name: float(sparsity[name]) for name in names}


def depth_ramp_sparsities(layer_sizes: dict[str, int], target: float, step: float = 0.05) -> dict[str, float]:
    """Per-layer sparsities that rise by ``step`` per block, later blocks pruned harder, with the
    size-weighted mean equal to ``target``. ``layer_sizes``: block Linear name -> number of weights."""
    check_fraction("target", target)
    depth = {name: int(name.split(".")[1]) for name in layer_sizes}  # "blocks.2.mlp.fc" -> 2
    mean_depth = sum(depth[n] * size for n, size in layer_sizes.items()) / sum(layer_sizes.values())
    ramp = {name: target + step * (depth[name] - mean_depth) for name in layer_sizes}
    if not all(0 <= s <= 1 for s in ramp.values()):
        raise ValueError(f"step={step} takes a sparsity outside [0, 1] around target={target}; "
                         "use a smaller step")
    return ramp


@torch.no_grad()
def prune_lm(model: nn.Module, calibration: torch.Tensor | None, method: str,
             sparsity: float | dict[str, float] | None = None, *, n: int | None = None,
             m: int | None = None) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """A copy of the language model ``model`` with every block Linear pruned by ``method``.

    ``calibration``: token windows (B, T) of *training* text (``calibration_windows``); not needed for
    magnitude. Give ``sparsity`` (unstructured: one number, or a dict with one per block Linear, as
    ``layer_sparsities`` reads it) or ``n`` and ``m`` (N:M along the input dimension).
    Blocks are pruned in order, as in the Wanda and SparseGPT papers: block b's layers are calibrated
    on what block b receives once blocks 0..b-1 are pruned, so later layers see the earlier errors
    (one pass through the model in all). Returns (pruned copy, masks by weight name); ``model`` is
    never changed.
    """
    check_choice("method", method, LM_METHODS)
    if not isinstance(sparsity, dict):
        check_target(sparsity, n, m)
    elif n is not None or m is not None:
        raise ValueError(f"give either per-layer sparsities or n and m, not both; got n={n!r}, m={m!r}")
    per_layer = layer_sparsities(model, sparsity)
    needs_data = method != "magnitude"
    if needs_data and (not isinstance(calibration, torch.Tensor) or calibration.dim() != 2):
        raise ValueError(f"calibration must be token windows (B, T) for method {method!r}, got "
                         f"{type(calibration).__name__}")
    pruned = copy.deepcopy(model).eval()
    block_linears(pruned)  # checks that the model has blocks of Linear layers
    masks = {}
    hidden = _embed(pruned, calibration) if needs_data else None  # (B, T, C)
    for b, block in enumerate(pruned.blocks):
        layers = {name: module for name, module in block.named_modules() if isinstance(module, nn.Linear)}
        inputs = {}
        if needs_data:
            with hooks_attached(forward=[(layer, _recorder(inputs, name)) for name, layer in layers.items()]):
                block(hidden)  # what each Linear of block b receives, blocks before it already pruned
        for name, layer in layers.items():
            target = per_layer[f"blocks.{b}.{name}"]
            new_weight, mask = prune_linear_weight(layer.weight, inputs.get(name), method, target, n=n, m=m)
            layer.weight.copy_(new_weight)
            masks[f"blocks.{b}.{name}.weight"] = mask
        if needs_data:
            hidden = block(hidden)  # the pruned block's output feeds the next block
    return pruned, masks


@torch.no_grad()
def layer_output_errors(model: nn.Module, pruned: nn.Module, data) -> dict[str, float]:
    """Relative output error ‖X Wᵀ - X Ŵᵀ‖ / ‖X Wᵀ‖ of each block Linear, on the inputs X that the
    *dense* ``model`` feeds it. ``data``: token windows (B, T) (use validation text to measure, not the
    calibration windows), or the dict ``capture_inputs(model, windows)`` when measuring many models."""
    inputs = data if isinstance(data, dict) else capture_inputs(model, data)
    dense, sparse = block_linears(model), block_linears(pruned)
    errors = {}
    for name, x in inputs.items():
        reference = x @ dense[name].weight.T
        errors[name] = float((reference - x @ sparse[name].weight.T).norm() / reference.norm())
    return errors


def sparsity_of(masks: dict[str, torch.Tensor]) -> float:
    """Fraction of pruned weights over all masks."""
    total = sum(mask.numel() for mask in masks.values())
    return sum(int((~mask).sum()) for mask in masks.values()) / total


@dataclass
class PruneExplorer:
    """What the lesson's slider calls: prune a copy of ``model`` by (method, sparsity) and report its
    validation perplexity and a sample. Results are cached per (method, sparsity); ``model`` is never
    changed (every call re-prunes from the dense weights)."""

    model: nn.Module
    calibration: torch.Tensor
    validation: torch.Tensor
    vocab: object
    prompt: str = "ROMEO:"
    sample_chars: int = 120
    eval_chars: int = EVAL_CHARS
    cache: dict = field(default_factory=dict, init=False, repr=False)  # (method, sparsity) -> result

    def __call__(self, method: str, sparsity: float) -> tuple[float, str]:
        """(validation perplexity, sample) of the model pruned by ``method`` at ``sparsity``."""
        check_choice("method", method, LM_METHODS)
        sparsity = check_fraction("sparsity", sparsity)
        key = (method, round(sparsity, 6))
        if key not in self.cache:
            pruned, _ = prune_lm(self.model, self.calibration, method, sparsity)
            ppl = perplexity(window_losses(pruned, self.validation, self.eval_chars))
            self.cache[key] = (ppl, sample_text(pruned, self.vocab, self.prompt, self.sample_chars, seed=0))
        return self.cache[key]
