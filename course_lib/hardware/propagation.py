"""Sparsity-attribute propagation (after SparTA, OSDI 2022): find the compute that pruning made dead.

Every tensor of the traced model carries two attributes along its channel axis (dim 1: channels of
a (B, C, H, W) activation, features of a (B, F) one):

* ``zero[c]``: channel c is exactly zero for every input (known forward: a pruned row of W makes
  that row of W @ X zero; a zero column of X kills the products that read it);
* ``unused[c]``: no later computation needs channel c (known backward: if every weight that reads
  channel c is pruned, whatever produces channel c is wasted work).

Rules: Conv2d / Linear (groups = 1), BatchNorm in eval mode (a per-channel affine map
y = scale * x + shift, zero when x is zero and shift is 0, or when scale and shift are both 0), and
the weightless operations of the op table shared with channel tracing (``structured.ops``):
zero-preserving ones (ReLU, GELU, SiLU, pooling, dropout, identity, ...: channel c stays c and stays
zero), channel-wise ones that may turn a zero into something else (Sigmoid: channel c stays c, but
nothing is known to be zero), sums and differences of two tensors of the same shape (zero only
where both are), products of two tensors of the same shape (zero where either is) and flattening
(B, C, ...) to (B, C * ...) (channel c becomes its block of features). Any other operation is treated
conservatively: nothing in its output is known to be zero and all of its inputs are needed. The
forward and backward rules feed each other (a zero output needs no inputs, so the channels that only
fed it become unused), so they are applied in turn until nothing changes.

A multiply-accumulate of a Conv2d / Linear is *dead* when its weight is zero, its input channel is
zero, or its output channel is zero or unused. MACs are counted per example, as
``course_lib.analysis.count_macs`` counts them. Lesson 08 runs it on a channel-pruned tiny ResNet.
"""

import copy
from dataclasses import dataclass

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from ..core.modules import apply_masks
from ..structured.ops import features_per_channel, op_kind


@dataclass(frozen=True)
class PropagationReport:
    """What propagation found. ``zero`` and ``unused``: node name -> bool tensor over the channel
    axis of that node's output. ``layers``: Conv2d/Linear node name -> (MACs, dead by the weights
    alone, dead in all) per example. ``rounds``: forward-backward sweeps until nothing changed."""

    zero: dict
    unused: dict
    layers: dict
    rounds: int

    @property
    def total_macs(self) -> int:
        return sum(total for total, _, _ in self.layers.values())

    @property
    def dead_by_masks(self) -> int:
        return sum(by_masks for _, by_masks, _ in self.layers.values())

    @property
    def dead_macs(self) -> int:
        return sum(dead for _, _, dead in self.layers.values())


def linear_zero_outputs(weight: torch.Tensor, zero_inputs: torch.Tensor,
                        bias: torch.Tensor | None = None) -> torch.Tensor:
    """The forward rule of y = W x (+ b): output o is surely zero when every weight W[o, i] that
    reads a possibly non-zero input i is zero, and b[o] is zero.

    weight (out, in, *kernel), zero_inputs (in,) bool, bias (out,) or None -> (out,) bool.
    """
    zero = ~(_kept_per_pair(weight).bool() & ~zero_inputs).any(1)
    return zero if bias is None else zero & (bias == 0)


def _kept_per_pair(weight: torch.Tensor) -> torch.Tensor:
    """(out, in) int: how many weights of W[o, i] (over the kernel) are non-zero."""
    return (weight != 0).flatten(2).sum(2) if weight.dim() > 2 else (weight != 0).long()


def _effective_params(model: nn.Module, masks: dict) -> dict:
    params = {name: p.detach() for name, p in model.named_parameters()}
    for name, mask in masks.items():
        if name not in params:
            raise ValueError(f"masks has a key {name!r} that is not a parameter of the model")
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            raise TypeError(f"masks[{name!r}] must be a torch.bool tensor, got {mask!r}")
        if mask.shape != params[name].shape:
            raise ValueError(
                f"masks[{name!r}] has shape {tuple(mask.shape)}, the parameter has "
                f"{tuple(params[name].shape)}"
            )
        params[name] = params[name] * mask
    return params


