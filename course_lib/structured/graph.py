"""Dependency groups: which layers must lose the same channels when channels are really removed.

Removing output channel c of a conv is not a local edit: channel c is also normalised by the
BatchNorm after the conv and read by every layer that consumes the conv's output (the next conv's
input channel c, or a block of features of a Linear after a flatten). Channels joined by a residual
addition must go together, from every conv that writes into the sum. Such a set of layers that must
lose the same channels is a *dependency group*.

This module finds the groups (lesson 04; lesson 03 uses them to permute channels) by tracing the
model's graph with ``torch.fx`` in eval mode: nothing is hard-coded per architecture. How each
operation treats channels comes from the one op table, :mod:`.ops`. Scoring the channels is
:mod:`.scores`' job and removing them :mod:`.surgery`'s.

How channels are followed. Every channel of every tensor is an *element* with an integer id. The
walk keeps, for each tensor, the ids it carries, laid out like the tensor but of size 1 along the
dims where they do not vary: (1, C, 1, 1) for a (B, C, H, W) map, (1, 1, 1, C) after a permute into
channels-last, (1, C*H*W) after a flatten. Operations *move* elements (reshape, permute, concatenate,
chunk, pool) or *tie* them: elements that must be removed together. After the walk, tied elements form
one channel of a group (union-find, as connected components), and the layers that produce channels
of the same group are one group. The rules, one method of ``_Tracer`` each:

- Conv (groups=1) and Linear read their input channels (dim 1 / the last dim) and write new ones.
- Depthwise conv (each group reads one channel): output channel c is input channel c (with a
  channel multiplier m, channels c*m ... c*m+m-1), and its filter goes with it.
- Grouped conv (g groups of k > 1 channels, ResNeXt, RegNet): every group must keep the same number
  of channels, so the rule is *whole slices across groups*: channel j of every group is tied to
  channel j of the others, on the input and on the output side.
- Concatenation keeps each channel's identity at an offset: every consumer reads it where it sits.
- ``chunk(n)``: position j of every piece is tied, so the pieces stay equal. A view that splits the
  channels into (g, C/g) with g a literal number (ShuffleNet's channel shuffle) ties the g slices the
  same way. Channels whose count the code hard-codes (a literal size in a view, ``split(16)``) are fixed.
- Permute / transpose move channels to another dim; LayerNorm over the last dim (ConvNeXt) and
  BatchNorm normalise them per channel.
- Elementwise sums and products tie their operands (residual adds, squeeze-and-excitation gates,
  layer-scale parameters such as ConvNeXt's); an operand of size 1 along the channels (broadcast)
  ties nothing.
- The model's input and output channels are fixed: a group that holds one is not ``prunable``, so the
  model's interface never changes, whatever layer produces the output (a Linear, or SqueezeNet's conv).

Anything else raises a ``ValueError`` that names the module and the operation. Conventions: a channel
lives in dim 0 of the weight of the layer that produces it and in dim 1 of the weights of the layers
that read it.
"""

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp, TensorMetadata

from ..core.modules import check_example_input
from .ops import op_kind


@dataclass
class Slots:
    """Where one layer holds a group's channels: along its ``axis`` (0: a layer's outputs or a
    parameter's channel dim; 1: a consumer's inputs), position ``positions[i]`` is group channel
    ``channels[i]``. A consumer's positions count input channels or flattened features; ``groups``
    are its conv groups (each row of its weight reads in_channels / groups of them)."""

    positions: torch.Tensor
    channels: torch.Tensor
    axis: int = 0
    groups: int = 1


