"""Text for a language model with its own tokenizer: calibration sequences and per-token perplexity.

The papers' protocol (Wanda and SparseGPT alike): calibration is 128 random windows of 2,048 tokens of
C4 training text; evaluation is the WikiText-2 test text, concatenated, tokenized by the model's own
tokenizer and cut into consecutive windows of the model's context; perplexity is exp of the mean
next-token loss over every scored token, **per token of that tokenizer**, so perplexities of models
with different tokenizers (or of the kit's character model, per character) do not compare.
"""

import torch

from ..analysis.language import perplexity, window_losses
from ..core.validation import check_positive_int
from ..data.text import random_windows, text_generator


def tokenize(tokenizer, text: str) -> torch.Tensor:
    """``text`` as one 1-D LongTensor of token ids (no truncation: it is cut into windows later)."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"text must be a non-empty string, got {type(text).__name__}")
    return torch.tensor(tokenizer(text, add_special_tokens=False)["input_ids"], dtype=torch.long)


def calibration_sequences(tokens: torch.Tensor, samples: int, seqlen: int, seed: int = 0) -> torch.Tensor:
    """``samples`` random windows (samples, seqlen) of the 1-D token ids ``tokens``, seeded."""
    check_positive_int("samples", samples)
    if len(tokens) <= seqlen:
        raise ValueError(f"the calibration text has {len(tokens)} tokens, not more than seqlen={seqlen}: "
                         "give a longer text or a smaller --seqlen")
    return random_windows(tokens, samples, seqlen, text_generator(seed))[0]


def token_perplexity(model, tokens: torch.Tensor, seqlen: int, batch_size: int = 4,
                     progress: bool = True) -> tuple[float, torch.Tensor]:
    """(perplexity per token, per-window mean losses (N,)) of a causal LM on consecutive windows of
    ``seqlen`` tokens of ``tokens`` (the WikiText protocol; windows are the same for every model, so two
    models compare paired with ``analysis.compare_losses``)."""
    if len(tokens) <= seqlen:
        raise ValueError(f"the evaluation text has {len(tokens)} tokens, not more than seqlen={seqlen}")
    losses = window_losses(model, tokens, None, batch_size=batch_size, context=seqlen, progress=progress)
    return perplexity(losses), losses