class _Rules:
    """The propagation rules for one traced model; ``kind`` tags each node once."""

    def __init__(self, gm: fx.GraphModule, params: dict):
        self.gm, self.params = gm, params
        self.modules = dict(gm.named_modules())

    def param(self, target: str, name: str):
        return self.params.get(f"{target}.{name}")

    def kind(self, node: fx.Node) -> str:
        """The rule for ``node``: "linear" (Conv2d / Linear), a kind of ``structured.ops`` whose
        conditions hold here, or "other" (nothing known)."""
        module = self.modules[node.target] if node.op == "call_module" else None
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            if isinstance(module, nn.Linear) and len(_shape(node.args[0])) != 2:
                return "other"
            if getattr(module, "groups", 1) != 1:
                raise ValueError(f"{node.target}: grouped convolutions are not supported")
            return "linear"
        kind = op_kind(node, module)
        if kind == "norm" and module.running_mean is None:
            return "other"  # no running statistics: not a fixed per-channel map
        if kind in ("sum", "product") and not self._same_shape_operands(node):
            return "other"
        if kind == "flatten":
            before = _shape(node.args[0])
            if before is None or features_per_channel(before, _shape(node)) is None:
                return "other"
        return kind or "other"

    @staticmethod
    def _same_shape_operands(node: fx.Node) -> bool:
        if len(node.args) < 2:
            return False
        a, b = node.args[:2]
        return _shape(a) is not None and _shape(a) == _shape(b)

    def bn_scale_shift(self, node):
        bn = self.modules[node.target]
        gamma = self.param(node.target, "weight")
        beta = self.param(node.target, "bias")
        gamma = torch.ones_like(bn.running_mean) if gamma is None else gamma
        beta = torch.zeros_like(bn.running_mean) if beta is None else beta
        scale = gamma / torch.sqrt(bn.running_var + bn.eps)
        return scale, beta - bn.running_mean * scale


