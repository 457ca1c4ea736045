"""Automated, hardware-aware channel pruning: search per-layer ratios under a budget.

A uniform ratio treats every layer alike. An automated search (AMC, He et al. 2018; MetaPruning,
Liu et al. 2019; NetAdapt, Yang et al. 2018) instead tries many per-layer ratio settings and keeps
the one that scores best while meeting a budget. Its three parts are small here:

* a **cost model** that says, without building the model, what a setting costs: exact MACs
  (``ChannelCostModel.macs``) or CPU latency predicted from a **per-layer latency lookup table**
  measured on this machine (``LatencyTable.predict``, NetAdapt's idea);
* a **score**: any ``ratios -> float`` where higher is better, e.g. accuracy on a held-out batch
  of the model pruned by ``structured.prune_channels`` (a quick estimate, no fine-tuning);
* the **search** itself: random settings within the budget, then local moves (one layer one
  step up or down the grid), keeping the best ``population`` found so far (an elitist evolutionary
  search, fixed seed). ``best_within_budget`` is its selection rule.

A *setting* ``ratios`` maps each prunable dependency group (``structured.channel_groups``) to the
fraction of its channels removed; a group keeps ``C - channels.n_pruned(C, ratio)`` channels.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from ..core.modules import eval_mode, hooks_attached
from ..core.seeds import shifted
from ..core.validation import check_fraction, check_positive_int, check_positive_number
from ..structured.graph import channel_groups
from ..structured.surgery import n_pruned
from .latency import measure_latency
from .metrics import count_macs


def check_budget(budget) -> float:
    """Return ``budget`` as a float if it is a finite number > 0 (a cost the search may spend)."""
    return check_positive_number("budget", budget)


@dataclass(frozen=True)
class Layer:
    """A Conv2d/Linear layer as the cost model sees it.

    ``in_group`` / ``out_group`` name the prunable groups whose channels it reads / writes (None when
    fixed); ``repeat`` is the input features per input channel (H*W after a flatten, else 1);
    ``input_shape`` is one example's input without the batch dimension; ``macs`` its dense MACs.
    """

    name: str
    module: nn.Module
    in_group: str | None
    out_group: str | None
    repeat: int
    input_shape: tuple[int, ...]
    macs: int


class ChannelCostModel:
    """What ``structured.prune_channels(model, ratios, example_input)`` would cost, without pruning.

    A Conv2d/Linear layer's MACs are (output elements) x (fan-in), so removing channels scales them
    by (kept outputs / outputs) x (kept inputs / inputs): ``macs(ratios)`` is exact.
    """

    def __init__(self, model: nn.Module, example_input: torch.Tensor):
        groups = channel_groups(model, example_input)
        self.channels = {g.name: g.channels for g in groups if g.prunable}  # group -> C
        writes = {p: g.name for g in groups if g.prunable for p in g.producers}
        reads = {c: (g.name, r) for g in groups if g.prunable for c, r in g.consumers}
        shape = tuple(example_input.shape[1:])
        macs = count_macs(model, shape, per_layer=True)
        inputs = _layer_input_shapes(model, example_input)
        self.layers = [
            Layer(name, module, reads.get(name, (None, 1))[0], writes.get(name),
                  reads.get(name, (None, 1))[1], inputs[name], macs[name])
            for name, module in model.named_modules() if name in macs
        ]  # fmt: skip
        self.dense_macs = sum(macs.values())

    def check_ratios(self, ratios) -> dict[str, float]:
        """``ratios`` as {group: ratio in [0, 1)}; groups left out keep all their channels."""
        if not isinstance(ratios, dict):
            raise TypeError(f"ratios must be a dict {{group name: ratio}}, got {ratios!r}")
        unknown = set(ratios) - set(self.channels)
        if unknown:
            raise ValueError(
                f"ratios has unknown groups {sorted(unknown)}; allowed: {sorted(self.channels)}"
            )
        return {g: check_fraction(f"ratios[{g!r}]", ratios.get(g, 0.0), allow_one=False)
                for g in self.channels}

    def kept(self, ratios) -> dict[str, int]:
        """Channels each prunable group keeps under ``ratios``."""
        ratios = self.check_ratios(ratios)
        return {g: self.channels[g] - n_pruned(self.channels[g], r) for g, r in ratios.items()}

    def layer_fractions(self, ratios) -> list[tuple[float, float]]:
        """(kept input fraction, kept output fraction) of every layer, in ``self.layers`` order."""
        kept = self.kept(ratios)
        frac = {g: kept[g] / c for g, c in self.channels.items()}
        return [(frac.get(layer.in_group, 1.0), frac.get(layer.out_group, 1.0)) for layer in self.layers]

    def macs(self, ratios) -> int:
        """Exact MACs per example of the model pruned with ``ratios``."""
        fractions = self.layer_fractions(ratios)
        return sum(round(layer.macs * fi * fo) for layer, (fi, fo) in zip(self.layers, fractions))

    def macs_kept(self, ratios) -> float:
        """``macs(ratios)`` over the dense model's MACs."""
        return self.macs(ratios) / self.dense_macs


