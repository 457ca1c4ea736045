"""Channel pruning that really shrinks the model.

Removing output channel c of a conv is not a local edit: channel c is also normalised by the
BatchNorm after the conv and read by every layer that consumes the conv's output (the next conv's
input channel c, or a block of features of a Linear after a flatten). Channels joined by a residual
addition must go together, from every conv that writes into the sum. Such a set of layers that must
lose the same channels is a *dependency group*.

This module finds the groups by tracing the model's graph with ``torch.fx`` (nothing is hard-coded
per architecture), scores channels (filter norms, BatchNorm gamma, the next layer's input-channel
norm, first-order Taylor, random), removes the lowest-scoring channels of each group from a copy of
the model, and picks per-group ratios for a MAC budget from a sensitivity scan.

Conventions: a channel lives in dim 1 of an activation (B, C, ...) and in dim 0 of the producing
layer's weight. ``ratio`` is the fraction of a group's channels removed: ``round(ratio * C)``,
but at least one channel always stays.
"""

import copy
import operator
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp, TensorMetadata
from tqdm.auto import tqdm

from .metrics import count_macs, count_params, interleaved_latency, model_size_bytes
from .pruning import keep_largest
from .validation import check_choice, check_fraction, check_positive_int

# Layers and operations that keep the channels of their input where they are, one for one.
PASSTHROUGH_MODULES = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Hardswish,
    nn.Hardsigmoid, nn.Dropout, nn.Dropout2d, nn.Identity, nn.MaxPool2d, nn.AvgPool2d,
    nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d,
)  # fmt: skip
PASSTHROUGH_FUNCTIONS = {
    torch.relu, F.relu, F.relu6, F.leaky_relu, F.gelu, F.silu, torch.sigmoid, torch.tanh,
    F.hardswish, F.dropout, F.max_pool2d, F.avg_pool2d, F.adaptive_avg_pool2d, F.adaptive_max_pool2d,
}  # fmt: skip
PASSTHROUGH_METHODS = {"relu", "relu_", "sigmoid", "tanh", "contiguous", "clone", "detach"}
# Elementwise operations between tensors: operands with the same channels must be pruned together.
ELEMENTWISE_FUNCTIONS = {operator.add, operator.iadd, operator.sub, operator.mul, operator.imul,
                         torch.add, torch.sub, torch.mul}  # fmt: skip
ELEMENTWISE_METHODS = {"add", "add_", "sub", "mul", "mul_"}
RESHAPE_FUNCTIONS = {torch.flatten}
RESHAPE_METHODS = {"flatten", "view", "reshape"}

CRITERIA = ("l1", "l2", "bn_gamma", "next_layer_l2", "taylor", "random")


@dataclass
class ChannelGroup:
    """Layers that must lose the same channels.

    ``producers`` write the channels (Conv2d/Linear, weight dim 0), ``norms`` normalise them
    (BatchNorm, per-channel parameters and statistics), ``consumers`` read them as
    ``(module name, repeat)``: weight dim 1, where each channel is ``repeat`` consecutive input
    features (a Linear after flattening a (B, C, H, W) map has repeat H*W; a conv has repeat 1).
    A group that reaches the model's input or output is not ``prunable``.
    """

    name: str
    channels: int
    producers: list[str] = field(default_factory=list)
    norms: list[str] = field(default_factory=list)
    consumers: list[tuple[str, int]] = field(default_factory=list)
    prunable: bool = True

    def modules(self) -> list[str]:
        """Every module of the group, producers first."""
        return [*self.producers, *self.norms, *(name for name, _ in self.consumers)]


class _Spaces:
    """Union-find over channel spaces: each conv/Linear output, input or constant starts its own
    space; an elementwise op between two spaces merges them."""

    def __init__(self):
        self.parent: list[int] = []
        self.members: list[ChannelGroup] = []

    def new(self, channels: int, producer: str | None = None, prunable: bool = True) -> int:
        self.parent.append(len(self.parent))
        name = producer if producer is not None else f"<fixed {len(self.parent) - 1}>"
        self.members.append(ChannelGroup(name, channels, [producer] if producer else [], prunable=prunable))
        return len(self.parent) - 1

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> int:
        i, j = self.find(i), self.find(j)
        if i != j:
            # Keep the earlier space as root so the group is named after the first producer.
            i, j = min(i, j), max(i, j)
            self.parent[j] = i
            a, b = self.members[i], self.members[j]
            a.producers += b.producers
            a.norms += b.norms
            a.consumers += b.consumers
            a.prunable = a.prunable and b.prunable
            if a.producers:
                a.name = a.producers[0]
        return i

    def group(self, i: int) -> ChannelGroup:
        return self.members[self.find(i)]


