"""Dependency groups: which layers must lose the same channels when channels are really removed.

Removing output channel c of a conv is not a local edit: channel c is also normalised by the
BatchNorm after the conv and read by every layer that consumes the conv's output (the next conv's
input channel c, or a block of features of a Linear after a flatten). Channels joined by a residual
addition must go together, from every conv that writes into the sum. Such a set of layers that must
lose the same channels is a *dependency group*.

This module finds the groups (lesson 04; lesson 03 uses them to permute channels) by tracing the
model's graph with ``torch.fx``: nothing is hard-coded per architecture. How each operation treats
channels comes from the one op table, :mod:`.ops`. Scoring the channels is :mod:`.scores`' job and
removing them :mod:`.surgery`'s.

Conventions: a channel lives in dim 1 of an activation (B, C, ...), in dim 0 of the weight of the
layer that produces it and in dim 1 of the weights of the layers that read it.
"""

from dataclasses import dataclass, field

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp, TensorMetadata

from .ops import features_per_channel, op_kind


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
        kind = op_kind(node, module)  # None for layers with weights and unknown operations
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
        elif kind == "norm":
            spaces.group(first_space).norms.append(node.target)
            space[node] = space[first]
        elif kind in ("zero_preserving", "channelwise"):
            if shape[:2] != _shape(first)[:2]:
                fail(node, f"it changes the channel dimension {_shape(first)} -> {shape}")
            space[node] = space[first]
        elif kind in ("sum", "product"):
            # Operands broadcast along channels (size 1) do not tie anything.
            tied = [a for a in inputs if len(_shape(a)) > 1 and _shape(a)[1] == shape[1] > 1]
            if {space[a][1] for a in tied} - {repeat}:
                fail(node, "it combines flattened and unflattened channels")
            root = first_space
            for a in tied:
                root = spaces.union(root, space[a][0])
            space[node] = (root, repeat)
        elif kind == "flatten":
            per_channel = features_per_channel(_shape(first), shape)
            if per_channel is None:
                before = _shape(first)
                fail(node, f"only flattening (B, C, ...) to (B, C*...) is supported, got {before} -> {shape}")
            space[node] = (first_space, repeat * per_channel)
        else:
            fail(node, "it is not a layer or operation whose channel dependencies are known")

    roots = sorted({spaces.find(i) for i in range(len(spaces.parent))})
    return [spaces.members[r] for r in roots if spaces.members[r].producers]
