"""Checks for lesson 03's exercises (N:M sparsity)."""

import copy
import itertools
from dataclasses import dataclass

import torch

from ..core import apply_masks, pack_bits, prunable_weights
from ..data import digits_loaders
from ..hardware import nm_storage_bytes
from ..models import load_pretrained
from ..pruning import nm_mask as _nm_mask
from ..pruning import nm_masks
from ..train import evaluate
from . import Case, Invalid, exercise, run_check, summarize


def _distinct(rows: int, cols: int, seed: int) -> torch.Tensor:
    """A (rows, cols) float tensor with distinct magnitudes and mixed signs (no ties to break)."""
    g = torch.Generator().manual_seed(seed)
    magnitudes = (torch.randperm(rows * cols, generator=g).float() + 1) / 10
    signs = torch.where(torch.rand(rows * cols, generator=g) < 0.5, -1.0, 1.0)
    return (magnitudes * signs).view(rows, cols)


@exercise("3.1", mirrors=[_nm_mask, nm_masks])
def nm_mask(fn):
    """Exercise 3.1: keep the n largest |w| in every group of m consecutive weights of each row."""
    cases = [
        Case("2:4 on one row of 8", (torch.tensor([[0.1, -0.9, 0.3, 0.2, -0.5, 0.05, 0.6, -0.7]]), 2, 4)),
        Case("negative weights count by magnitude", (torch.tensor([[-3.0, 1.0, -2.0, 0.5]]), 2, 4)),
        Case("2:4 on a 4x16 matrix", (_distinct(4, 16, 0), 2, 4)),
        Case("1:4 on a 3x8 matrix", (_distinct(3, 8, 1), 1, 4)),
        Case("4:8 on a 2x16 matrix", (_distinct(2, 16, 2), 4, 8)),
        Case("1:2 on a 5x6 matrix", (_distinct(5, 6, 3), 1, 2)),
        Case("4:4 keeps everything", (_distinct(2, 8, 4), 4, 4)),
    ]
    return run_check("3.1", fn, _nm_mask, cases)


def _pack_2bit(positions: torch.Tensor) -> torch.Tensor:
    return pack_bits(positions, 2)


@exercise("3.2", mirrors=[pack_bits])
def pack_2bit(fn):
    """Exercise 3.2: pack positions 0..3 into bytes, four per byte, the first in the lowest two bits."""
    g = torch.Generator().manual_seed(0)
    cases = [
        Case("positions 0, 1, 2, 3", (torch.tensor([0, 1, 2, 3]),)),
        Case("only the first position set", (torch.tensor([3, 0, 0, 0]),)),
        Case("only the last position set", (torch.tensor([0, 0, 0, 3]),)),
        Case("two bytes: the 2:4 groups [0, 2] and [1, 3], then [0, 1] and [2, 3]",
             (torch.tensor([0, 2, 1, 3, 0, 1, 2, 3]),)),
        Case("64 random positions", (torch.randint(0, 4, (64,), generator=g),)),
    ]
    return run_check("3.2", fn, _pack_2bit, cases)


def _nm_bytes(numel: int, n: int, m: int, bytes_per_value: int) -> int:
    return sum(nm_storage_bytes(numel, n, m, bytes_per_value))


@exercise("3.3", mirrors=[nm_storage_bytes])
def nm_bytes(fn):
    """Exercise 3.3: bytes of N:M storage, kept values plus ceil(log2 m)-bit positions, packed."""
    cases = [
        Case("fp16 2:4, 4096 weights", (4096, 2, 4, 2)),
        Case("fp32 2:4, 4096 weights", (4096, 2, 4, 4)),
        Case("fp16 1:4, 1024 weights", (1024, 1, 4, 2)),
        Case("fp16 2:8, 1024 weights (3-bit positions)", (1024, 2, 8, 2)),
        Case("fp16 4:8, 800 weights", (800, 4, 8, 2)),
        Case("fp32 1:2, 64 weights (1-bit positions)", (64, 1, 2, 4)),
        Case("int8-sized values 2:4, 12 weights (metadata rounds up to whole bytes)", (12, 2, 4, 1)),
    ]
    return run_check("3.3", fn, _nm_bytes, cases)


# --- Exercise 3.4 (design): which layers go 2:4 for a storage budget? -------------------------------

ACCURACY_TOLERANCE = 0.01  # one point of validation accuracy (about 3 of the 270 validation images)


