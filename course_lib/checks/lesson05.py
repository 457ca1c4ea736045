"""Checks for lesson 05's exercises (prune and fine-tune): two formulas and a schedule design."""

from dataclasses import dataclass

import torch

from ..data import digits_loaders
from ..models import load_pretrained
from ..recipes import agp_sparsity as _agp_sparsity
from ..recipes import agp_steps, iterative_prune
from ..recipes import geometric_sparsities as _geometric_sparsities
from ..train import evaluate, seed_everything
from . import Case, Invalid, exercise, run_check, summarize


@exercise("5.1", mirrors=[_agp_sparsity, agp_steps])
def agp_sparsity(fn):
    """Exercise 5.1: the AGP schedule s_t = s_f + (s_i - s_f)(1 - (t - t0)/(n dt))^3, held at its ends."""
    cases = [
        Case("at the start step", (100, 0.0, 0.9, 100, 1100)),
        Case("a quarter of the way", (350, 0.0, 0.9, 100, 1100)),
        Case("half way, non-zero initial sparsity", (600, 0.2, 0.8, 100, 1100)),
        Case("before the start: hold the initial sparsity", (3, 0.1, 0.9, 10, 20)),
        Case("at the end step", (20, 0.1, 0.9, 10, 20)),
        Case("after the end: hold the final sparsity", (1000, 0.1, 0.9, 10, 20)),
        Case("initial equal to final", (15, 0.5, 0.5, 10, 20)),
    ]
    return run_check("5.1", fn, _agp_sparsity, cases)


def _rounds_compare(got, expected) -> bool:
    return (
        isinstance(got, (list, tuple))
        and len(got) == len(expected)
        and torch.allclose(torch.tensor([float(g) for g in got]), torch.tensor(expected), atol=1e-6)
    )


@exercise("5.2", mirrors=[_geometric_sparsities])
def iterative_sparsities(fn):
    """Exercise 5.2: sparsity after each of ``rounds`` rounds that each prune the same fraction of the
    weights still alive, ending at ``final``."""
    cases = [
        Case("90% in 3 rounds", (0.9, 3)),
        Case("one round is one-shot", (0.75, 1)),
        Case("99% in 2 rounds", (0.99, 2)),
        Case("80% in 5 rounds", (0.8, 5)),
        Case("no pruning at all", (0.0, 4)),
    ]
    return run_check("5.2", fn, _geometric_sparsities, cases, compare=_rounds_compare)


# --- Exercise 5.3: design a schedule for a tight budget ----------------------------------------------

DESIGN_FINAL, DESIGN_EPOCHS = 0.95, 4  # remove 95% of the weights in four epochs of masked training
DESIGN_TARGET = 0.925  # mean validation accuracy over DESIGN_SEEDS a design must reach
DESIGN_SEEDS = (0, 1)  # shifted by COURSE_SEED_OFFSET, like every seed in the kit
DESIGN_LR = 1e-3  # the race's learning rate


def schedule_validation_accuracy(schedule, seed: int) -> float:
    """Validation accuracy of the trained ConvNet after ``len(schedule)`` epochs of masked training,
    pruned by global magnitude to ``schedule[e]`` at the start of epoch ``e`` (one epoch per round of
    ``recipes.iterative_prune``), with the training shuffle of ``seed``."""
    seed_everything(seed)
    model = load_pretrained("convnet")
    iterative_prune(model, digits_loaders(seed=seed).train, list(schedule), 1, lr=DESIGN_LR, progress=False)
    return evaluate(model, digits_loaders().validation)


@dataclass(frozen=True)
class _Design:
    """A valid schedule and what it achieves: validation accuracy per seed."""

    schedule: tuple
    accuracies: tuple

    @property
    def accuracy(self) -> float:
        return sum(self.accuracies) / len(self.accuracies)

    def __repr__(self):
        per_seed = ", ".join(f"{a:.1%}" for a in self.accuracies)
        return (f"schedule {[round(s, 3) for s in self.schedule]}: mean validation accuracy "
                f"{self.accuracy:.1%} (seeds {list(DESIGN_SEEDS)}: {per_seed})")


@dataclass(frozen=True)
class _Target:
    final: float
    epochs: int

    def __repr__(self):
        return (f"{self.epochs} non-decreasing sparsities ending at {self.final:.0%} whose ConvNet reaches "
                f"a mean validation accuracy of at least {DESIGN_TARGET:.1%}")


def _problem(schedule, final: float, epochs: int) -> str:
    """Why ``schedule`` is not a valid design for ``final`` in ``epochs`` epochs ('' when it is)."""
    if not isinstance(schedule, (list, tuple)) or not all(isinstance(s, (int, float)) for s in schedule):
        return f"expected a list of sparsities, got {summarize(schedule)}"
    if len(schedule) != epochs:
        return f"{len(schedule)} sparsities for {epochs} epochs: give one per epoch"
    if not all(0 <= s < 1 for s in schedule):
        return f"every sparsity must be in [0, 1), got {list(schedule)}"
    falls = [e for e in range(1, epochs) if schedule[e] < schedule[e - 1]]
    if falls:
        e = falls[0]
        return (f"the sparsity falls from {schedule[e - 1]!r} (epoch {e}) to {schedule[e]!r} "
                f"(epoch {e + 1}), but a held mask cannot grow back: each entry must be at least the one "
                "before")
    if abs(schedule[-1] - final) > 1e-9:
        return f"the last epoch must run at the final sparsity {final:.0%}, got {schedule[-1]!r}"
    return ""


def _measure_design(schedule, final: float, epochs: int) -> "_Design | Invalid":
    problem = _problem(schedule, final, epochs)
    if problem:
        return Invalid(problem)
    accuracies = tuple(schedule_validation_accuracy(schedule, seed) for seed in DESIGN_SEEDS)
    return _Design(tuple(schedule), accuracies)


def _reaches_target(got: _Design, expected: _Target) -> bool:
    return got.accuracy >= DESIGN_TARGET


@exercise("5.3")
def design_schedule(fn):
    """Exercise 5.3: ``fn(final, epochs)`` is a list of ``epochs`` sparsities (one per epoch of masked
    training, non-decreasing, the last equal to ``final``). For 95% in four epochs the trained ConvNet
    must reach a mean validation accuracy of ``DESIGN_TARGET`` over ``DESIGN_SEEDS``; the check trains
    it (about 1.5 s) and reports what the design achieved."""
    cases = [Case(f"{DESIGN_FINAL:.0%} sparsity in {DESIGN_EPOCHS} epochs", (DESIGN_FINAL, DESIGN_EPOCHS))]
    return run_check("5.3", lambda final, epochs: _measure_design(fn(final, epochs), final, epochs),
                     _Target, cases, compare=_reaches_target)
