"""Structured pruning: dependency groups traced with torch.fx, group scores, physical removal."""

from .graph import (  # noqa: F401
    ELEMENTWISE_FUNCTIONS,
    ELEMENTWISE_METHODS,
    PASSTHROUGH_FUNCTIONS,
    PASSTHROUGH_METHODS,
    PASSTHROUGH_MODULES,
    RESHAPE_FUNCTIONS,
    RESHAPE_METHODS,
    ChannelGroup,
    channel_groups,
)
from .permutation import (  # noqa: F401
    CONVNET_CHAINS,
    permute_channels,
    permute_for_nm,
)
from .scores import (  # noqa: F401
    CRITERIA,
    channel_importance,
    group_scores,
    input_channel_norms,
    n_pruned,
    pruned_channels,
    pruned_overlap,
)
from .surgery import (  # noqa: F401
    keep_indices,
    prune_channels,
    prune_conv_pair,
    shrink_inputs,
    shrink_outputs,
)
from .transformer import (  # noqa: F401
    HEAD_METHODS,
    UNIT_METHODS,
    drop_head_columns,
    head_scores,
    mlp_unit_scores,
    prune_heads_and_units,
    remove_heads,
    remove_mlp_units,
)

__all__ = [
    "CONVNET_CHAINS",
    "CRITERIA",
    "ChannelGroup",
    "ELEMENTWISE_FUNCTIONS",
    "ELEMENTWISE_METHODS",
    "HEAD_METHODS",
    "PASSTHROUGH_FUNCTIONS",
    "PASSTHROUGH_METHODS",
    "PASSTHROUGH_MODULES",
    "RESHAPE_FUNCTIONS",
    "RESHAPE_METHODS",
    "UNIT_METHODS",
    "channel_groups",
    "channel_importance",
    "drop_head_columns",
    "group_scores",
    "head_scores",
    "input_channel_norms",
    "keep_indices",
    "mlp_unit_scores",
    "n_pruned",
    "permute_channels",
    "permute_for_nm",
    "prune_channels",
    "prune_conv_pair",
    "prune_heads_and_units",
    "pruned_channels",
    "pruned_overlap",
    "remove_heads",
    "remove_mlp_units",
    "shrink_inputs",
    "shrink_outputs",
]
