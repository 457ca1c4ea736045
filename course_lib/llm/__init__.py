"""Pruning Hugging Face causal language models with the kit's one post-training pipeline (the
``llm`` extra: ``pip install -e ".[llm]"``), and its command line, ``python -m course_lib.llm``."""

from .convert import (  # noqa: F401
    to_hf_gpt2,
)
from .families import (  # noqa: F401
    FAMILIES,
    Family,
    decoder_blocks,
    family_of,
    row_splits,
)
from .memory import (  # noqa: F401
    GIB,
    MemoryEstimate,
    available_bytes,
    estimate,
    measured_flops_per_second,
    meta_model,
)
from .prune import (  # noqa: F401
    check_calibration,
    check_pattern_fits,
    prune_causal_lm,
)
from .text import (  # noqa: F401
    calibration_sequences,
    token_perplexity,
    tokenize,
)

__all__ = [
    "FAMILIES",
    "Family",
    "GIB",
    "MemoryEstimate",
    "available_bytes",
    "calibration_sequences",
    "check_calibration",
    "check_pattern_fits",
    "decoder_blocks",
    "estimate",
    "family_of",
    "measured_flops_per_second",
    "meta_model",
    "prune_causal_lm",
    "row_splits",
    "to_hf_gpt2",
    "token_perplexity",
    "tokenize",
]
