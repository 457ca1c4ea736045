"""Pruning while training: the AGP schedule, gradual pruning, and iterative prune -> retrain.

Three ways to spend the same training budget on a pruned model:

- one-shot: prune to the final sparsity once, then fine-tune with the mask held fixed;
- iterative (Han et al. 2015): prune a little, retrain, prune more, retrain, ... over a list of
  sparsities; with ``rewind_state`` the survivors are reset to saved weights before each retraining:
  the lottery-ticket experiment. Frankle & Carbin 2019 rewind to the initialisation (iterative
  magnitude pruning, IMP); rewinding to an early iteration instead is from Frankle et al. 2019
  ("Stabilizing the Lottery Ticket Hypothesis") and ICML 2020 ("Linear Mode Connectivity and the
  Lottery Ticket Hypothesis"). One sparsity with ``rewind_state`` is a one-shot ticket, not IMP;
- gradual (Zhu & Gupta 2017): raise the sparsity during training on the cubic AGP schedule
  s_t = s_f + (s_i - s_f) (1 - (t - t0) / (n dt))^3, re-ranking the weights every ``every`` steps.

All of them prune by global magnitude (``pruning.global_magnitude_masks``) over the Conv2d/Linear
weights and keep pruned weights at exactly zero after every optimizer step (``apply_masks``).
"""

from dataclasses import dataclass, field

import torch
from torch import nn

from ..core.modules import apply_masks
from ..core.validation import check_fraction, check_int_in_range, check_positive_int, check_positive_number
from ..pruning.magnitude import global_magnitude_masks, masks_sparsity
from ..train import fine_tune, train


def agp_sparsity(
    step: int, initial: float, final: float, start: int, end: int, exponent: float = 3.0
) -> float:
    """Sparsity at training step ``step`` on the AGP schedule of Zhu & Gupta 2017.

    s_t = s_f + (s_i - s_f) * (1 - (t - start) / (end - start)) ** exponent for start <= t <= end;
    ``initial`` before ``start`` and ``final`` after ``end``. With ``exponent`` 3 (the paper's) the
    sparsity rises fast at first, while the network has many redundant weights, then levels off.
    ``exponent`` 1 is a linear ramp.
    """
    step = check_int_in_range("step", step, 0)
    start, end = check_int_in_range("start", start, 0), check_int_in_range("end", end, 0)
    initial, final = check_fraction("initial", initial), check_fraction("final", final)
    if end <= start:
        raise ValueError(f"end must be > start, got start={start!r}, end={end!r}")
    if final < initial:
        raise ValueError(f"final must be >= initial, got initial={initial!r}, final={final!r}")
    check_positive_number("exponent", exponent)
    if step <= start:
        return initial
    if step >= end:
        return final
    return final + (initial - final) * (1.0 - (step - start) / (end - start)) ** exponent


class GradualPruner:
    """An ``after_step`` callback for ``train.train`` that prunes on the AGP schedule.

    Step t counts optimizer steps (1, 2, ...). At t = start, start + every, ... and at t = end, the
    masks are recomputed by global magnitude at ``agp_sparsity(t, ...)``; after every step the current
    masks are applied, so pruned weights stay exactly zero. Pruned weights are zero, hence the
    smallest, so each new mask contains the previous one: sparsity only rises.

    ``masks`` holds the current masks (name -> bool tensor of the weight's shape, None before the
    first pruning step); ``history`` the (step, sparsity) pairs at which masks were recomputed.
    """

    def __init__(
        self, final: float, start: int, end: int, initial: float = 0.0, every: int = 1,
        exponent: float = 3.0,
    ):
        agp_sparsity(start, initial, final, start, end, exponent)  # validates the schedule
        self.schedule = dict(initial=initial, final=final, start=start, end=end, exponent=exponent)
        self.every = check_positive_int("every", every)
        self.step = 0
        self.masks: dict[str, torch.Tensor] | None = None
        self.history: list[tuple[int, float]] = []

    def sparsity_at(self, step: int) -> float:
        return agp_sparsity(step, **self.schedule)

    def __call__(self, model: nn.Module) -> None:
        self.step += 1
        start, end = self.schedule["start"], self.schedule["end"]
        if start <= self.step <= end and ((self.step - start) % self.every == 0 or self.step == end):
            sparsity = self.sparsity_at(self.step)
            self.masks = global_magnitude_masks(model, sparsity)
            self.history.append((self.step, sparsity))
        if self.masks is not None:
            apply_masks(model, self.masks)


@dataclass
class PruningRun:
    """What a pruning run did, one entry per training epoch (lists of equal length).

    ``sparsity``: the global sparsity of the Conv2d/Linear weights at the end of the epoch;
    ``accuracy``: the test accuracy then (empty when no ``eval_loader`` was given);
    ``loss``: the mean training loss over the epoch; ``masks``: the final masks.
    """

    sparsity: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    masks: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def epochs(self) -> int:
        return len(self.loss)


