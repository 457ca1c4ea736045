"""Structured pruning: dependency groups traced with torch.fx, group scores, physical removal."""

from .graph import (  # noqa: F401
    ChannelGroup,
    Slots,
    channel_groups,
)
from .ops import (  # noqa: F401
    FUNCTION_OPS,
    METHOD_OPS,
    MODULE_OPS,
    OP_KINDS,
    features_per_channel,
    op_kind,
)
from .permutation import (  # noqa: F401
    permutation_chains,
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
    taylor_scores,
)
from .surgery import (  # noqa: F401
    keep_indices,
    prune_channels,
    prune_conv_pair,
    prune_groups,
    resolve_group_scores,
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
    "CRITERIA",
    "ChannelGroup",
    "FUNCTION_OPS",
    "HEAD_METHODS",
    "METHOD_OPS",
    "MODULE_OPS",
    "OP_KINDS",
    "Slots",
    "UNIT_METHODS",
    "channel_groups",
    "channel_importance",
    "drop_head_columns",
    "features_per_channel",
    "group_scores",
    "head_scores",
    "input_channel_norms",
    "keep_indices",
    "mlp_unit_scores",
    "n_pruned",
    "op_kind",
    "permutation_chains",
    "permute_channels",
    "permute_for_nm",
    "prune_channels",
    "prune_conv_pair",
    "prune_groups",
    "prune_heads_and_units",
    "pruned_channels",
    "pruned_overlap",
    "remove_heads",
    "remove_mlp_units",
    "resolve_group_scores",
    "shrink_inputs",
    "shrink_outputs",
    "taylor_scores",
]