@torch.no_grad()
def _layer_input_shapes(model: nn.Module, example_input: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """Each Conv2d/Linear layer's input shape for one example (no batch dimension)."""
    shapes = {}
    pre = [(module, lambda m, args, name=name: shapes.__setitem__(name, tuple(args[0].shape[1:])))
           for name, module in model.named_modules() if isinstance(module, (nn.Conv2d, nn.Linear))]
    with hooks_attached(pre=pre), eval_mode(model):
        model(example_input[:1])
    return shapes


def _shrunk_layer(layer: Layer, k_in: int, k_out: int) -> tuple[nn.Module, tuple[int, ...]]:
    """A fresh layer of ``layer``'s kind with ``k_in`` input and ``k_out`` output channels, and the
    shape of one example's input to it."""
    m = layer.module
    if isinstance(m, nn.Conv2d):
        new = nn.Conv2d(k_in, k_out, m.kernel_size, m.stride, m.padding, m.dilation, bias=m.bias is not None)
        return new, (k_in, *layer.input_shape[1:])
    new = nn.Linear(k_in * layer.repeat, k_out, bias=m.bias is not None)
    return new, (k_in * layer.repeat,)


@dataclass
class LatencyTable:
    """Measured CPU latency (ms) of every layer at every channel count a ratio grid can give.

    ``entries[layer name][(kept inputs, kept outputs)]`` is the fastest of ``repeats`` timed runs of
    that layer alone at ``batch_size``. ``predict(ratios)`` sums the layers' entries: the latency
    of the Conv2d/Linear layers (BatchNorm, ReLU, pooling and Python overhead are not included).
    """

    cost_model: ChannelCostModel
    grid: tuple[float, ...]
    batch_size: int
    entries: dict[str, dict[tuple[int, int], float]] = field(default_factory=dict)

    def predict(self, ratios) -> float:
        kept = self.cost_model.kept(ratios)
        total = 0.0
        for layer in self.cost_model.layers:
            key = (self._kept(layer.in_group, layer, kept, "in"),
                   self._kept(layer.out_group, layer, kept, "out"))
            if key not in self.entries[layer.name]:
                raise ValueError(
                    f"ratios {ratios} give layer {layer.name!r} channels {key}, which the table did "
                    f"not measure: use ratios from the grid {self.grid}"
                )
            total += self.entries[layer.name][key]
        return total

    @staticmethod
    def _kept(group, layer: Layer, kept: dict[str, int], side: str) -> int:
        if group is not None:
            return kept[group]
        m = layer.module
        if side == "in":
            return m.in_channels if isinstance(m, nn.Conv2d) else m.in_features // layer.repeat
        return m.out_channels if isinstance(m, nn.Conv2d) else m.out_features


def latency_table(
    model: nn.Module,
    example_input: torch.Tensor,
    grid=(0.0, 0.25, 0.5, 0.75),
    batch_size: int = 64,
    repeats: int = 5,
    progress: bool = True,
) -> LatencyTable:
    """Time every Conv2d/Linear layer of ``model`` alone at every channel count that the ratios in
    ``grid`` can give its input and output groups (``LatencyTable``).

    Each entry is a fresh layer of the shrunk shape timed on random input of shape
    (batch_size, kept inputs, H, W); weights do not change the time of a dense layer.
    """
    grid = tuple(sorted({check_fraction("grid", r, allow_one=False) for r in grid}))
    check_positive_int("batch_size", batch_size)
    cost = ChannelCostModel(model, example_input)
    table = LatencyTable(cost, grid, batch_size)

    def counts(group, layer, side):
        if group is None:
            return [LatencyTable._kept(None, layer, {}, side)]
        return sorted({cost.channels[group] - n_pruned(cost.channels[group], r) for r in grid})

    jobs = [(layer, (ki, ko)) for layer in cost.layers
            for ki in counts(layer.in_group, layer, "in") for ko in counts(layer.out_group, layer, "out")]
    generator = torch.Generator().manual_seed(0)
    for layer, (ki, ko) in tqdm(jobs, desc="latency table", disable=not progress, leave=False):
        module, shape = _shrunk_layer(layer, ki, ko)
        x = torch.randn(batch_size, *shape, generator=generator)
        table.entries.setdefault(layer.name, {})[(ki, ko)] = measure_latency(module, x, 1, repeats).min_ms
    return table


def best_within_budget(scores, costs, budget) -> int:
    """Index of the best candidate whose cost is at most ``budget``.

    Best = highest score; ties go to the lower cost, then the earlier candidate. ``scores`` and
    ``costs`` are equal-length sequences of numbers. Raises ``ValueError`` if no candidate fits.
    """
    budget = check_budget(budget)
    if len(scores) != len(costs):
        raise ValueError(f"scores and costs must have the same length, got {len(scores)} and {len(costs)}")
    feasible = [i for i, c in enumerate(costs) if c <= budget]
    if not feasible:
        cheapest = min(costs, default=None)
        raise ValueError(f"no candidate fits budget={budget}: the cheapest costs {cheapest}")
    return min(feasible, key=lambda i: (-scores[i], costs[i], i))


@dataclass(frozen=True)
class Candidate:
    """One evaluated setting: its ``ratios``, ``score`` (higher is better) and ``cost``."""

    ratios: dict[str, float]
    score: float
    cost: float


@dataclass(frozen=True)
class SearchResult:
    """The best ``Candidate`` within the budget, and every candidate scored, in order."""

    best: Candidate
    history: list[Candidate]
    budget: float


def _key(ratios: dict[str, float]) -> tuple:
    return tuple(sorted(ratios.items()))


def uniform_for_budget(groups, grid, cost_fn: Callable[[dict], float], budget) -> dict[str, float]:
    """The uniform setting (one grid ratio for every group) with the smallest ratio that fits
    ``budget``; raises ``ValueError`` if even the largest grid ratio does not."""
    budget = check_budget(budget)
    for r in sorted(grid):
        ratios = {g: r for g in groups}
        if cost_fn(ratios) <= budget:
            return ratios
    raise ValueError(
        f"budget={budget} is unreachable with a uniform ratio: the largest, {max(grid)}, "
        f"costs {cost_fn({g: max(grid) for g in groups})}"
    )


def evolutionary_search(
    groups,
    grid,
    score_fn: Callable[[dict], float],
    cost_fn: Callable[[dict], float],
    budget,
    population: int = 8,
    generations: int = 4,
    seed: int = 0,
    progress: bool = True,
    initial=(),
) -> SearchResult:
    """Search per-group ratios from ``grid`` that maximise ``score_fn`` with ``cost_fn`` <= ``budget``.

    1. Draw random settings (``seed``) and keep the first ``population`` that fit the budget; costs
       are cheap, scores are not, so only those are scored.
    2. Each generation, every survivor proposes one local move (a random group one grid step up or
       down) that fits the budget and was not scored before; the best ``population`` of survivors
       and children survive (ranked as ``best_within_budget`` ranks).

    ``initial`` settings (e.g. the uniform cut) join the first population, scored before the random
    ones: the search is elitist, so its best then scores at least as well as each of them. A cost
    measured on a machine (a latency table) need not fall as ratios grow; with ``initial`` settings
    that fit, the budget counts as reachable even if the all-``max(grid)`` setting does not fit. ``seed`` is
    moved by the course-wide seed offset (:mod:`course_lib.core.seeds`).

    ``score_fn`` is called once per distinct setting. Costs must fall as ratios grow: if the setting
    with every group at ``max(grid)`` does not fit, the budget is unreachable (``ValueError``).
    """
    budget = check_budget(budget)
    check_positive_int("population", population)
    check_positive_int("generations", generations)
    groups, initial = list(groups), list(initial)
    grid = sorted({check_fraction("grid", r, allow_one=False) for r in grid})
    cheapest = {g: grid[-1] for g in groups}
    if cost_fn(cheapest) > budget and not initial:  # a measured cost need not fall monotonically,
        raise ValueError(
            f"budget={budget} is unreachable: even the largest ratio {grid[-1]} everywhere costs "
            f"{cost_fn(cheapest)}"
        )
    rng = random.Random(shifted(seed))
    seen: dict[tuple, Candidate] = {}
    history: list[Candidate] = []
    bar = tqdm(total=population * (generations + 1), desc="search", disable=not progress, leave=False)

    def evaluate(ratios):
        candidate = Candidate(dict(ratios), float(score_fn(ratios)), float(cost_fn(ratios)))
        seen[_key(ratios)] = candidate
        history.append(candidate)
        bar.update()
        return candidate

    def feasible_unseen(ratios):
        return _key(ratios) not in seen and cost_fn(ratios) <= budget

    survivors = []
    for ratios in initial:
        if not isinstance(ratios, dict) or set(ratios) != set(groups):
            raise ValueError(f"initial settings must map every group {groups} to a ratio, got {ratios!r}")
        if any(r not in grid for r in ratios.values()):
            raise ValueError(f"initial setting {ratios} uses a ratio outside the grid {grid}")
        if cost_fn(ratios) > budget:
            raise ValueError(f"initial setting {ratios} costs {cost_fn(ratios)}, over budget={budget}")
        if _key(ratios) not in seen:
            survivors.append(evaluate(ratios))
    for _ in range(1000 * population):
        if len(survivors) >= population:
            break
        ratios = {g: rng.choice(grid) for g in groups}
        if feasible_unseen(ratios):
            survivors.append(evaluate(ratios))
    if not survivors:  # a tight budget: start from the cheapest setting, which fits (checked above)
        survivors.append(evaluate(cheapest))
    for _ in range(generations):
        children = []
        for parent in survivors:
            moves = [
                {**parent.ratios, g: grid[i + step]}
                for g in groups
                for i in [grid.index(parent.ratios[g])]
                for step in (-1, 1)
                if 0 <= i + step < len(grid)
            ]
            rng.shuffle(moves)
            child = next((m for m in moves if feasible_unseen(m)), None)
            if child is not None:
                children.append(evaluate(child))
        pool = survivors + children
        order = sorted(range(len(pool)), key=lambda i: (-pool[i].score, pool[i].cost, i))
        survivors = [pool[i] for i in order[:population]]
    bar.close()
    best = best_within_budget([c.score for c in history], [c.cost for c in history], budget)
    return SearchResult(history[best], history, budget)
