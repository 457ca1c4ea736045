"""The one table of how torch.fx operations treat channels (lessons 04 and 08).

A channel lives in dim 1 of an activation: the C of (B, C, H, W), the F of (B, F); after a permute
into channels-last (ConvNeXt) it lives in the last dim. Two graph walks read this table:
channel-dependency tracing (``structured.graph.channel_groups``: which layers must lose the same
channels) and sparsity propagation (``hardware.propagation.propagate_sparsity``: which channels are
surely zero or never needed). Layers with weights (convolutions, Linear) are not in it: each walk
handles them itself.

The kinds, and what each walk does with them:

=================== ============================================== =====================================
kind                meaning                                        examples
=================== ============================================== =====================================
``zero_preserving`` output channel c reads input channel c only,   ReLU, ReLU6, GELU, SiLU, Tanh,
                    and is zero wherever input channel c is zero   Hardswish, Dropout, Identity, pooling
``channelwise``     output channel c reads input channel c only,   Sigmoid, Hardsigmoid (f(0) = 1/2)
                    but a zero input need not give a zero output
``sum``             elementwise sum or difference of tensors:      ``a + b``, ``a - b``, ``torch.add``
                    the same channels; zero where all are zero
``product``         elementwise product of tensors: the same       ``a * b``, ``torch.mul``
                    channels; zero where any operand is zero
``flatten``         a reshape: (B, C, ...) -> (B, C * ...) makes   ``nn.Flatten``, ``x.flatten(1)``,
                    channel c a block of features; a view can      ``x.view(B, -1)``, ``reshape``,
                    also split channels (B, g, C/g, ...)           ``squeeze``, ``unsqueeze``
``norm``            per-channel normalisation (BatchNorm): the     ``nn.BatchNorm1d/2d/3d``
                    same channels, with per-channel parameters
``layer_norm``      normalisation over the last dim with a         ``nn.LayerNorm``, ``F.layer_norm``
                    per-channel scale and shift
``permute``         channels move to another dim                   ``x.permute(0, 2, 3, 1)``,
                                                                   ``transpose``
``concat``          channels of several tensors side by side       ``torch.cat``
``chunk``           equal pieces along a dim                       ``x.chunk(2, dim=1)``
``split``           pieces of given sizes along a dim              ``x.split(16, dim=1)``
``reduce``          mean / sum / max over some dims                ``x.mean([2, 3])``
``getitem``         one piece of a chunk or split                  ``pieces[0]``
=================== ============================================== =====================================

Tracing treats ``zero_preserving`` and ``channelwise`` alike (channels pass through), ties the
operands of ``sum`` and ``product``, maps reshaped features back to channels and follows channels
through the structural kinds (``permute`` to ``getitem``). Propagation keeps zeros through
``zero_preserving`` ops only, combines zeros by ``sum`` (all) or ``product`` (any) of two operands of
the same shape, follows (B, C, ...) -> (B, C * ...) flattening and treats every other kind, and
anything not in the table, as unknown.
"""

import operator
from math import prod

import torch
import torch.nn.functional as F
import torchvision
from torch import fx, nn

OP_KINDS = ("zero_preserving", "channelwise", "sum", "product", "flatten", "norm",
            "layer_norm", "permute", "concat", "chunk", "split", "reduce", "getitem")  # fmt: skip

# Module types, matched with isinstance in this order.
MODULE_OPS = {
    nn.ReLU: "zero_preserving", nn.ReLU6: "zero_preserving", nn.LeakyReLU: "zero_preserving",
    nn.GELU: "zero_preserving", nn.SiLU: "zero_preserving", nn.Tanh: "zero_preserving",
    nn.Hardswish: "zero_preserving", nn.Dropout: "zero_preserving", nn.Dropout2d: "zero_preserving",
    nn.Identity: "zero_preserving", nn.MaxPool2d: "zero_preserving", nn.AvgPool2d: "zero_preserving",
    nn.AdaptiveAvgPool2d: "zero_preserving", nn.AdaptiveMaxPool2d: "zero_preserving",
    nn.Sigmoid: "channelwise", nn.Hardsigmoid: "channelwise",
    nn.Flatten: "flatten",
    nn.modules.batchnorm._BatchNorm: "norm",
    nn.LayerNorm: "layer_norm",
}  # fmt: skip

# Targets of call_function nodes.
FUNCTION_OPS = {
    torch.relu: "zero_preserving", F.relu: "zero_preserving", F.relu6: "zero_preserving",
    F.leaky_relu: "zero_preserving", F.gelu: "zero_preserving", F.silu: "zero_preserving",
    torch.tanh: "zero_preserving", F.hardswish: "zero_preserving", F.dropout: "zero_preserving",
    torchvision.ops.stochastic_depth: "zero_preserving",
    F.max_pool2d: "zero_preserving", F.avg_pool2d: "zero_preserving",
    F.adaptive_avg_pool2d: "zero_preserving", F.adaptive_max_pool2d: "zero_preserving",
    torch.sigmoid: "channelwise", F.sigmoid: "channelwise", F.hardsigmoid: "channelwise",
    operator.add: "sum", operator.iadd: "sum", operator.sub: "sum", operator.isub: "sum",
    torch.add: "sum", torch.sub: "sum",
    operator.mul: "product", operator.imul: "product", torch.mul: "product",
    torch.flatten: "flatten", torch.reshape: "flatten", torch.squeeze: "flatten",
    torch.unsqueeze: "flatten",
    F.layer_norm: "layer_norm",
    torch.permute: "permute", torch.transpose: "permute",
    torch.cat: "concat", torch.concat: "concat",
    torch.chunk: "chunk", torch.split: "split",
    torch.mean: "reduce", torch.sum: "reduce", torch.amax: "reduce",
    operator.getitem: "getitem",
}  # fmt: skip

# Names of call_method nodes (tensor methods).
METHOD_OPS = {
    "relu": "zero_preserving", "relu_": "zero_preserving", "tanh": "zero_preserving",
    "contiguous": "zero_preserving", "clone": "zero_preserving", "detach": "zero_preserving",
    "sigmoid": "channelwise",
    "add": "sum", "add_": "sum", "sub": "sum", "sub_": "sum",
    "mul": "product", "mul_": "product",
    "flatten": "flatten", "view": "flatten", "reshape": "flatten", "squeeze": "flatten",
    "unsqueeze": "flatten",
    "permute": "permute", "transpose": "permute",
    "chunk": "chunk", "split": "split",
    "mean": "reduce", "sum": "reduce", "amax": "reduce",
}  # fmt: skip


def op_kind(node: fx.Node, module: nn.Module | None = None) -> str | None:
    """The kind (one of ``OP_KINDS``) of a traced node, or ``None`` when the table does not know it.
    ``module`` is the submodule a ``call_module`` node calls."""
    if node.op == "call_module":
        return next((kind for cls, kind in MODULE_OPS.items() if isinstance(module, cls)), None)
    if node.op == "call_function":
        return FUNCTION_OPS.get(node.target)
    if node.op == "call_method":
        return METHOD_OPS.get(node.target)
    return None


def features_per_channel(before: tuple[int, ...], after: tuple[int, ...]) -> int | None:
    """How many features each channel becomes when ``before`` (B, C, ...) is flattened to ``after``
    (B, C * ...): the product of the trailing sizes; ``None`` when ``after`` is not that shape."""
    if len(before) < 2:
        return None
    per_channel = prod(before[2:])
    return per_channel if tuple(after) == (before[0], before[1] * per_channel) else None