def _check_example(model: nn.Module, example_input) -> torch.Tensor:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(example_input, torch.Tensor) or example_input.ndim < 2:
        raise TypeError(
            "example_input must be a tensor with a batch dimension, e.g. torch.zeros(1, 1, 8, 8), "
            f"got {example_input!r:.80}"
        )
    return example_input


def _trace(model: nn.Module, example_input: torch.Tensor) -> fx.GraphModule:
    """The model's graph, with every node's output shape recorded from one forward pass."""
    try:
        graph_module = fx.symbolic_trace(model)
    except Exception as err:
        raise ValueError(
            f"torch.fx cannot trace {type(model).__name__} ({type(err).__name__}: {err}); channel "
            "pruning needs a forward pass without data-dependent Python control flow"
        ) from err
    was_training = model.training
    model.eval()  # no BatchNorm statistics update while propagating shapes
    try:
        with torch.no_grad():
            ShapeProp(graph_module).propagate(example_input)
    except Exception as err:
        raise ValueError(
            f"example_input of shape {tuple(example_input.shape)} does not fit "
            f"{type(model).__name__}: the forward pass failed ({type(err).__name__}: {err})"
        ) from err
    finally:
        model.train(was_training)
    return graph_module


def _shape(node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta") if isinstance(node, fx.Node) else None
    return tuple(meta.shape) if isinstance(meta, TensorMetadata) else None


def _describe(node: fx.Node, graph_module: fx.GraphModule) -> str:
    if node.op == "call_module":
        module = graph_module.get_submodule(node.target)
        return f"module {node.target!r} ({type(module).__name__})"
    target = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", node.target)
    return f"operation {target!r} ({node.op}, graph node {node.name!r})"


def channel_groups(model: nn.Module, example_input: torch.Tensor) -> list[ChannelGroup]:
    """The model's dependency groups, in the order their first layer runs.

    ``example_input`` (B, ...) is one batch the model accepts; it fixes the shapes used to map
    flattened features back to channels. Raises ``ValueError`` naming the module and the operation
    when the graph holds a pattern this module cannot follow (grouped convs, concatenation, ...).
    """
    graph_module = _trace(model, _check_example(model, example_input))
    spaces = _Spaces()
    space: dict[fx.Node, tuple[int, int]] = {}  # node -> (channel space, features per channel)
    called: set[str] = set()

    def fail(node, why):
        raise ValueError(
            f"channel pruning cannot follow channels through {_describe(node, graph_module)}: {why}"
        )

    for node in graph_module.graph.nodes:
        shape = _shape(node)
        inputs = [a for a in node.all_input_nodes if a in space]
        if node.op == "output":
            for a in inputs:
                spaces.group(space[a][0]).prunable = False
            continue
        if shape is None:  # sizes, shapes and other non-tensor values carry no channels
            continue
        if not inputs:  # the model input, constants and attributes: channels fixed from outside
            space[node] = (spaces.new(shape[1] if len(shape) > 1 else 1, prunable=False), 1)
            continue
        first, (first_space, repeat) = inputs[0], space[inputs[0]]
        module = graph_module.get_submodule(node.target) if node.op == "call_module" else None
        target = node.target
        if module is not None and any(True for _ in module.parameters(recurse=False)):
            if node.target in called:
                fail(node, "the module is called more than once (shared weights)")
            called.add(node.target)
        if isinstance(module, nn.Conv2d):
            if module.groups != 1:
                fail(node, f"grouped convolution (groups={module.groups}) is not supported")
            if repeat != 1:
                fail(node, "its input channels were reshaped before it")
            spaces.group(first_space).consumers.append((node.target, 1))
            space[node] = (spaces.new(shape[1], producer=node.target), 1)
        elif isinstance(module, nn.Linear):
            if len(_shape(first)) != 2:
                fail(node, f"only a (B, features) input is supported, got shape {_shape(first)}")
            spaces.group(first_space).consumers.append((node.target, repeat))
            space[node] = (spaces.new(shape[1], producer=node.target), 1)
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            spaces.group(first_space).norms.append(node.target)
            space[node] = space[first]
        elif (
            isinstance(module, PASSTHROUGH_MODULES)
            or (node.op == "call_function" and target in PASSTHROUGH_FUNCTIONS)
            or (node.op == "call_method" and target in PASSTHROUGH_METHODS)
        ):
            if shape[:2] != _shape(first)[:2]:
                fail(node, f"it changes the channel dimension {_shape(first)} -> {shape}")
            space[node] = space[first]
        elif (node.op == "call_function" and target in ELEMENTWISE_FUNCTIONS) or (
            node.op == "call_method" and target in ELEMENTWISE_METHODS
        ):
            # Operands broadcast along channels (size 1) do not tie anything.
            tied = [a for a in inputs if len(_shape(a)) > 1 and _shape(a)[1] == shape[1] > 1]
            if {space[a][1] for a in tied} - {repeat}:
                fail(node, "it combines flattened and unflattened channels")
            root = first_space
            for a in tied:
                root = spaces.union(root, space[a][0])
            space[node] = (root, repeat)
        elif isinstance(module, nn.Flatten) or (
            (node.op == "call_function" and target in RESHAPE_FUNCTIONS)
            or (node.op == "call_method" and target in RESHAPE_METHODS)
        ):
            before = _shape(first)
            per_channel = 1
            for size in before[2:]:
                per_channel *= size
            if shape != (before[0], before[1] * per_channel):
                fail(node, f"only flattening (B, C, ...) to (B, C*...) is supported, got {before} -> {shape}")
            space[node] = (first_space, repeat * per_channel)
        else:
            fail(node, "it is not a layer or operation whose channel dependencies are known")

    roots = sorted({spaces.find(i) for i in range(len(spaces.parent))})
    return [spaces.members[r] for r in roots if spaces.members[r].producers]


# ---------------------------------------------------------------- channel importance


def input_channel_norms(weight: torch.Tensor, repeat: int = 1) -> torch.Tensor:
    """L2 norm of each input channel's slice of a consumer's weight.

    ``weight`` is a conv weight (Co, C, Kh, Kw) or a Linear weight (Co, C * repeat) whose input
    features come in blocks of ``repeat`` per channel (a flattened (C, H, W) map: repeat = H*W).
    Returns (C,).
    """
    check_positive_int("repeat", repeat)
    if weight.ndim == 2:
        if weight.shape[1] % repeat:
            raise ValueError(f"repeat={repeat} does not divide the weight's {weight.shape[1]} inputs")
        weight = weight.reshape(weight.shape[0], -1, repeat)  # (Co, C, repeat)
    return weight.transpose(0, 1).flatten(1).norm(dim=1)


def _rows(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Per-channel tensors (C, ...) side by side as one (C, k) matrix."""
    return torch.cat([t.detach().reshape(t.shape[0], -1) for t in tensors], dim=1)


def _group_params(modules: dict[str, nn.Module], names: list[str]) -> list[torch.Tensor]:
    return [p for n in names for p in (modules[n].weight, modules[n].bias) if p is not None]


def _taylor_products(model: nn.Module, batch) -> dict[torch.Tensor, torch.Tensor]:
    """w * dL/dw for every parameter, from the cross-entropy loss on ``batch`` = (x, y), in eval mode."""
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        raise ValueError(
            f"batch must be an (inputs, labels) pair for the 'taylor' criterion, got {batch!r:.80}"
        )
    was_training = model.training
    model.eval()
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        loss = F.cross_entropy(model(batch[0]), batch[1])
        grads = torch.autograd.grad(loss, params, allow_unused=True)
    finally:
        model.train(was_training)
    return {p: p.detach() * g for p, g in zip(params, grads) if g is not None}


def group_scores(
    model: nn.Module, groups: list[ChannelGroup], criterion: str = "l1", batch=None, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Importance of every channel of every prunable group: ``{group name: (C,) scores}``.

    Higher means more important. Criteria:
      ``l1`` / ``l2``    norm of the channel's filters in all the group's producers (Li et al. 2017)
      ``bn_gamma``       sum of |gamma| over the group's BatchNorms (network slimming, Liu et al.
                         2017); groups without a BatchNorm get no scores
      ``next_layer_l2``  L2 norm of the weights that read the channel in all consumers
      ``taylor``         |sum of w * dL/dw| over the channel's producer and BatchNorm parameters, on
                         ``batch`` = (inputs, labels) (first-order Taylor, Molchanov et al. 2019)
      ``random``         uniform random scores from ``seed``: the baseline every criterion must beat
    """
    check_choice("criterion", criterion, CRITERIA)
    modules = dict(model.named_modules())
    products = _taylor_products(model, batch) if criterion == "taylor" else None
    generator = torch.Generator().manual_seed(seed)
    scores = {}
    for group in (g for g in groups if g.prunable):
        weights = [modules[n].weight for n in group.producers]
        if criterion == "l1":
            score = _rows(weights).abs().sum(dim=1)
        elif criterion == "l2":
            score = _rows(weights).norm(dim=1)
        elif criterion == "bn_gamma":
            gammas = [modules[n].weight for n in group.norms if modules[n].weight is not None]
            if not gammas:
                continue  # no BatchNorm to read: this criterion cannot rank the group
            score = _rows(gammas).abs().sum(dim=1)
        elif criterion == "next_layer_l2":
            norms = [input_channel_norms(modules[n].weight.detach(), r) for n, r in group.consumers]
            score = torch.stack(norms).square().sum(dim=0).sqrt()
        elif criterion == "taylor":
            params = _group_params(modules, group.producers + group.norms)
            score = _rows([products.get(p, torch.zeros_like(p)) for p in params]).sum(dim=1).abs()
        else:
            score = torch.rand(group.channels, generator=generator)
        scores[group.name] = score
    return scores


def channel_importance(
    model: nn.Module, example_input: torch.Tensor, criterion: str = "l1", batch=None
) -> dict[str, torch.Tensor]:
    """``group_scores`` for every prunable group of ``model`` (see there for the criteria)."""
    return group_scores(model, channel_groups(model, example_input), criterion, batch)


# ---------------------------------------------------------------- removing channels


def _replace(module: nn.Module, attr: str, tensor: torch.Tensor) -> None:
    old = getattr(module, attr)
    if old is None:
        return
    if isinstance(old, nn.Parameter):
        setattr(module, attr, nn.Parameter(tensor.detach().clone(), requires_grad=old.requires_grad))
    else:
        setattr(module, attr, tensor.detach().clone())


@torch.no_grad()
def shrink_outputs(module: nn.Module, keep: torch.Tensor) -> None:
    """Keep only output channels ``keep`` (sorted indices) of a Conv2d, Linear or BatchNorm, in place."""
    for attr in ("weight", "bias", "running_mean", "running_var"):
        if getattr(module, attr, None) is not None:
            _replace(module, attr, getattr(module, attr)[keep])
    for attr in ("out_channels", "out_features", "num_features"):
        if hasattr(module, attr):
            setattr(module, attr, len(keep))


@torch.no_grad()
def shrink_inputs(module: nn.Module, keep: torch.Tensor, repeat: int = 1) -> None:
    """Keep only input channels ``keep`` of a Conv2d or Linear, in place; a Linear's inputs come in
    blocks of ``repeat`` features per channel (a flattened (C, H, W) map: repeat = H*W)."""
    features = (keep[:, None] * repeat + torch.arange(repeat)).flatten()  # (len(keep) * repeat,)
    _replace(module, "weight", module.weight[:, features])
    if isinstance(module, nn.Conv2d):
        module.in_channels = len(keep)
    else:
        module.in_features = len(features)


def n_pruned(channels: int, ratio: float) -> int:
    """Channels removed from a group of ``channels`` at ``ratio``: round(ratio * C), leaving at least one."""
    return min(round(ratio * channels), channels - 1)


def _group_ratios(groups: list[ChannelGroup], ratio) -> dict[str, float]:
    """``ratio`` (one float, or {group or producer name: float}) as {prunable group name: ratio}."""
    prunable = [g for g in groups if g.prunable]
    if not isinstance(ratio, dict):
        ratio = check_fraction("ratio", ratio, allow_one=False)
        return {g.name: ratio for g in prunable}
    owner = {p: g for g in groups for p in g.producers}
    out: dict[str, float] = {}
    for key, value in ratio.items():
        if key not in owner:
            raise ValueError(
                f"ratio has a key {key!r} that is not a prunable layer; allowed: {[g.name for g in prunable]}"
            )
        group = owner[key]
        if not group.prunable:
            raise ValueError(
                f"ratio has a key {key!r} whose output channels reach the model's input or output "
                f"and cannot be pruned; allowed: {[g.name for g in prunable]}"
            )
        value = check_fraction(f"ratio[{key!r}]", value, allow_one=False)
        if out.get(group.name, value) != value:
            raise ValueError(
                f"ratio gives {key!r} {value} but another layer of its group {group.name!r} "
                f"{out[group.name]}: a dependency group has one ratio"
            )
        out[group.name] = value
    return out


def keep_indices(scores: torch.Tensor, ratio: float) -> torch.Tensor:
    """Sorted indices of the channels kept at ``ratio``: the highest ``scores`` (C,), ties by position."""
    return keep_largest(scores, n_pruned(len(scores), ratio)).nonzero().flatten()


def _prune(model: nn.Module, groups, scores, ratios: dict[str, float]) -> nn.Module:
    """A smaller deep copy of ``model``; ``ratios`` maps group names to the fraction removed."""
    pruned = copy.deepcopy(model)
    modules = dict(pruned.named_modules())
    for group in groups:
        if ratios.get(group.name, 0.0) == 0.0:
            continue
        if group.name not in scores:
            raise ValueError(
                f"the importance gives no scores for group {group.name!r} (bn_gamma needs a "
                "BatchNorm): give ratio as a dict without this group"
            )
        keep = keep_indices(scores[group.name], ratios[group.name])
        for name in group.producers + group.norms:
            shrink_outputs(modules[name], keep)
        for name, repeat in group.consumers:
            shrink_inputs(modules[name], keep, repeat)
    return pruned


def _resolve_scores(model, groups, importance, batch, seed: int = 0) -> dict[str, torch.Tensor]:
    if callable(importance):
        return {g.name: importance(model, g) for g in groups if g.prunable}
    return group_scores(model, groups, importance, batch, seed)


def prune_channels(
    model: nn.Module,
    ratio,
    example_input: torch.Tensor,
    importance: str | Callable = "l1",
    batch=None,
    seed: int = 0,
) -> nn.Module:
    """A new, physically smaller copy of ``model`` with the least important channels removed.

    ``ratio`` in [0, 1) is the fraction of channels removed from every prunable group, or a dict
    ``{layer name: ratio}`` (a group's name or any of its producers; unnamed groups keep all their
    channels). ``example_input`` (B, ...) is a batch the model accepts. ``importance`` is a
    criterion of ``group_scores`` or a callable ``(model, group) -> (C,) scores``; ``batch`` is the
    (inputs, labels) pair the ``taylor`` criterion needs; ``seed`` seeds the ``random`` one.
    ``model`` itself is not changed, and at ratio 0 the copy computes exactly what ``model`` does.
    """
    groups = channel_groups(model, example_input)
    ratios = _group_ratios(groups, ratio)
    pruned = _prune(model, groups, _resolve_scores(model, groups, importance, batch, seed), ratios)
    _check_forward(model, pruned, example_input)
    return pruned


@torch.no_grad()
def _check_forward(model: nn.Module, pruned: nn.Module, example_input: torch.Tensor) -> None:
    """The pruned copy must still run and return what the model returns, in shape."""
    modes = model.training, pruned.training
    model.eval(), pruned.eval()
    try:
        expected, got = model(example_input).shape, pruned(example_input).shape
    except RuntimeError as err:
        raise ValueError(
            f"{type(model).__name__} no longer runs after channel pruning ({err}); its forward "
            "probably hard-codes a channel count (use x.flatten(1) rather than x.view(-1, N))"
        ) from err
    finally:
        model.train(modes[0]), pruned.train(modes[1])
    if got != expected:
        raise ValueError(f"pruning changed the output shape of {type(model).__name__}: {expected} -> {got}")


@torch.no_grad()
def prune_conv_pair(conv: nn.Conv2d, consumer: nn.Conv2d, n_keep: int) -> tuple[nn.Conv2d, nn.Conv2d]:
    """Copies of ``conv`` with its ``n_keep`` filters of largest L1 norm (in their original order)
    and of ``consumer`` reading only those channels: the smallest dependency group by hand."""
    check_positive_int("n_keep", n_keep)
    if n_keep > conv.out_channels:
        raise ValueError(f"n_keep must be at most conv.out_channels={conv.out_channels}, got {n_keep}")
    conv, consumer = copy.deepcopy(conv), copy.deepcopy(consumer)
    scores = conv.weight.abs().flatten(1).sum(dim=1)  # (Co,) filter L1 norms
    keep = keep_largest(scores, conv.out_channels - n_keep).nonzero().flatten()
    shrink_outputs(conv, keep)
    shrink_inputs(consumer, keep)
    return conv, consumer


# ---------------------------------------------------------------- sensitivity and budgets


@dataclass(frozen=True)
class Sensitivity:
    """Metric (e.g. accuracy) after pruning one group at a time: ``curves[group][i]`` at ``ratios[i]``."""

    ratios: tuple[float, ...]
    dense: float
    curves: dict[str, list[float]]


def sensitivity_scan(
    model: nn.Module,
    example_input: torch.Tensor,
    evaluate_fn: Callable[[nn.Module], float],
    ratios=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    importance: str | Callable = "l1",
    batch=None,
    progress: bool = True,
) -> Sensitivity:
    """Prune each prunable group alone at each ratio and record ``evaluate_fn(pruned copy)``.

    ``evaluate_fn`` maps a model to a number where higher is better (test accuracy). No
    fine-tuning in between: the scan measures how much each layer's channels matter as trained.
    """
    ratios = tuple(check_fraction("ratios", r, allow_one=False) for r in ratios)
    groups = channel_groups(model, example_input)
    scores = _resolve_scores(model, groups, importance, batch)
    curves = {}
    for name in tqdm(scores, desc="sensitivity scan", disable=not progress, leave=False):
        curves[name] = [evaluate_fn(_prune(model, groups, scores, {name: r})) for r in ratios]
    return Sensitivity(ratios, evaluate_fn(model), curves)


def largest_safe_ratio(ratios, values, dense: float, max_drop: float) -> float:
    """The largest ratio whose value is at most ``max_drop`` below ``dense`` (up to float rounding,
    1e-9); 0.0 when none is."""
    safe = [r for r, v in zip(ratios, values) if dense - v <= max_drop + 1e-9]
    return max(safe, default=0.0)


def mac_fraction(model: nn.Module, pruned: nn.Module, example_input: torch.Tensor) -> float:
    """MACs of ``pruned`` over MACs of ``model`` for one example shaped like ``example_input[0]``."""
    shape = tuple(example_input.shape[1:])
    return count_macs(pruned, shape) / count_macs(model, shape)


def ratios_for_mac_budget(
    model: nn.Module,
    example_input: torch.Tensor,
    sensitivity: Sensitivity,
    budget: float,
    importance: str | Callable = "l1",
    batch=None,
) -> dict[str, float]:
    """Per-group ratios that keep at most ``budget`` (a fraction) of the dense MACs, sparing the
    sensitive groups.

    Every group gets ``largest_safe_ratio`` for one common tolerated drop; the smallest tolerance
    (among the drops the scan measured) whose pruned model fits the budget wins. MACs only fall as
    the tolerance grows, so the search is a bisection. Raises ``ValueError`` if even the largest
    scanned ratios do not reach the budget.
    """
    budget = check_fraction("budget", budget)
    groups = channel_groups(model, example_input)
    scores = _resolve_scores(model, groups, importance, batch)
    drops = sorted({sensitivity.dense - v for curve in sensitivity.curves.values() for v in curve})

    def ratios_at(tolerance):
        return {
            name: largest_safe_ratio(sensitivity.ratios, curve, sensitivity.dense, tolerance)
            for name, curve in sensitivity.curves.items()
        }

    def fits(tolerance):
        pruned = _prune(model, groups, scores, ratios_at(tolerance))
        return mac_fraction(model, pruned, example_input) <= budget

    if not fits(drops[-1]):
        raise ValueError(
            f"budget={budget} is below what the scanned ratios (up to {max(sensitivity.ratios)}) "
            "can reach: scan larger ratios or raise the budget"
        )
    low, high = 0, len(drops) - 1  # drops[high] fits; find the first that does
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if fits(drops[mid]) else (mid + 1, high)
    return ratios_at(drops[high])


# ---------------------------------------------------------------- what pruning buys


LATENCY_STATISTICS = ("median", "min")


def compare_costs(models: dict, input_shape, batch_sizes=(1, 64), rounds: int = 5, repeats: int = 5) -> dict:
    """Parameters, MACs per example, bytes and CPU latency of each model in ``{label: model}``.

    ``input_shape`` is one example without the batch dimension, e.g. (1, 8, 8). Returns
    ``{label: {"params", "macs", "bytes", "latency_ms": {"median" | "min": {batch size: ms}}}}``,
    latencies from ``interleaved_latency`` on seeded random inputs.
    """
    if not models:
        raise ValueError("models must hold at least one {label: model} entry, got an empty dict")
    generator = torch.Generator().manual_seed(0)
    costs = {
        label: {
            "params": count_params(m),
            "macs": count_macs(m, input_shape),
            "bytes": model_size_bytes(m),
            "latency_ms": {stat: {} for stat in LATENCY_STATISTICS},
        }
        for label, m in models.items()
    }
    for b in batch_sizes:
        example = torch.randn(check_positive_int("batch_sizes", b), *input_shape, generator=generator)
        timings = interleaved_latency(list(models.values()), example, rounds, repeats)
        for c, timing in zip(costs.values(), timings):
            for stat in LATENCY_STATISTICS:
                c["latency_ms"][stat][b] = timing[stat]
    return costs


def costs_table(costs: dict, statistic: str = "median") -> str:
    """A text table of ``compare_costs``'s result, each cost also as a multiple of the first row's;
    latency is the ``statistic`` ("median" or "min") of the timed runs."""
    check_choice("statistic", statistic, LATENCY_STATISTICS)
    base = next(iter(costs.values()))
    batch_sizes = list(base["latency_ms"][statistic])
    header = ["model", "params", "MACs", "size KB"] + [f"{statistic} ms b={b}" for b in batch_sizes]
    rows = [header]
    for label, c in costs.items():
        cells = [("params", 1), ("macs", 1), ("bytes", 1e-3)]
        pairs = [(c[k] * scale, base[k] * scale) for k, scale in cells]
        pairs += [(c["latency_ms"][statistic][b], base["latency_ms"][statistic][b]) for b in batch_sizes]
        rows.append([label] + [f"{v:,.{0 if v >= 100 else 2}f} ({v / ref:.2f}x)" for v, ref in pairs])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(r, widths)) for r in rows)


