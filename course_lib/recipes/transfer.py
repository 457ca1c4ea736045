"""Pruning across tasks: transfer learning with pruning, in three orders.

Transfer learning with pruning: train on digits 0-4, then reach a pruned model for 5-9 in one of
three ways with the same optimizer steps (``transfer_pruning_orders``): prune first and fine-tune the
small model, fine-tune the dense model first and prune it afterwards (then recover), or train the same
pruned architecture from scratch (``reinitialised``). Each way's training cost is counted in MACs.
(The label-split digits are ``data.split_by_labels``; the tabular data and MLP of lesson 09 are
``data.tabular_splits`` and ``models.tabular_mlp``.)

All seeds go through the course-wide seed shift (:mod:`course_lib.core.seeds`).
"""

import copy

import torch
from torch import nn

from ..analysis.metrics import count_macs
from ..core.seeds import shifted
from ..core.validation import check_fraction, check_int_in_range, check_positive_int
from ..data.digits import Split, make_loader
from ..structured.surgery import prune_channels
from ..train import reinitialised, seed_everything, train


def transfer_vs_scratch(pruned: nn.Module, head: str, train_loader, test_loader, epochs: int = 3,
                        lr: float = 1e-3, seed: int = 0) -> dict[str, list[float]]:
    """Test accuracy after each epoch of training two copies of the ``pruned`` model on a new task:
    ``"transfer"`` keeps the pruned weights and re-initialises only the classifier layer ``head``
    (its old classes mean nothing here); ``"scratch"`` is ``reinitialised`` everywhere. Same data
    order, same steps, same learning rate. ``pruned`` itself is not changed."""

    transferred = _fresh_head(pruned, head, seed)
    curves = {}
    for label, model in (("transfer", transferred), ("scratch", reinitialised(pruned, seed))):
        seed_everything(seed)
        history = train(model, train_loader, epochs, lr=lr, eval_loader=test_loader, progress=False)
        curves[label] = history["accuracy"]
    return curves


def _fresh_head(model: nn.Module, head: str, seed: int) -> nn.Module:
    """A copy of ``model`` with the classifier layer ``head`` re-initialised (seeded)."""
    fresh = copy.deepcopy(model)
    with torch.random.fork_rng():
        torch.manual_seed(shifted(seed))
        fresh.get_submodule(head).reset_parameters()
    return fresh


def training_macs(model: nn.Module, input_shape, examples: int, epochs: int) -> int:
    """MACs of training ``model`` for ``epochs`` passes over ``examples`` examples: about three
    forward passes' worth per example and step (the forward, and the backward's two products: the
    gradient for the input and the one for the weights). Dense kernels multiply pruned zeros too, so
    a masked model costs what its dense shape costs."""
    check_int_in_range("examples", examples, 0)
    check_int_in_range("epochs", epochs, 0)
    return 3 * count_macs(model, tuple(input_shape)) * examples * epochs


def transfer_pruning_orders(source: nn.Module, head: str, ratio: float, train_split: Split, eval_loader,
                            epochs: int = 2, recovery_epochs: int = 2, lr: float = 1e-3, seed: int = 0,
                            batch_size: int = 64) -> dict[str, dict]:
    """Three ways from ``source`` (trained on another task) to a model with ``ratio`` of every
    prunable layer's channels removed (``structured.prune_channels``, L1 norms), trained on the new
    task's ``train_split`` with the same number of optimizer steps, ``epochs + recovery_epochs`` passes:

    * ``"prune, then fine-tune"``: prune ``source``, re-initialise the classifier ``head``, train;
    * ``"fine-tune, then prune"``: re-initialise ``head``, train the dense model ``epochs`` passes,
      prune it, train ``recovery_epochs`` passes more;
    * ``"pruned, from scratch"``: the pruned architecture, every weight re-initialised, trained.

    Returns ``{label: {"model", "accuracy": [on eval_loader after each pass], "training_macs"}}``.
    Every way sees the same data order (a fresh loader seeded with ``seed``). ``source`` is not changed.
    """
    ratio = check_fraction("ratio", ratio, allow_one=False)
    check_positive_int("epochs", epochs)
    check_int_in_range("recovery_epochs", recovery_epochs, 0)
    example = train_split.x[:1]
    shape, n = tuple(example.shape[1:]), len(train_split)
    total = epochs + recovery_epochs

    def fit(model, passes):
        seed_everything(seed)
        loader = make_loader(train_split, batch_size, shuffle=True, seed=seed)
        return train(model, loader, passes, lr=lr, eval_loader=eval_loader, progress=False)["accuracy"]

    small = prune_channels(source, ratio, example)
    out = {}
    first = _fresh_head(small, head, seed)
    out["prune, then fine-tune"] = {"model": first, "accuracy": fit(first, total),
                                    "training_macs": training_macs(small, shape, n, total)}
    dense = _fresh_head(source, head, seed)
    curve = fit(dense, epochs)
    late = prune_channels(dense, ratio, example)
    curve += fit(late, recovery_epochs) if recovery_epochs else []
    out["fine-tune, then prune"] = {
        "model": late, "accuracy": curve,
        "training_macs": (training_macs(source, shape, n, epochs)
                          + training_macs(small, shape, n, recovery_epochs)),
    }
    scratch = reinitialised(small, seed)
    out["pruned, from scratch"] = {"model": scratch, "accuracy": fit(scratch, total),
                                   "training_macs": training_macs(small, shape, n, total)}
    return out
