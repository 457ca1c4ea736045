"""Layer 0: argument checks, the one top-k selection, module helpers, bit packing, tables."""

from .bits import (  # noqa: F401
    pack_bits,
    position_bits,
    unpack_bits,
)
from .modules import (  # noqa: F401
    NORM_TYPES,
    PRUNABLE_TYPES,
    apply_masks,
    check_example_input,
    eval_mode,
    hooks_attached,
    parameter_owner,
    prunable_parameters,
    prunable_weights,
    set_submodule,
)
from .paths import (  # noqa: F401
    DATA_DIR,
)
from .seeds import (  # noqa: F401
    SEED_OFFSET_VARIABLE,
    seed_offset,
    shifted,
)
from .selection import (  # noqa: F401
    keep_largest,
    keep_largest_many,
    keep_largest_per_row,
)
from .tables import (  # noqa: F401
    format_cell,
    format_table,
    markdown_table,
)
from .validation import (  # noqa: F401
    check_choice,
    check_fraction,
    check_int_in_range,
    check_positive_int,
    check_positive_number,
)

__all__ = [
    "check_example_input",
    "DATA_DIR",
    "NORM_TYPES",
    "PRUNABLE_TYPES",
    "SEED_OFFSET_VARIABLE",
    "apply_masks",
    "check_choice",
    "check_fraction",
    "check_int_in_range",
    "check_positive_int",
    "check_positive_number",
    "eval_mode",
    "hooks_attached",
    "format_cell",
    "format_table",
    "keep_largest",
    "keep_largest_many",
    "keep_largest_per_row",
    "markdown_table",
    "pack_bits",
    "parameter_owner",
    "position_bits",
    "prunable_parameters",
    "prunable_weights",
    "seed_offset",
    "set_submodule",
    "shifted",
    "unpack_bits",
]
