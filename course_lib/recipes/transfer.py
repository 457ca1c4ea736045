"""Pruning across tasks and domains: label-split digits for transfer learning, a tabular dataset.

Transfer learning with pruning: train on digits 0-4, prune, then fine-tune the pruned model on 5-9,
and compare with the same pruned architecture trained from scratch (``reinitialised``) for the same
steps. Cross-domain: the same pruning library on an MLP for one of scikit-learn's bundled tabular
datasets (offline), standardised with the training split's statistics.
"""

import copy

import numpy as np
import torch
from sklearn import datasets
from sklearn.model_selection import train_test_split
from torch import nn

from ..core.validation import check_choice
from ..data.digits import SPLIT_SEED, TEST_FRACTION, Split
from ..train import seed_everything, train

TABULAR = {"breast_cancer": datasets.load_breast_cancer, "wine": datasets.load_wine}


def split_by_labels(split: Split, labels) -> Split:
    """The examples of ``split`` whose label is in ``labels`` (labels keep their values)."""
    labels = torch.as_tensor(sorted(set(labels)), dtype=torch.long)
    if labels.numel() == 0:
        raise ValueError("labels must name at least one class, got none")
    keep = torch.isin(split.y, labels)
    if not keep.any():
        raise ValueError(f"no example of the split has a label in {labels.tolist()}")
    return Split(split.x[keep], split.y[keep])


def reinitialised(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` (same architecture, same shapes) with freshly initialised parameters and
    BatchNorm statistics: every submodule's ``reset_parameters`` (or ``reset_running_stats``) under
    ``torch.manual_seed(seed)``."""
    fresh = copy.deepcopy(model)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for module in fresh.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
            elif hasattr(module, "reset_running_stats"):
                module.reset_running_stats()
    return fresh.train(model.training)


def tabular_splits(name: str = "breast_cancer", test_fraction: float = TEST_FRACTION, seed: int = SPLIT_SEED):
    """(train, test) splits of a scikit-learn tabular dataset: x (N, F) float32 standardised with the
    training split's per-feature mean and std, y (N,) int64. Stratified and seeded."""
    check_choice("name", name, TABULAR)
    bunch = TABULAR[name]()
    x_tr, x_te, y_tr, y_te = train_test_split(
        bunch.data.astype(np.float32), bunch.target, test_size=test_fraction, random_state=seed,
        stratify=bunch.target,
    )
    mean, std = x_tr.mean(axis=0), x_tr.std(axis=0)

    def to_split(x, y):
        return Split(torch.from_numpy((x - mean) / std), torch.from_numpy(y).long())

    return to_split(x_tr, y_tr), to_split(x_te, y_te)


def tabular_mlp(in_features: int, hidden=(64, 32), classes: int = 2, seed: int = 0) -> nn.Sequential:
    """An MLP (B, in_features) -> (B, classes) with ReLUs between Linear layers, seeded."""
    sizes = (in_features, *hidden, classes)
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes, sizes[1:]):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def transfer_vs_scratch(pruned: nn.Module, head: str, train_loader, test_loader, epochs: int = 3,
                        lr: float = 1e-3, seed: int = 0) -> dict[str, list[float]]:
    """Test accuracy after each epoch of training two copies of the ``pruned`` model on a new task:
    ``"transfer"`` keeps the pruned weights and re-initialises only the classifier layer ``head``
    (its old classes mean nothing here); ``"scratch"`` is ``reinitialised`` everywhere. Same data
    order, same steps, same learning rate. ``pruned`` itself is not changed."""

    transferred = copy.deepcopy(pruned)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        transferred.get_submodule(head).reset_parameters()
    curves = {}
    for label, model in (("transfer", transferred), ("scratch", reinitialised(pruned, seed))):
        seed_everything(seed)
        history = train(model, train_loader, epochs, lr=lr, eval_loader=test_loader, progress=False)
        curves[label] = history["accuracy"]
    return curves