def _shape(node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta") if isinstance(node, fx.Node) else None
    return None if meta is None else tuple(meta.shape)


def _channels(node: fx.Node) -> int:
    shape = node.meta["tensor_meta"].shape
    return shape[1] if len(shape) > 1 else 1


def _spatial(node: fx.Node) -> int:
    shape = node.meta["tensor_meta"].shape
    return int(torch.Size(shape[2:]).numel())


def propagate_sparsity(model: nn.Module, example_input: torch.Tensor, masks: dict) -> PropagationReport:
    """Propagate the zeros that ``masks`` put into ``model`` through its graph and count dead MACs.

    ``model`` (eval mode, traceable by ``torch.fx``) is not modified; ``masks`` maps parameter names
    to bool masks of the parameter's shape (True = kept), and may include BatchNorm weights and
    biases (a channel pruned together with its BatchNorm scale and shift stays zero after it).
    ``example_input`` (B, ...) fixes the shapes. Returns a ``PropagationReport``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if model.training:
        raise ValueError("model is in training mode: call model.eval() first (BatchNorm must use "
                         "its running statistics for the propagation rules to hold)")
    if not isinstance(example_input, torch.Tensor):
        raise TypeError(f"example_input must be a torch.Tensor, got {type(example_input).__name__}")
    if not isinstance(masks, dict):
        raise TypeError(f"masks must be a dict of parameter name -> bool mask, got {type(masks).__name__}")
    params = _effective_params(model, masks)
    gm = fx.symbolic_trace(model)
    with torch.no_grad():
        ShapeProp(gm).propagate(example_input)
    rules = _Rules(gm, params)
    nodes = [n for n in gm.graph.nodes if n.op not in ("output",) and "tensor_meta" in n.meta]
    kinds = {n: rules.kind(n) for n in nodes}
    zero = {n: torch.zeros(_channels(n), dtype=torch.bool) for n in nodes}
    unused = {n: torch.zeros(_channels(n), dtype=torch.bool) for n in nodes}

    def forward(n: fx.Node) -> torch.Tensor:
        kind, args = kinds[n], [a for a in n.args if isinstance(a, fx.Node)]
        if kind == "linear":
            return linear_zero_outputs(params[f"{n.target}.weight"], zero[args[0]],
                                       rules.param(n.target, "bias"))
        if kind == "norm":
            scale, shift = rules.bn_scale_shift(n)
            return (zero[args[0]] | (scale == 0)) & (shift == 0)
        if kind == "zero_preserving":
            return zero[args[0]]
        if kind == "sum":
            return zero[args[0]] & zero[args[1]]
        if kind == "product":
            return zero[args[0]] | zero[args[1]]
        if kind == "flatten":
            return zero[args[0]].repeat_interleave(_spatial(args[0]))
        return torch.zeros_like(zero[n])  # other ops and inputs: nothing known

    def needed_inputs(n: fx.Node) -> dict:
        """Input node -> which of its channels n needs."""
        kind, args = kinds[n], [a for a in n.args if isinstance(a, fx.Node)]
        live = ~(zero[n] | unused[n])
        if kind == "linear":
            reads = _kept_per_pair(params[f"{n.target}.weight"]).bool()
            return {args[0]: (reads & live[:, None]).any(0)}
        if kind == "norm":
            return {args[0]: live & (rules.bn_scale_shift(n)[0] != 0)}
        if kind in ("zero_preserving", "channelwise"):
            return {args[0]: live}
        if kind in ("sum", "product"):
            return {args[0]: live, args[1]: live}
        if kind == "flatten":
            return {args[0]: live.view(_channels(args[0]), -1).any(1)}
        return {a: torch.ones_like(zero[a]) for a in n.all_input_nodes if a in zero}

    outputs = {a for n in gm.graph.nodes if n.op == "output" for a in n.all_input_nodes}
    rounds, changed = 0, True
    while changed:
        rounds, changed = rounds + 1, False
        for n in nodes:
            new = forward(n)
            changed |= not torch.equal(new, zero[n])
            zero[n] = new
        needed = {n: torch.zeros_like(unused[n]) if n not in outputs else torch.ones_like(unused[n])
                  for n in nodes}
        for n in reversed(nodes):
            for a, need in needed_inputs(n).items():
                needed[a] = needed[a] | need
        for n in nodes:
            new = unused[n] | ~needed[n]
            changed |= not torch.equal(new, unused[n])
            unused[n] = new

    layers = {}
    for n in nodes:
        if kinds[n] != "linear":
            continue
        w = params[f"{n.target}.weight"]
        kept = _kept_per_pair(w)  # (out, in)
        area = w[0, 0].numel()
        spatial = _spatial(n)
        total = w.shape[0] * w.shape[1] * area * spatial
        live = kept[~(zero[n] | unused[n])][:, ~zero[n.args[0]]].sum() * spatial
        layers[n.name] = (total, total - int(kept.sum()) * spatial, total - int(live))
    return PropagationReport(
        zero={n.name: z for n, z in zero.items()},
        unused={n.name: u for n, u in unused.items()},
        layers=layers,
        rounds=rounds,
    )


@torch.no_grad()
def observed_zero_channels(model: nn.Module, masks: dict, inputs: torch.Tensor) -> dict:
    """Run a masked copy of ``model`` on ``inputs`` (B, ...) and return, for every traced node,
    the channels (dim 1) that are exactly zero for all B inputs: node name -> bool tensor.
    The check that ``propagate_sparsity`` only marks as zero what really is zero."""
    masked = apply_masks(copy.deepcopy(model).eval(), masks)
    gm = fx.symbolic_trace(masked)
    seen = {}

    class Recorder(fx.Interpreter):
        def run_node(self, n):
            out = super().run_node(n)
            if isinstance(out, torch.Tensor) and out.dim() >= 2 and n.op != "output":
                seen[n.name] = (out.transpose(0, 1).flatten(1) == 0).all(1)
            return out

    Recorder(gm).run(inputs)
    return seen
