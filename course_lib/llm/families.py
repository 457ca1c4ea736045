"""The Hugging Face model families the kit prunes, and where each keeps its decoder blocks.

Wanda and SparseGPT prune the Linear layers inside the decoder blocks and leave the embeddings and
the output head dense. Each family keeps its blocks under another attribute path; GPT-2 multiplies
with a transposed ``Conv1D`` and holds its query, key and value projections side by side in one
matrix (``c_attn``), which the kit prunes as the three projections they are, as it does Llama's
separate ``q_proj``, ``k_proj`` and ``v_proj``. GPT-NeoX also fuses them (``query_key_value``, heads
interleaved), and the reference implementations prune that matrix as one layer; so does the kit.
"""

from dataclasses import dataclass

from torch import nn
from transformers.pytorch_utils import Conv1D

from ..pruning.calibration import LayerKind, register_layer_kind


@dataclass(frozen=True)
class Family:
    """Where a family keeps its decoder blocks (a dotted attribute path from the top model), and which
    layers hold several matrices side by side (layer-name suffix -> how many, split by rows)."""

    blocks: str
    fused: tuple = ()


FAMILIES = {
    "gpt2": Family("transformer.h", fused=(("attn.c_attn", 3),)),
    "opt": Family("model.decoder.layers"),
    "llama": Family("model.layers"),
    "mistral": Family("model.layers"),
    "qwen2": Family("model.layers"),
    "gpt_neox": Family("gpt_neox.layers"),
}


# GPT-2's Conv1D computes x @ W + b with W (in, out): its weight matrix is W transposed.
register_layer_kind(Conv1D, LayerKind(lambda layer: layer.weight.T, lambda layer, x: x.flatten(0, -2),
                                      lambda layer, t: t.T))


def family_of(model: nn.Module) -> str:
    """The family name of a ``transformers`` causal LM (its ``config.model_type``), or a clear error
    naming the supported ones."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in FAMILIES:
        raise ValueError(f"model must be a transformers causal LM of a supported family "
                         f"({', '.join(sorted(FAMILIES))}), got {type(model).__name__} with model_type "
                         f"{model_type!r}")
    return model_type


def decoder_blocks(model: nn.Module) -> nn.ModuleList:
    """The model's list of decoder blocks."""
    path = FAMILIES[family_of(model)].blocks
    blocks = model.get_submodule(path)
    if not isinstance(blocks, nn.ModuleList) or not len(blocks):
        raise ValueError(f"{type(model).__name__} has no decoder blocks at {path!r}")
    return blocks


def row_splits(model: nn.Module) -> dict[str, list[int]]:
    """{layer name: [rows, ...]} for the fused layers of ``model`` (GPT-2's c_attn: three equal parts)."""
    splits = {}
    for suffix, parts in FAMILIES[family_of(model)].fused:
        for name, module in model.named_modules():
            if name.endswith(suffix):
                rows = module.weight.shape[1] if isinstance(module, Conv1D) else module.weight.shape[0]
                splits[name] = [rows // parts] * parts
    return splits
