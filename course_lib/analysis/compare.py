"""Is model A really better than model B? A paired comparison on the same examples.

Both models answer the same examples, so the noise that matters is in the *difference* per example,
not in each model's score on its own. One core does every comparison of the kit,
:func:`paired_difference`: for per-example values a_i and b_i (correct or not, a loss, a window's
loss in nats per character) the difference is mean(a - b), and its 95% interval comes from the paired
bootstrap: resample the examples with replacement (the same indices for A and B), recompute the mean
difference, take the 2.5% and 97.5% quantiles. Whether higher or lower is better is said explicitly,
so "A beats B" always means A is the better one: only when the interval excludes zero on A's side;
otherwise the verdict is "within noise".

Two thin wrappers:

- :func:`compare_predictions` / :func:`compare_classifiers`: two classifiers, accuracy (higher is
  better) and mean cross-entropy (lower is better, it moves before accuracy does), plus McNemar's
  exact test on the discordant examples (A right / B wrong: ``a_only``; A wrong / B right:
  ``b_only``): under "no difference" each is a fair coin, so the two-sided p-value is the binomial
  test of ``a_only`` successes in ``a_only + b_only`` trials with p = 1/2;
- :func:`compare_losses`: two language models' per-window losses (lower is better).

    result = compare_classifiers(model_a, model_b, test_loader)
    result = compare_losses(window_losses(a, text), window_losses(b, text))
"""

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import RandomSampler

from ..core.modules import eval_mode
from ..core.seeds import shifted
from ..core.validation import check_choice, check_positive_int

CONFIDENCE = 0.95


MIN_BOOT = 100  # fewer resamples cannot place a 2.5% quantile with any meaning


_BOOT_CHUNK_ELEMENTS = 1 << 24  # indices drawn per tensor op (128 MiB of int64); one op up to n_boot * n


BETTER = ("higher", "lower")