@dataclass
class ChannelGroup:
    """Layers that must lose the same channels.

    ``producers`` write the channels (Conv/Linear, weight dim 0), ``norms`` normalise them
    (BatchNorm / LayerNorm, per-channel parameters and statistics), ``depthwise`` convs filter each
    channel on its own, ``params`` are parameters scaled per channel (ConvNeXt's layer scale, by
    parameter name), ``consumers`` read them as ``(module name, repeat)``: weight dim 1, where each
    channel is ``repeat`` input features (a Linear after flattening a (B, C, H, W) map has repeat
    H*W; a conv has repeat 1). A group that reaches the model's input or output is not ``prunable``.

    ``channels`` counts the units removed together: one channel, or several tied ones (a grouped
    conv's channel j of every group, a shuffle's pair). In simple chains a layer holds channel c at
    position c; ``slots`` says where each layer holds each channel in general (a concatenation's
    offset, a shuffle's order) and :meth:`take` reads a layer's tensors by group channel.
    """

    name: str
    channels: int
    producers: list[str] = field(default_factory=list)
    norms: list[str] = field(default_factory=list)
    consumers: list[tuple[str, int]] = field(default_factory=list)
    prunable: bool = True
    depthwise: list[str] = field(default_factory=list)
    params: list[str] = field(default_factory=list)
    slots: dict[tuple[str, str], Slots] = field(default_factory=dict, repr=False, compare=False)

    def modules(self) -> list[str]:
        """Every module of the group, producers first."""
        return [*self.producers, *self.norms, *self.depthwise, *(name for name, _ in self.consumers)]

    def take(self, role: str, name: str, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` of layer ``name`` in ``role`` (its weight, bias, or anything of that shape, such
        as per-weight scores) by group channel: (C, m, ...), row c holding the m slices that belong to
        channel c (zeros where a channel has fewer), so sums and norms over a row score channel c.

        A producer's or norm's slices are its output rows; a consumer's are the weights that read the
        channel (a grouped conv's slice j is the (C_out / groups, ...) block that reads input j).
        """
        slots = self.slots[(role, name)]
        if slots.axis == 0:
            rows = tensor
        elif slots.axis == 1 and role == "consumers":
            # (C_out, C_in / g, ...) -> (g, C_in / g, C_out / g, ...) -> (C_in, C_out / g, ...)
            rows = tensor.unflatten(0, (slots.groups, -1)).transpose(1, 2).flatten(0, 1)
        else:
            rows = tensor.movedim(slots.axis, 0)
        return _by_channel(rows, slots.positions, slots.channels, self.channels)


def _by_channel(rows: torch.Tensor, positions: torch.Tensor, channels: torch.Tensor, count: int):
    """``rows[positions]`` grouped by ``channels`` into (count, m, ...), zero-padded."""
    n = len(positions)
    per = n // count if count else 0
    if n == count * per and n == len(rows) and torch.equal(positions, torch.arange(n)) and torch.equal(
        channels, torch.arange(count).repeat_interleave(per)
    ):
        return rows.reshape(count, per, *rows.shape[1:])  # the common case: no copy
    counts = torch.bincount(channels, minlength=count)
    order = torch.argsort(channels, stable=True)
    sorted_channels = channels[order]
    slot = torch.arange(n) - (torch.cumsum(counts, 0) - counts)[sorted_channels]
    out = rows.new_zeros((count, int(counts.max()), *rows.shape[1:]))
    out[sorted_channels, slot] = rows[positions[order]]
    return out


def _trace(model: nn.Module, example_input: torch.Tensor) -> fx.GraphModule:
    """The model's eval-mode graph, with every node's output shape recorded from one forward pass."""
    was_training = model.training
    model.eval()  # the inference graph (dropout and stochastic depth off), no BatchNorm updates
    try:
        try:
            graph_module = fx.symbolic_trace(model)
        except Exception as err:
            raise ValueError(
                f"torch.fx cannot trace {type(model).__name__} ({type(err).__name__}: {err}); channel "
                "pruning needs a forward pass without data-dependent Python control flow"
            ) from err
        try:
            with torch.no_grad():  # one example is enough for the shapes
                ShapeProp(graph_module).propagate(example_input[:1])
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


def _arg(node: fx.Node, index: int, name: str, default=None):
    """Argument ``name`` of a call, given by position ``index`` or by keyword."""
    return node.args[index] if len(node.args) > index else node.kwargs.get(name, default)


def _compress(ids: torch.Tensor) -> torch.Tensor:
    """``ids`` with every dim along which they are constant shrunk to size 1."""
    for dim in range(ids.ndim):
        if ids.shape[dim] > 1:
            first = ids.narrow(dim, 0, 1)
            if torch.equal(ids, first.expand_as(ids)):
                ids = first
    return ids


def _varying(ids: torch.Tensor) -> list[int]:
    return [d for d in range(ids.ndim) if ids.shape[d] > 1]


def _align(ids: torch.Tensor, ndim: int) -> torch.Tensor:
    """``ids`` with leading size-1 dims up to ``ndim`` dims (broadcasting's right alignment)."""
    return ids.reshape((1,) * (ndim - ids.ndim) + tuple(ids.shape))


class Unsupported(ValueError):
    """A pattern the tracer cannot follow; ``channel_groups`` adds the module and operation."""


@dataclass
class _Member:
    role: str
    name: str
    ids: torch.Tensor  # (n,) element ids along the member's axis
    axis: int = 0
    groups: int = 1


class _Tracer:
    """One walk over a traced graph: element ids per tensor, ties, fixed elements and members."""

    def __init__(self, model: nn.Module, graph_module: fx.GraphModule):
        self.gm = graph_module
        self.modules = dict(model.named_modules())  # also those the graph traced through
        self.count = 0
        self.ties: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.fixed: list[torch.Tensor] = []
        self.members: list[_Member] = []
        self.params: dict[fx.Node, str] = {}  # get_attr nodes: parameters scaled per channel
        self.merges: list[tuple[fx.Node, torch.Tensor]] = []
        self.ids: dict[fx.Node, torch.Tensor | list[torch.Tensor]] = {}
        self.used: set[str] = set()  # modules and parameters the graph uses
        self.unsure = False  # a width passed as a number the trace cannot tie to a layer

    # ---------------------------------------------------------------- bookkeeping

    def new(self, *shape: int) -> torch.Tensor:
        ids = torch.arange(self.count, self.count + int(np.prod(shape, dtype=np.int64))).reshape(shape)
        self.count += ids.numel()
        return ids

    def tie(self, a: torch.Tensor, b: torch.Tensor) -> None:
        a, b = torch.broadcast_tensors(a, b)
        self.ties.append((a.reshape(-1), b.reshape(-1)))

    def tie_across(self, grid: torch.Tensor) -> None:
        """Tie column j of ``grid`` (rows, k) across all its rows."""
        if len(grid) > 1:
            self.tie(grid[1:], grid[:1])

    def fix(self, ids) -> None:
        for piece in ids if isinstance(ids, list) else [ids]:
            self.fixed.append(piece.reshape(-1))

    def fixed_ids(self, shape: tuple[int, ...]) -> torch.Tensor:
        """Fresh fixed ids for a tensor that comes from outside (an input, a constant)."""
        ids = self.new(shape[1]).reshape(1, shape[1], *(1,) * (len(shape) - 2)) if len(shape) > 1 else (
            self.new(*shape))
        self.fix(ids)
        return ids

    def member(self, role: str, name: str, ids: torch.Tensor, axis: int = 0, groups: int = 1) -> None:
        self.members.append(_Member(role, name, ids, axis, groups))

    def along(self, source: fx.Node, dim: int, size: int) -> torch.Tensor:
        """The (size,) ids along ``dim`` of ``source``'s tensor, which must not vary along other dims."""
        ids = self.ids[source]
        dim %= ids.ndim
        if any(d != dim for d in _varying(ids)):
            raise Unsupported(f"its input's channels are not along dim {dim} (they were reshaped or moved)")
        return ids.reshape(-1).expand(size) if ids.shape[dim] == 1 else ids.reshape(-1)

    # ---------------------------------------------------------------- the walk

    def run(self) -> None:
        for node in self.gm.graph.nodes:
            try:
                self.visit(node)
            except Unsupported as err:
                raise ValueError(
                    f"channel pruning cannot follow channels through {_describe(node, self.gm)}: {err}"
                ) from None

    def visit(self, node: fx.Node) -> None:
        if node.op == "output":
            for source in node.all_input_nodes:
                if source in self.ids:
                    self.fix(self.ids[source])
            return
        meta = node.meta.get("tensor_meta")
        if meta is None:  # sizes, shapes and other non-tensor values carry no channels
            return
        if node.op == "get_attr":
            self.used.add(node.target)
            self.params[node] = node.target
            self.ids[node] = self.new(*meta.shape)
            return
        inputs = [a for a in node.all_input_nodes if a in self.ids]
        if not inputs:  # the model's input and constants made in forward: channels fixed from outside
            self.ids[node] = self.fixed_ids(tuple(meta.shape))
            return
        module = self.modules[node.target] if node.op == "call_module" else None
        if module is not None and any(True for _ in module.parameters(recurse=False)):
            if node.target in self.used:
                raise Unsupported("the module is called more than once (shared weights)")
            self.used.add(node.target)
        if isinstance(module, nn.modules.conv._ConvNd):
            self.ids[node] = self.conv(node, module)
        elif isinstance(module, nn.Linear):
            self.ids[node] = self.linear(node, module)
        else:
            handler = getattr(self, f"op_{op_kind(node, module)}", None)
            if handler is None:
                raise Unsupported("it is not a layer or operation whose channel dependencies are known")
            self.ids[node] = handler(node, module)

    # ---------------------------------------------------------------- layers with weights

    def conv(self, node: fx.Node, conv: nn.Module) -> torch.Tensor:
        if conv.transposed:
            raise Unsupported("transposed convolutions are not supported")
        groups, ndim = conv.groups, len(_shape(node))
        inputs = self.along(node.args[0], 1, conv.in_channels)  # (C_in,)
        if groups > 1 and conv.in_channels == groups:  # depthwise: channel c stays channel c
            out = inputs.repeat_interleave(conv.out_channels // groups)
            self.member("depthwise", node.target, out)
        else:  # grouped: channel j of every group goes with channel j of the others
            self.tie_across(inputs.reshape(groups, -1))
            self.member("consumers", node.target, inputs, axis=1, groups=groups)
            out = self.new(conv.out_channels)
            self.tie_across(out.reshape(groups, -1))
            self.member("producers", node.target, out)
        return out.reshape(1, -1, *(1,) * (ndim - 2))

    def linear(self, node: fx.Node, linear: nn.Linear) -> torch.Tensor:
        self.member("consumers", node.target, self.along(node.args[0], -1, linear.in_features), axis=1)
        out = self.new(linear.out_features)
        self.member("producers", node.target, out)
        return _align(out, len(_shape(node)))

    # ---------------------------------------------------------------- weightless operations

    def op_zero_preserving(self, node: fx.Node, module) -> torch.Tensor:
        source = node.all_input_nodes[0]
        ids, before, after = self.ids[source], _shape(source), _shape(node)
        if len(before) != len(after) or any(before[d] != after[d] for d in _varying(ids)):
            raise Unsupported(f"it changes the channel dimension {before} -> {after}")
        return ids

    op_channelwise = op_zero_preserving

    def op_norm(self, node: fx.Node, module: nn.Module) -> torch.Tensor:
        source = node.args[0]
        self.member("norms", node.target, self.along(source, 1, module.num_features))
        return self.ids[source]

    def op_layer_norm(self, node: fx.Node, module) -> torch.Tensor:
        source, name = node.args[0], node.target
        if module is None:  # F.layer_norm(x, shape, weight, bias): the weight names the module
            weight = _arg(node, 2, "weight")
            if not isinstance(weight, fx.Node) or weight.op != "get_attr":
                raise Unsupported("a layer norm without a module's weight has a fixed width")
            name = weight.target.rpartition(".")[0]
            module = self.modules.get(name)
            self.unsure = True  # its (C,) argument may be the module's normalized_shape, or a literal
            for param in (weight, _arg(node, 3, "bias")):
                self.params.pop(param, None)  # pruned with the module, not on their own
        if not isinstance(module, nn.LayerNorm) or len(module.normalized_shape) != 1:
            raise Unsupported("only a LayerNorm module over the last dim is supported")
        self.member("norms", name, self.along(source, -1, module.normalized_shape[0]))
        return self.ids[source]

    def op_sum(self, node: fx.Node, module) -> torch.Tensor:
        """Elementwise sum / product: operands that hold the channels in full are tied."""
        out = _shape(node)
        operands = [(_align(self.ids[a], len(out)), _shape(a)) for a in node.all_input_nodes if a in self.ids]
        varying = {d for ids, _ in operands for d in _varying(ids)}
        full, broadcast = [], []
        for ids, shape in operands:
            shape = (1,) * (len(out) - len(shape)) + shape
            (full if all(shape[d] == out[d] for d in varying) else broadcast).append(ids)
        if not full or any(_varying(ids) for ids in broadcast):
            raise Unsupported("its operands hold channels along different dims")
        for ids in full[1:]:
            self.tie(full[0], ids)
        return min(full, key=lambda ids: len(_varying(ids)))

    op_product = op_sum

    def op_flatten(self, node: fx.Node, module) -> torch.Tensor:
        """Any reshape: the ids are reshaped alike. A split of the channels over several dims ties them
        across the dims whose size is a literal number; a literal channel count fixes the channels."""
        source = node.all_input_nodes[0]
        before = self.ids[source]
        ids = _compress(before.expand(_shape(source)).reshape(_shape(node)))
        varying = _varying(ids)
        sizes = _view_sizes(node)
        literal = [d for d in varying if sizes is not None and isinstance(sizes[d], int) and sizes[d] != -1]
        if len(varying) > 1:
            free = [d for d in varying if d not in literal]
            if len(free) != 1:
                raise Unsupported(
                    "it spreads channels over several dims; exactly one of their sizes must be computed "
                    "(-1 or from x.size()), the others literal numbers"
                )
            # column j of the free dim goes with column j of every other slice
            self.tie_across(ids.movedim(free[0], -1).reshape(-1, ids.shape[free[0]]))
        elif literal:
            self.fix(ids)  # a hard-coded channel count: these channels must stay
        if len(_varying(before)) > len(varying):
            self.merges.append((node, before))  # checked once the ties are known
        return ids

    def op_permute(self, node: fx.Node, module) -> torch.Tensor:
        ids, dims = self.ids[node.args[0]], node.args[1:]
        if node.target in ("transpose", torch.transpose):
            return ids.transpose(*dims)
        dims = dims[0] if len(dims) == 1 and isinstance(dims[0], (list, tuple)) else dims
        if not all(isinstance(d, int) for d in dims):
            raise Unsupported("the permutation must be literal numbers")
        return ids.permute(*dims)

    def op_concat(self, node: fx.Node, module) -> torch.Tensor:
        sources, out = _arg(node, 0, "tensors"), _shape(node)
        dim = _arg(node, 1, "dim", 0) % len(out)
        layouts = [list(self.ids[s].shape) for s in sources]
        for layout in layouts:
            layout[dim] = 1
        common = list(torch.broadcast_shapes(*layouts))
        pieces = []
        for source in sources:
            common[dim] = _shape(source)[dim]
            pieces.append(self.ids[source].expand(common))
        return _compress(torch.cat(pieces, dim))

    def op_chunk(self, node: fx.Node, module) -> list[torch.Tensor]:
        source, n = node.args[0], _arg(node, 1, "chunks")
        size, ids = _shape(source), self.ids[node.args[0]]
        dim = _arg(node, 2, "dim", 0) % len(size)
        if dim not in _varying(ids):
            return [ids] * len(node.meta["tensor_meta"])
        if not isinstance(n, int) or size[dim] % n:
            raise Unsupported(f"chunk needs a literal number of pieces that divides {size[dim]}, got {n}")
        # position j of every piece goes with position j of the others: the pieces stay equal
        self.tie_across(ids.movedim(dim, 0).reshape(n, -1))
        return list(ids.chunk(n, dim))

    def op_split(self, node: fx.Node, module) -> list[torch.Tensor]:
        source, sizes = node.args[0], _arg(node, 1, "split_size_or_sections")
        ids, size = self.ids[source], _shape(source)
        dim = _arg(node, 2, "dim", 0) % len(size)
        if dim not in _varying(ids):
            return [ids] * len(node.meta["tensor_meta"])
        if not all(isinstance(s, int) for s in (sizes if isinstance(sizes, (list, tuple)) else [sizes])):
            raise Unsupported("split sizes must be literal numbers")
        self.fix(ids)  # literal piece sizes: these channels must stay
        return list(ids.split(sizes, dim))

    def op_reduce(self, node: fx.Node, module) -> torch.Tensor:
        ids = self.ids[node.args[0]]
        dims = _arg(node, 1, "dim")
        dims = range(ids.ndim) if dims is None else [dims] if isinstance(dims, int) else dims
        dims = {d % ids.ndim for d in dims}
        if dims & set(_varying(ids)):
            raise Unsupported("it reduces over the channels")
        if _arg(node, 2, "keepdim", False):
            return ids
        return ids.reshape([s for d, s in enumerate(ids.shape) if d not in dims])

    def op_getitem(self, node: fx.Node, module) -> torch.Tensor:
        pieces, index = self.ids[node.args[0]], node.args[1]
        if not isinstance(pieces, list):
            raise Unsupported("indexing or slicing a tensor is not supported (only pieces of chunk/split)")
        return pieces[index]


def _view_sizes(node: fx.Node) -> list | None:
    """The sizes a view / reshape asks for, one per output dim (ints or graph nodes); ``None`` for
    reshapes whose sizes all follow the input (flatten, squeeze, unsqueeze)."""
    if node.target in ("view", "reshape"):
        sizes = node.args[1:]
    elif node.target is torch.reshape:
        sizes = node.args[1:2]
    else:
        return None
    return list(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (list, tuple)) else list(sizes)


def _components(count: int, ties: list[tuple[torch.Tensor, torch.Tensor]]) -> np.ndarray:
    """Connected components of ``count`` elements joined by ``ties``: a label per element."""
    a = np.concatenate([t[0].numpy() for t in ties]) if ties else np.zeros(0, dtype=np.int64)
    b = np.concatenate([t[1].numpy() for t in ties]) if ties else np.zeros(0, dtype=np.int64)
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(count, count))
    return connected_components(graph, directed=False)[1]


def _check_everything_traced(model: nn.Module, used: set[str]) -> None:
    """A parameter the eval-mode graph never touches (an auxiliary head used only in training) would
    keep channels its inputs lose: refuse rather than build a model that breaks in training."""
    unused = sorted({name.rpartition(".")[0] or name for name, _ in model.named_parameters()
                     if name not in used and name.rpartition(".")[0] not in used})
    if unused:
        raise ValueError(
            f"channel pruning cannot see {unused[:5]}{' ...' if len(unused) > 5 else ''}: their "
            "parameters are not used by the model's forward in eval mode (an auxiliary head used only "
            "in training?); remove them first (GoogLeNet / Inception: aux_logits=False)"
        )


def channel_groups(model: nn.Module, example_input: torch.Tensor) -> list[ChannelGroup]:
    """The model's dependency groups, in the order their first producer runs.

    ``example_input`` (B, ...) is one batch the model accepts; it fixes the shapes used to map
    reshaped features back to channels. Raises ``ValueError`` naming the module and the operation
    when the graph holds a pattern this module cannot follow (see the module's docstring).
    """
    return traced_groups(model, example_input)[0]


def traced_groups(model: nn.Module, example_input: torch.Tensor) -> tuple[list[ChannelGroup], bool]:
    """``channel_groups``, and whether the graph passes a width as a plain number that the trace
    cannot tie to a layer (``F.layer_norm(x, (C,), ...)``): then only running a pruned copy shows
    whether that number follows the pruned layer (``self.normalized_shape``) or is written in the code."""
    tracer = _Tracer(model, _trace(model, check_example_input(model, example_input)))
    tracer.run()
    return _build_groups(model, tracer), tracer.unsure


def _build_groups(model: nn.Module, tracer: _Tracer) -> list[ChannelGroup]:
    graph_module = tracer.gm
    _check_everything_traced(model, tracer.used)
    labels = torch.from_numpy(_components(tracer.count, tracer.ties))
    for node, ids in tracer.merges:
        if len(_varying(_compress(labels[ids]))) > 1:
            raise ValueError(
                f"channel pruning cannot follow channels through {_describe(node, graph_module)}: it "
                "merges dims whose channels could be removed in different patterns"
            )
    producers = [m for m in tracer.members if m.role == "producers"]
    if not producers:
        return []
    group, channel, counts = _number_channels([labels[m.ids] for m in producers], int(labels.max()) + 1)
    groups = []
    for m in producers:
        g = group[int(labels[m.ids[0]])]
        if g == len(groups):
            groups.append(ChannelGroup(m.name, int(counts[g])))
    fixed = labels[torch.cat(tracer.fixed)] if tracer.fixed else torch.zeros(0, dtype=torch.long)
    for g in set(group[fixed.numpy()].tolist()) - {-1}:
        groups[g].prunable = False
    params = [_param_member(node, name, labels, tracer.ids[node], group)
              for node, name in tracer.params.items()]
    for m in tracer.members + [p for p in params if p is not None]:
        cls = labels[m.ids].numpy()
        for g in np.unique(group[cls]):
            if g >= 0:
                where = np.flatnonzero(group[cls] == g)
                _add(groups[g], m, torch.from_numpy(where), torch.from_numpy(channel[cls[where]]))
    return groups


def _number_channels(written: list[torch.Tensor], n_classes: int) -> tuple[np.ndarray, ...]:
    """Group and channel numbers of the ``n_classes`` classes (tied elements), from what producers
    write (``written``: one (n,) class tensor per producer, in graph order): producers that write a
    common class share a group; groups are numbered by first producer, channels by first write.
    Returns ``group`` and ``channel`` per class (-1: no producer writes it) and channels per group."""
    rows = torch.cat(written).numpy()
    # classes and producers as one graph: a producer joins the classes it writes
    cols = np.repeat(n_classes + np.arange(len(written)), [len(w) for w in written])
    size = n_classes + len(written)
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(size, size))
    component = connected_components(graph, directed=False)[1]
    order: dict[int, int] = {}
    for c in component[n_classes:].tolist():  # groups in order of their first producer
        order.setdefault(c, len(order))
    number = np.full(component.max() + 1, -1)
    number[list(order)] = list(order.values())
    classes, first = np.unique(rows, return_index=True)
    classes = classes[np.argsort(first)]  # in order of first write
    group = np.full(n_classes, -1)
    group[classes] = number[component[classes]]
    order = np.argsort(group[classes], kind="stable")
    by_group = group[classes][order]
    channel = np.full(len(group), -1)
    channel[classes[order]] = np.arange(len(order)) - np.searchsorted(by_group, by_group)
    return group, channel, np.bincount(by_group, minlength=len(order))


def _param_member(node: fx.Node, name: str, labels: torch.Tensor, ids: torch.Tensor,
                  group: np.ndarray) -> _Member | None:
    """A parameter used in the graph as a per-channel tensor (a layer scale): its channel dim."""
    classes = labels[ids]
    if not (group[classes.numpy()] >= 0).any():
        return None  # none of its elements belongs to a group: nothing to prune in it
    varying = _varying(_compress(classes))
    if len(varying) != 1:
        raise ValueError(f"channel pruning cannot follow channels through parameter {name!r}: its "
                         "elements belong to channels along more than one dim")
    axis = varying[0]
    return _Member("params", name, ids.movedim(axis, 0).reshape(ids.shape[axis], -1)[:, 0], axis)


def _add(group: ChannelGroup, member: _Member, positions: torch.Tensor, channels: torch.Tensor) -> None:
    key = (member.role, member.name)
    if key in group.slots:
        raise ValueError(f"channel pruning cannot follow channels through {member.name!r}: it holds "
                         f"the channels of group {group.name!r} twice")
    group.slots[key] = Slots(positions, channels, member.axis, member.groups)
    if member.role == "consumers":
        group.consumers.append((member.name, len(positions) // len(torch.unique(channels))))
    else:
        getattr(group, member.role).append(member.name)
