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
from .toy import (  # noqa: F401
    TinyNet,
    tabular_mlp,
)
from .transformer import (  # noqa: F401
    Block,
    CausalSelfAttention,
    CharConfig,
    CharTransformer,
    FeedForward,
    generate,
    next_token_loss,
    rescale_features,
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
    "TinyNet",
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
    "next_token_loss",
    "predicted_compression",
    "rescale_features",
    "sha256_of",
    "tabular_mlp",
    "weight_shares",
]
