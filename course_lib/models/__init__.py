"""The lessons' models, their shipped hash-checked checkpoints, and reference architectures."""

from .checkpoints import (  # noqa: F401
    CHECKPOINT_DIR,
    CHECKPOINTS,
    REBUILD_COMMAND,
    checkpoint_path,
    load_pretrained,
    load_state_dict,
    sha256_of,
)
from .convnets import (  # noqa: F401
    MLP,
    BasicBlock,
    ConvNet,
    TinyResNet,
)
from .reference import (  # noqa: F401
    HAN2015_ALEXNET_KEPT,
    INDUSTRY_CNNS,
    INDUSTRY_TRANSFORMERS,
    LECTURE_TABLE,
    han2015_alexnet_after_pruning,
    han2015_kept_by_kind,
    industry_model,
    kept_parameters,
    landmark_model,
    predicted_compression,
    weight_shares,
)
from .transformer import (  # noqa: F401
    Block,
    CausalSelfAttention,
    CharConfig,
    CharTransformer,
    FeedForward,
    generate,
)

__all__ = [
    "BasicBlock",
    "Block",
    "CHECKPOINTS",
    "CHECKPOINT_DIR",
    "CausalSelfAttention",
    "CharConfig",
    "CharTransformer",
    "ConvNet",
    "FeedForward",
    "HAN2015_ALEXNET_KEPT",
    "INDUSTRY_CNNS",
    "INDUSTRY_TRANSFORMERS",
    "LECTURE_TABLE",
    "MLP",
    "REBUILD_COMMAND",
    "TinyResNet",
    "checkpoint_path",
    "generate",
    "han2015_alexnet_after_pruning",
    "han2015_kept_by_kind",
    "industry_model",
    "kept_parameters",
    "landmark_model",
    "load_pretrained",
    "load_state_dict",
    "predicted_compression",
    "sha256_of",
    "weight_shares",
]
