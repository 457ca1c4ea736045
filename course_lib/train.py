"""Seeding and the train / evaluate / fine-tune loops.

On the CPU, the same seed gives the same weights and the same accuracy on every rerun: the data order
comes from the loader's own seeded generator and initialisation from ``seed_everything``.
"""

import random

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .core.modules import apply_masks, eval_mode
from .core.seeds import shifted
from .core.validation import check_positive_int, check_positive_number


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch so that a rerun reproduces the same numbers.

    The seed is moved by ``COURSE_SEED_OFFSET`` (see :mod:`course_lib.core.seeds`), which ``make claims``
    sets to check that a lesson's claims do not depend on one lucky seed.
    """
    seed = shifted(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


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


def fine_tune(model: nn.Module, loader, epochs: int = 3, lr: float = 3e-4, masks=None, **kwargs) -> dict:
    """Train a (pruned) model for a few epochs at a small learning rate.

    ``masks`` maps parameter names to boolean masks; the masks are re-applied after every step so
    pruned weights stay exactly zero.
    """
    if masks is not None:
        apply_masks(model, masks)
    after_step = (lambda m: apply_masks(m, masks)) if masks is not None else None
    return train(model, loader, epochs, lr=lr, after_step=after_step, desc="fine-tuning", **kwargs)
