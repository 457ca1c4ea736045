"""Seeding and the train / evaluate / fine-tune loops.

On the CPU, the same seed gives the same weights and the same accuracy on every rerun: the data order
comes from the loader's own seeded generator and initialisation from ``seed_everything``.
"""

import copy
import math
import random

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from .core.modules import apply_masks, eval_mode
from .core.seeds import shifted
from .core.validation import check_positive_int, check_positive_number
from .data.text import random_windows, text_generator
from .models.transformer import next_token_loss


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch so that a rerun reproduces the same numbers.

    The seed is moved by ``COURSE_SEED_OFFSET`` (see :mod:`course_lib.core.seeds`), which ``make claims``
    sets to check that a lesson's claims do not depend on one lucky seed.
    """
    seed = shifted(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def reinitialised(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` (same architecture, same shapes) with freshly initialised parameters and
    BatchNorm statistics: every submodule's ``reset_parameters`` (or ``reset_running_stats``) under
    ``torch.manual_seed(shifted(seed))``."""
    fresh = copy.deepcopy(model)
    with torch.random.fork_rng():
        torch.manual_seed(shifted(seed))
        for module in fresh.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
            elif hasattr(module, "reset_running_stats"):
                module.reset_running_stats()
    return fresh.train(model.training)


@torch.no_grad()
def evaluate(model: nn.Module, loader) -> float:
    """Accuracy of ``model`` on ``loader`` as a fraction in [0, 1]. Restores the model's train/eval mode."""
    correct = total = 0
    with eval_mode(model):
        for x, y in loader:
            correct += (model(x).argmax(dim=1) == y).sum().item()
            total += len(y)
    return correct / total


def train(
    model: nn.Module,
    loader,
    epochs: int,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    after_step=None,
    eval_loader=None,
    progress: bool = True,
    desc: str = "training",
) -> dict:
    """Train with Adam and cross-entropy; return the history ``{"loss": [...], "accuracy": [...]}``.

    ``after_step(model)`` runs after every optimizer step (the pruning lessons use it to keep
    pruned weights at zero). ``accuracy`` is filled per epoch when ``eval_loader`` is given.
    """
    check_positive_int("epochs", epochs)
    check_positive_number("lr", lr)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    history = {"loss": [], "accuracy": []}
    model.train()
    for _ in tqdm(range(epochs), desc=desc, disable=not progress, leave=False):
        total, count = 0.0, 0
        for x, y in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            if after_step is not None:
                after_step(model)
            total += loss.item() * len(y)
            count += len(y)
        history["loss"].append(total / count)
        if eval_loader is not None:
            history["accuracy"].append(evaluate(model, eval_loader))
    model.eval()
    return history


def fit_full_batch(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 600, lr: float = 0.03,
                   loss_fn=F.mse_loss) -> nn.Module:
    """Fit ``model`` to (x, y) by full-batch Adam for ``steps`` steps (lesson 01's tiny regression
    network: about a second); returns it in eval mode."""
    check_positive_int("steps", steps)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
    return model.eval()


def fine_tune(model: nn.Module, loader, epochs: int = 3, lr: float = 3e-4, masks=None, **kwargs) -> dict:
    """Train a (pruned) model for a few epochs at a small learning rate.

    ``masks`` maps parameter names to boolean masks; the masks are re-applied after every step so
    pruned weights stay exactly zero.
    """
    if masks is not None:
        apply_masks(model, masks)
    after_step = (lambda m: apply_masks(m, masks)) if masks is not None else None
    return train(model, loader, epochs, lr=lr, after_step=after_step, desc="fine-tuning", **kwargs)


def train_lm(model: nn.Module, tokens: torch.Tensor, steps: int, batch_size: int = 12, lr: float = 1e-3,
             seed: int = 0, warmup: int = 50, min_lr_ratio: float = 0.1, weight_decay: float = 0.1,
             progress: bool = True, desc: str = "training", masks=None) -> list[float]:
    """Train ``model`` in place on random windows of ``tokens`` for ``steps`` AdamW steps.

    Only parameters with ``requires_grad`` are trained (so LoRA adapters train alone); with ``masks``
    ({weight name: bool mask}) the pruned weights are held at zero after every step (masked
    fine-tuning, as ``fine_tune(masks=...)`` does for the classifiers). The learning
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
        loss = next_token_loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        if masks is not None:
            apply_masks(model, masks)
        scheduler.step()
        losses.append(loss.item())
        if len(losses) % 50 == 0:
            bar.set_postfix(loss=f"{sum(losses[-50:]) / 50:.3f}")
    model.eval()
    return losses
