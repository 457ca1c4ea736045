"""Prune a Hugging Face causal language model after training: the kit's one post-training pipeline
(``recipes.prune_post_training``), block by block, on the CPU or with each block visiting a GPU.

    from transformers import AutoModelForCausalLM
    from course_lib import llm

    model = AutoModelForCausalLM.from_pretrained("facebook/opt-125m")
    report = llm.prune_causal_lm(model, calibration, method="wanda", sparsity=0.5)   # in place
    print(report.table())
"""

import torch
from torch import nn

from ..core.validation import check_positive_int
from ..pruning.calibration import layer_kind
from ..recipes.post_training import PruningReport, get_method, prunable_layers, prune_post_training
from .families import decoder_blocks, family_of, row_splits


def check_calibration(calibration) -> torch.Tensor:
    """Calibration token ids: an integer tensor (B, T) with B, T >= 1."""
    if not isinstance(calibration, torch.Tensor):
        raise TypeError(f"calibration must be a LongTensor (B, T) of token ids, "
                        f"got {type(calibration).__name__}")
    integer = calibration.dtype in (torch.int64, torch.int32)
    if not integer or calibration.dim() != 2 or 0 in calibration.shape:
        raise ValueError(f"calibration must be an integer tensor (B, T) of token ids, got "
                         f"{calibration.dtype} of shape {tuple(calibration.shape)}")
    return calibration.long()


def check_pattern_fits(model: nn.Module, n: int, m: int) -> None:
    """An error naming the first block layer whose input width K the N:M pattern's ``m`` does not divide."""
    for name, layer in prunable_layers(model, decoder_blocks(model)).items():
        width = layer_kind(layer).matrix(layer).shape[1]
        if width % m:
            raise ValueError(f"an {n}:{m} pattern needs the input width of every pruned layer to be a "
                             f"multiple of m={m}; {name} has {width} inputs")


@torch.no_grad()
def prune_causal_lm(model: nn.Module, calibration: torch.Tensor | None, *, method: str = "wanda",
                    sparsity: float | None = None, n: int | None = None, m: int | None = None,
                    batch_size: int = 8, device=None, progress: bool = True) -> PruningReport:
    """Prune the Linear (or GPT-2 ``Conv1D``) layers inside the decoder blocks of ``model``, in place.

    ``model``: a ``transformers`` causal LM of a supported family (GPT-2, OPT, Llama / Mistral / Qwen2,
    GPT-NeoX). ``calibration``: token ids (B, T) of calibration text (None only for ``"magnitude"``).
    ``method``: ``"magnitude"`` (one threshold per layer, the Wanda paper's baseline),
    ``"magnitude_per_row"``, ``"wanda"`` or ``"sparsegpt"``. Give ``sparsity`` (unstructured) or ``n``
    and ``m`` (N:M along the input dimension; every pruned layer must fit it). The blocks are pruned in
    order, each calibrated on what the pruned blocks before it produce, ``batch_size`` calibration
    sequences per forward pass; with ``device`` (``"cuda"``) each block moves there for its turn and
    back, so peak GPU memory is one block plus the calibration activations. Embeddings and the output
    head stay dense. Returns the report: per-layer sparsity and relative output error on calibration.
    """
    family_of(model)  # a clear error for an unsupported model, before anything runs
    get_method(method)
    check_positive_int("batch_size", batch_size)
    if n is not None and m is not None:
        check_pattern_fits(model, n, m)
    calibration = None if calibration is None else check_calibration(calibration)
    _, report = prune_post_training(model, calibration, method, sparsity=sparsity, n=n, m=m,
                                    blocks=decoder_blocks(model), row_splits=row_splits(model),
                                    batch_size=batch_size, forward_kwargs={"use_cache": False},
                                    device=device, strict=True, inplace=True, progress=progress)
    return report