def storage_fraction(model: torch.nn.Module, layers) -> float:
    """fp16 bytes of ``model``'s Conv2d/Linear weights with ``layers`` stored 2:4 (values + 2-bit
    positions) and the rest dense, over the all-dense fp16 bytes."""
    weights = prunable_weights(model)
    dense_bytes = sum(2 * w.numel() for w in weights.values())
    stored = sum(sum(nm_storage_bytes(w.numel(), 2, 4, 2)) if name in layers else 2 * w.numel()
                 for name, w in weights.items())
    return stored / dense_bytes


def one_shot_24(model: torch.nn.Module, layers) -> torch.nn.Module:
    """A copy of ``model`` with each weight in ``layers`` pruned 2:4 (one-shot); the others stay dense."""
    weights = prunable_weights(model)
    return apply_masks(copy.deepcopy(model), {name: _nm_mask(weights[name], 2, 4) for name in layers})


def best_24_layers(model: torch.nn.Module, val_loader, budget: float, accuracy_of=None) -> list[str]:
    """The reference choice: of every subset of the layers 2:4 fits whose storage is within ``budget``,
    the one with the highest validation accuracy (ties: fewer layers, then the earlier subset).
    ``accuracy_of(layers)`` may supply (cached) validation accuracies of ``one_shot_24`` copies."""
    accuracy_of = accuracy_of or (lambda layers: evaluate(one_shot_24(model, layers), val_loader))
    eligible = list(nm_masks(model, 2, 4))
    best, best_accuracy = None, -1.0
    for size in range(len(eligible) + 1):
        for layers in itertools.combinations(eligible, size):
            if storage_fraction(model, layers) <= budget:
                accuracy = accuracy_of(layers)
                if accuracy > best_accuracy:
                    best, best_accuracy = list(layers), accuracy
    if best is None:
        raise ValueError(f"no set of 2:4 layers fits budget={budget!r} of the dense fp16 bytes")
    return best


@dataclass(frozen=True)
class _Choice:
    """What a valid choice of 2:4 layers achieves: its storage fraction and validation accuracy."""

    layers: tuple
    storage: float
    accuracy: float

    def __repr__(self):
        return (f"layers {list(self.layers)}: storage {self.storage:.1%} of dense fp16, validation accuracy "
                f"{self.accuracy:.2%}")


@dataclass(frozen=True)
class _Bar:
    """What a choice must reach: the budget, and one point below the best choice that fits it."""

    budget: float
    accuracy: float

    def __repr__(self):
        return (f"storage at most {self.budget:.0%} of dense fp16 and validation accuracy at least "
                f"{self.accuracy:.2%} (one point below the best choice that fits)")


def _outcome(model, layers, accuracy_of) -> "_Choice | Invalid":
    if not isinstance(layers, (list, tuple, set)) or not all(isinstance(n, str) for n in layers):
        return Invalid(f"expected a list of parameter names, got {summarize(layers)}")
    eligible = nm_masks(model, 2, 4)
    wrong = [n for n in layers if n not in eligible]
    if wrong:
        return Invalid(f"{wrong[0]!r} cannot be stored 2:4 (the layers that can: {list(eligible)})")
    return _Choice(tuple(sorted(layers)), storage_fraction(model, layers), accuracy_of(layers))


def _reaches(got: _Choice, expected: _Bar) -> bool:
    return got.storage <= expected.budget and got.accuracy >= expected.accuracy - 1e-12


@exercise("3.4", mirrors=[best_24_layers])
def choose_24_layers(fn):
    """Exercise 3.4: a set of 2:4 layers whose fp16 storage fits the budget, with validation accuracy
    within one point of the best set that fits (measured, one-shot, on the validation split)."""
    model = load_pretrained("convnet")
    val_loader = digits_loaders().validation
    cache = {}

    def accuracy_of(layers) -> float:  # each subset is evaluated once per check
        key = frozenset(layers)
        if key not in cache:
            cache[key] = evaluate(one_shot_24(model, key), val_loader)
        return cache[key]

    def measured(m, loader, budget):
        return _outcome(model, fn(m, loader, budget), accuracy_of)

    def bar(m, loader, budget):
        best = best_24_layers(model, val_loader, budget, accuracy_of)
        return _Bar(budget, accuracy_of(best) - ACCURACY_TOLERANCE)

    cases = [Case(f"ConvNet, storage at most {b:.0%} of dense fp16", (model, val_loader, b))
             for b in (0.75, 0.6)]
    return run_check("3.4", measured, bar, cases, compare=_reaches)