@dataclass(frozen=True)
class PairedDifference:
    """A - B over the same ``n`` examples: the means, their difference and its paired-bootstrap
    interval, and which direction is better (``"higher"`` or ``"lower"``)."""

    n: int
    mean_a: float
    mean_b: float
    difference: float
    interval: tuple[float, float]
    better: str
    confidence: float = CONFIDENCE
    n_boot: int = 2000

    @property
    def verdict(self) -> str:
        """"A beats B" or "B beats A" when the interval excludes zero, otherwise "within noise"."""
        low, high = self.interval
        a_side = low > 0 if self.better == "higher" else high < 0
        b_side = high < 0 if self.better == "higher" else low > 0
        return "A beats B" if a_side else "B beats A" if b_side else "within noise"

    def __str__(self) -> str:
        low, high = self.interval
        return (f"A {self.mean_a:.4f} vs B {self.mean_b:.4f} on {self.n} examples ({self.better} is better): "
                f"A - B = {self.difference:+.4f}, {self.confidence:.0%} interval [{low:+.4f}, {high:+.4f}] "
                f"-> {self.verdict}")


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of two classifiers on the same ``n`` examples.

    Accuracies and their difference are fractions in [0, 1] (multiply by 100 for points); losses are
    mean cross-entropy in nats (``None`` when no per-example losses were given). Differences are
    A minus B: a positive accuracy difference and a negative loss difference favour A. The verdict is
    the accuracy's.
    """

    accuracy: PairedDifference
    a_only: int  # examples A gets right and B gets wrong
    b_only: int  # examples B gets right and A gets wrong
    p_value: float  # McNemar's exact two-sided test
    loss: PairedDifference | None = None

    n = property(lambda self: self.accuracy.n)
    accuracy_a = property(lambda self: self.accuracy.mean_a)
    accuracy_b = property(lambda self: self.accuracy.mean_b)
    difference = property(lambda self: self.accuracy.difference)
    interval = property(lambda self: self.accuracy.interval)
    confidence = property(lambda self: self.accuracy.confidence)
    verdict = property(lambda self: self.accuracy.verdict)
    loss_interval = property(lambda self: None if self.loss is None else self.loss.interval)

    def __str__(self) -> str:
        low, high = self.interval
        text = (
            f"accuracy A {self.accuracy_a:.2%} vs B {self.accuracy_b:.2%} on {self.n} examples: "
            f"A - B = {100 * self.difference:+.2f} points, {self.confidence:.0%} interval "
            f"[{100 * low:+.2f}, {100 * high:+.2f}], McNemar p = {self.p_value:.3g} "
            f"({self.a_only} vs {self.b_only} discordant)"
        )
        if self.loss is not None:
            low, high = self.loss.interval
            text += f"; loss A - B = {self.loss.difference:+.4f} nats [{low:+.4f}, {high:+.4f}]"
        return f"{text} -> {self.verdict}"


@torch.no_grad()
def per_example(model: nn.Module, loader) -> tuple[torch.Tensor, torch.Tensor]:
    """(correct, loss) of ``model`` on every example of ``loader``, in the loader's order.

    ``correct`` is a bool tensor (N,), ``loss`` the per-example cross-entropy in nats, float (N,).
    The loader must not shuffle, so that two models are scored on the examples in the same order.
    Restores the model's train/eval mode.
    """
    correct, losses = [], []
    with eval_mode(model):
        for x, y in loader:
            logits = model(x)  # (B, classes)
            correct.append(logits.argmax(dim=1) == y)
            losses.append(F.cross_entropy(logits.float(), y, reduction="none"))
    if not correct:
        raise ValueError("loader must yield at least one batch, got an empty loader")
    return torch.cat(correct), torch.cat(losses)


def _as_vector(name: str, values) -> torch.Tensor:
    tensor = torch.as_tensor(values)
    if tensor.dim() != 1:
        raise ValueError(
            f"{name} must be a 1-D vector (one entry per example), got shape {tuple(tensor.shape)}"
        )
    if tensor.numel() == 0:
        raise ValueError(f"{name} must hold at least one example, got an empty vector")
    return tensor


def _as_correctness(name: str, values) -> torch.Tensor:
    tensor = _as_vector(name, values)
    if tensor.dtype != torch.bool:
        if tensor.is_complex() or not ((tensor == 0) | (tensor == 1)).all():
            bad = tensor[(tensor != 0) & (tensor != 1)][0].item()
            raise ValueError(f"{name} must hold only 0/1 or True/False per example, got the value {bad!r}")
    return tensor.to(torch.float64)


def _as_values(name: str, values) -> torch.Tensor:
    tensor = _as_vector(name, values).to(torch.float64)
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} must be finite per-example values, got a NaN or infinite entry")
    return tensor


def _bootstrap_means(columns: torch.Tensor, n_boot: int, generator: torch.Generator) -> torch.Tensor:
    """Means of ``columns`` (n, k) over ``n_boot`` paired resamples of its rows: (n_boot, k).

    Every resample uses the same row indices for all k columns, which is what makes it paired."""
    n = columns.shape[0]
    rows_per_op = max(1, _BOOT_CHUNK_ELEMENTS // n)
    means = []
    for start in range(0, n_boot, rows_per_op):  # one op unless n_boot * n exceeds the chunk
        size = min(rows_per_op, n_boot - start)
        index = torch.randint(n, (size, n), generator=generator)  # (size, n) resampled example ids
        means.append(columns[index].mean(dim=1))  # (size, n, k) -> (size, k)
    return torch.cat(means)


def _paired_differences(pairs: list, better: list[str], n_boot: int, seed: int) -> list[PairedDifference]:
    """The core: one bootstrap over k paired columns at once (the same resampled examples for all),
    ``pairs`` = [(a, b), ...] of float64 vectors of equal length, ``better`` one direction each."""
    check_positive_int("n_boot", n_boot)
    if n_boot < MIN_BOOT:
        raise ValueError(f"n_boot must be at least {MIN_BOOT} resamples for a {CONFIDENCE:.0%} interval, "
                         f"got {n_boot}")
    for direction in better:
        check_choice("better", direction, BETTER)
    columns = torch.stack([a - b for a, b in pairs], dim=1)  # (n, k)
    generator = torch.Generator().manual_seed(shifted(seed))
    means = _bootstrap_means(columns, n_boot, generator)  # (n_boot, k)
    alpha = (1 - CONFIDENCE) / 2
    bounds = torch.quantile(means, torch.tensor([alpha, 1 - alpha], dtype=means.dtype), dim=0)  # (2, k)
    return [PairedDifference(len(a), float(a.mean()), float(b.mean()), float(columns[:, i].mean()),
                             (float(bounds[0, i]), float(bounds[1, i])), direction, CONFIDENCE, n_boot)
            for i, ((a, b), direction) in enumerate(zip(pairs, better))]


def paired_difference(a, b, better: str, n_boot: int = 2000, seed: int = 0) -> PairedDifference:
    """A - B for per-example values ``a`` and ``b`` (the same examples, in the same order), with a
    paired-bootstrap interval; ``better`` is ``"higher"`` or ``"lower"``. ``n_boot`` resamples
    (>= 100) drawn from a generator seeded with ``seed``, moved by the course-wide seed offset."""
    a, b = _as_values("a", a), _as_values("b", b)
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"a and b must hold the same examples (at least 2), got lengths {len(a)} and "
                         f"{len(b)}")
    return _paired_differences([(a, b)], [better], n_boot, seed)[0]


def mcnemar_p_value(a_only: int, b_only: int) -> float:
    """McNemar's exact two-sided p-value: a binomial test of ``a_only`` in ``a_only + b_only`` at 1/2."""
    for name, value in (("a_only", a_only), ("b_only", b_only)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a count (an integer >= 0), got {value!r}")
    if a_only + b_only == 0:
        return 1.0  # no discordant example: no evidence either way
    from scipy.stats import binomtest  # here, not at the top: scipy.stats takes a second to import

    return float(binomtest(a_only, a_only + b_only, 0.5, alternative="two-sided").pvalue)


def compare_predictions(
    correct_a, correct_b, loss_a=None, loss_b=None, n_boot: int = 2000, seed: int = 0
) -> Comparison:
    """Compare two classifiers from their per-example results on the same examples, in the same order.

    ``correct_a`` / ``correct_b``: bool or 0/1 vectors of length n. ``loss_a`` / ``loss_b``: optional
    per-example losses (both or neither). One paired bootstrap for accuracy (higher is better) and loss
    (lower is better) together; ``n_boot`` and ``seed`` as in :func:`paired_difference`.
    """
    a = _as_correctness("correct_a", correct_a)
    b = _as_correctness("correct_b", correct_b)
    if len(a) != len(b):
        raise ValueError(
            f"correct_a and correct_b must score the same examples, got lengths {len(a)} and {len(b)}"
        )
    if (loss_a is None) != (loss_b is None):
        raise ValueError("loss_a and loss_b must be given together (or both left out)")
    pairs, better = [(a, b)], ["higher"]
    if loss_a is not None:
        la, lb = _as_values("loss_a", loss_a), _as_values("loss_b", loss_b)
        if not len(la) == len(lb) == len(a):
            raise ValueError(
                f"loss_a and loss_b must have one entry per example ({len(a)}), "
                f"got lengths {len(la)} and {len(lb)}"
            )
        pairs.append((la, lb))
        better.append("lower")
    differences = _paired_differences(pairs, better, n_boot, seed)
    a_only = int(((a == 1) & (b == 0)).sum())
    b_only = int(((a == 0) & (b == 1)).sum())
    return Comparison(differences[0], a_only, b_only, mcnemar_p_value(a_only, b_only),
                      differences[1] if loss_a is not None else None)


def compare_losses(losses_a, losses_b, n_boot: int = 2000, seed: int = 0) -> PairedDifference:
    """Two models' per-window (or per-example) losses on the same windows: A - B with its paired
    interval; lower is better, so "A beats B" means A's loss is lower."""
    return paired_difference(losses_a, losses_b, "lower", n_boot, seed)


def compare_classifiers(
    model_a: nn.Module, model_b: nn.Module, loader, n_boot: int = 2000, seed: int = 0
) -> Comparison:
    """Score both models on every example of ``loader`` (which must not shuffle) and compare them:
    accuracy and loss differences with paired-bootstrap intervals, McNemar's p-value, a verdict."""
    if isinstance(getattr(loader, "sampler", None), RandomSampler):
        raise ValueError(
            "loader must visit the examples in a fixed order (shuffle=False): a paired comparison "
            "scores both models on the same examples in the same order, got a shuffling loader"
        )
    correct_a, loss_a = per_example(model_a, loader)
    correct_b, loss_b = per_example(model_b, loader)
    return compare_predictions(correct_a, correct_b, loss_a, loss_b, n_boot=n_boot, seed=seed)
