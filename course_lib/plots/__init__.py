"""Figures. One contract: take computed results, draw on a matplotlib Axes, return it."""

from .accelerator import (  # noqa: F401
    TRAFFIC_PARTS,
    draw_outer_product,
    plot_dataflows,
    plot_roofline,
    plot_spilled,
    plot_traffic_and_cycles,
    plot_traffic_breakdown,
)
from .channels import (  # noqa: F401
    ROLES,
    plot_channel_ranking,
    plot_groups,
    plot_sensitivity,
    plot_speedups,
)
from .curves import (  # noqa: F401
    plot_accuracy_curves,
)
from .energy import (  # noqa: F401
    plot_energy_table,
)
from .formats import (  # noqa: F401
    plot_storage,
)
from .l0 import (  # noqa: F401
    plot_l0_study,
    plot_supports,
)
from .masks import (  # noqa: F401
    mask_image,
    plot_before_after,
    plot_granularities,
    plot_index_bits_tradeoff,
    plot_mask,
)
from .nm import (  # noqa: F401
    plot_nm_pattern,
    plot_pattern_comparison,
)
from .schedules import (  # noqa: F401
    plot_runs,
)
from .style import (  # noqa: F401
    palette,
)
from .trends import (  # noqa: F401
    CHART,
    plot_benefits,
    plot_gating_tradeoff,
    plot_layer_latency,
    plot_search,
)
from .weights import (  # noqa: F401
    plot_weight_histogram,
)

__all__ = [
    "CHART",
    "ROLES",
    "TRAFFIC_PARTS",
    "draw_outer_product",
    "mask_image",
    "palette",
    "plot_accuracy_curves",
    "plot_before_after",
    "plot_benefits",
    "plot_channel_ranking",
    "plot_dataflows",
    "plot_energy_table",
    "plot_gating_tradeoff",
    "plot_granularities",
    "plot_groups",
    "plot_index_bits_tradeoff",
    "plot_l0_study",
    "plot_layer_latency",
    "plot_mask",
    "plot_nm_pattern",
    "plot_pattern_comparison",
    "plot_roofline",
    "plot_runs",
    "plot_search",
    "plot_sensitivity",
    "plot_speedups",
    "plot_spilled",
    "plot_storage",
    "plot_supports",
    "plot_traffic_and_cycles",
    "plot_traffic_breakdown",
    "plot_weight_histogram",
]