def _check_sparsities(sparsities) -> list[float]:
    values = [check_fraction("sparsities[]", s) for s in sparsities]
    if not values or any(b < a for a, b in zip(values, values[1:])):
        raise ValueError(f"sparsities must be a non-empty, non-decreasing list, got {sparsities!r}")
    return values


def iterative_prune(
    model: nn.Module,
    loader,
    sparsities,
    epochs_per_round: int,
    lr: float = 3e-4,
    rewind_state: dict | None = None,
    eval_loader=None,
    progress: bool = True,
) -> PruningRun:
    """Prune ``model`` in place by global magnitude to each of ``sparsities`` in turn, retraining
    ``epochs_per_round`` epochs with the masks held after each cut (Han et al. 2015).

    One sparsity is one-shot pruning followed by fine-tuning. With ``rewind_state`` (the initial
    state_dict, or one saved early in training, e.g. after the first epoch) every round resets the
    surviving weights, and BatchNorm, to that state before retraining: the lottery-ticket experiment
    (several sparsities and the initial state: Frankle & Carbin's IMP; one sparsity: a one-shot ticket).
    Masks are always ranked on the weights as trained, before any rewinding.
    """
    sparsities = _check_sparsities(sparsities)
    check_positive_int("epochs_per_round", epochs_per_round)
    run = PruningRun()
    for sparsity in sparsities:
        masks = global_magnitude_masks(model, sparsity)
        if rewind_state is not None:
            model.load_state_dict(rewind_state)
        history = fine_tune(
            model, loader, epochs=epochs_per_round, lr=lr, masks=masks,
            eval_loader=eval_loader, progress=progress,
        )
        run.loss += history["loss"]
        run.accuracy += history["accuracy"]
        run.sparsity += [masks_sparsity(masks)] * epochs_per_round
        run.masks = masks
    return run


def gradual_prune(
    model: nn.Module,
    loader,
    final: float,
    epochs: int,
    ramp_epochs: int | None = None,
    start_epoch: int = 0,
    lr: float = 3e-4,
    every: int = 1,
    exponent: float = 3.0,
    eval_loader=None,
    progress: bool = True,
) -> PruningRun:
    """Train ``model`` in place for ``epochs`` epochs while AGP raises its sparsity from 0 to ``final``.

    The first ``start_epoch`` epochs train dense (useful from scratch, when magnitudes mean nothing
    yet); the ramp then runs over ``ramp_epochs`` epochs (default: two thirds of the rest, at least
    one); the remaining epochs train at ``final`` with the masks held. Masks are recomputed every
    ``every`` steps.
    """
    check_positive_int("epochs", epochs)
    check_int_in_range("start_epoch", start_epoch, 0)
    if start_epoch >= epochs:
        raise ValueError(f"start_epoch must be < epochs={epochs}, got {start_epoch!r}")
    if ramp_epochs is None:
        ramp_epochs = max(1, (2 * (epochs - start_epoch)) // 3)
    check_positive_int("ramp_epochs", ramp_epochs)
    if start_epoch + ramp_epochs > epochs:
        raise ValueError(
            f"start_epoch + ramp_epochs must be <= epochs={epochs}, got {start_epoch} + {ramp_epochs}"
        )
    steps_per_epoch = len(loader)
    start = start_epoch * steps_per_epoch + 1
    end = max(start + 1, (start_epoch + ramp_epochs) * steps_per_epoch)
    pruner = GradualPruner(final, start=start, end=end, every=every, exponent=exponent)
    run = PruningRun()

    def after_step(m: nn.Module) -> None:
        pruner(m)
        if pruner.step % steps_per_epoch == 0:  # the last step of an epoch
            run.sparsity.append(0.0 if pruner.masks is None else masks_sparsity(pruner.masks))

    history = train(
        model, loader, epochs, lr=lr, after_step=after_step, eval_loader=eval_loader,
        progress=progress, desc="gradual pruning",
    )
    run.loss, run.accuracy, run.masks = history["loss"], history["accuracy"], pruner.masks or {}
    return run


def geometric_sparsities(final: float, rounds: int) -> list[float]:
    """Sparsities for ``rounds`` rounds of iterative pruning that each remove the same fraction of the
    weights still alive, ending at ``final`` (as in the lottery-ticket experiments).

    After round r the kept fraction is (1 - final) ** (r / rounds): e.g. 90% in 3 rounds keeps
    46%, 22%, 10%, so the sparsities are 0.536, 0.785, 0.9.
    """
    final = check_fraction("final", final)
    check_positive_int("rounds", rounds)
    return [1.0 - (1.0 - final) ** (r / rounds) for r in range(1, rounds + 1)]


def agp_steps(initial: float, final: float, steps: int, exponent: float = 3.0) -> list[float]:
    """The AGP schedule sampled at steps 0..``steps`` (``steps`` + 1 values), for plotting."""
    check_positive_int("steps", steps)
    return [agp_sparsity(t, initial, final, 0, steps, exponent) for t in range(steps + 1)]