def ratio_costs(
    model: nn.Module,
    ratio: float,
    example_input: torch.Tensor,
    batch_sizes=(1, 64),
    rounds: int = 3,
    statistic: str = "min",
) -> str:
    """The slider's work: ``costs_table`` of ``model`` against a copy with ``ratio`` of its channels
    removed (``model`` itself is never changed)."""
    pruned = prune_channels(model, ratio, example_input)
    shape = tuple(example_input.shape[1:])
    models = {"dense": model, f"{ratio:.0%} channels removed": pruned}
    return costs_table(compare_costs(models, shape, batch_sizes, rounds), statistic)


def speedups(
    model: nn.Module,
    example_input: torch.Tensor,
    ratios,
    batch_sizes=(1, 64),
    rounds: int = 5,
    repeats: int = 5,
) -> list[dict]:
    """MAC reduction against measured CPU latency speedup, one uniformly pruned copy per ratio.

    Returns one row per ratio: ``{"ratio", "mac_speedup", "latency_speedup": {"median" | "min":
    {batch size: x}}}``; speedups are dense / pruned, with latencies from ``compare_costs``.
    """
    models = {"dense": model} | {i: prune_channels(model, r, example_input) for i, r in enumerate(ratios)}
    costs = compare_costs(models, tuple(example_input.shape[1:]), batch_sizes, rounds, repeats)
    dense = costs["dense"]["latency_ms"]
    rows = []
    for i, ratio in enumerate(ratios):
        latency = costs[i]["latency_ms"]
        rows.append(
            {
                "ratio": ratio,
                "mac_speedup": costs["dense"]["macs"] / costs[i]["macs"],
                "latency_speedup": {
                    stat: {b: dense[stat][b] / latency[stat][b] for b in batch_sizes}
                    for stat in LATENCY_STATISTICS
                },
            }
        )
    return rows
