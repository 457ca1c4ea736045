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
    pruned_overlap,
)
from .surgery import (  # noqa: F401
    keep_indices,
    prune_channels,
    prune_conv_pair,
    shrink_inputs,
    shrink_outputs,
)

__all__ = [
    "CONVNET_CHAINS",
    "CRITERIA",
    "ChannelGroup",
    "ELEMENTWISE_FUNCTIONS",
    "ELEMENTWISE_METHODS",
    "PASSTHROUGH_FUNCTIONS",
    "PASSTHROUGH_METHODS",
    "PASSTHROUGH_MODULES",
    "RESHAPE_FUNCTIONS",
    "RESHAPE_METHODS",
    "channel_groups",
    "channel_importance",
    "group_scores",
    "input_channel_norms",
    "keep_indices",
    "n_pruned",
    "permute_channels",
    "permute_for_nm",
    "prune_channels",
    "prune_conv_pair",
    "pruned_overlap",
    "shrink_inputs",
    "shrink_outputs",
]
