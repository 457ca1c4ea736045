"""Figures. One contract: take computed results, draw on a matplotlib Axes, return it.

Every ``plot_*`` function takes results that ``course_lib`` computed (masks, reports, tables,
studies), draws them on the ``ax`` it is given (None: the current Axes, ``plt.gca()``) and returns
that Axes. A figure that needs several panels takes ``axes`` (a sequence; None: a new row of
subplots) and returns the array of Axes. Nothing here computes a mask, runs a simulator or a
model. Titles, axis labels with units and colour-blind-safe maps (viridis, cividis) throughout.
"""

from .accelerator import (  # noqa: F401
    TRAFFIC_PARTS,
    plot_dataflows,
    plot_outer_product,
    plot_roofline,
    plot_spilled,
    plot_traffic_and_cycles,
    plot_traffic_breakdown,
)
from .bars import (  # noqa: F401
    CHART,
    plot_before_after,
    plot_benefits,
    plot_energy_table,
    plot_pattern_comparison,
    plot_seed_bars,
    plot_weight_histogram,
)
from .channels import (  # noqa: F401
    ROLES,
    plot_channel_scores,
    plot_criteria_overlap,
    plot_groups,
    plot_sensitivity,
    plot_speedups,
)
from .compare import (  # noqa: F401
    plot_paired_comparison,
)
from .curves import (  # noqa: F401
    plot_accuracy_curves,
    plot_runs,
    plot_storage,
)
from .language import (  # noqa: F401
    plot_activation_norms,
    plot_perplexity_bars,
    plot_perplexity_vs_parameters,
)
from .masks import (  # noqa: F401
    mask_image,
    plot_granularities,
    plot_mask,
    plot_nm_pattern,
)
from .style import (  # noqa: F401
    palette,
    panels,
)
from .supports import (  # noqa: F401
    plot_l0_study,
    plot_supports,
)
from .tradeoffs import (  # noqa: F401
    plot_gating_tradeoff,
    plot_index_bits_tradeoff,
    plot_layer_latency,
    plot_search,
)

__all__ = [
    "CHART",
    "ROLES",
    "TRAFFIC_PARTS",
    "mask_image",
    "palette",
    "panels",
    "plot_accuracy_curves",
    "plot_activation_norms",
    "plot_before_after",
    "plot_benefits",
    "plot_channel_scores",
    "plot_criteria_overlap",
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
    "plot_outer_product",
    "plot_paired_comparison",
    "plot_pattern_comparison",
    "plot_perplexity_bars",
    "plot_perplexity_vs_parameters",
    "plot_roofline",
    "plot_runs",
    "plot_search",
    "plot_seed_bars",
    "plot_sensitivity",
    "plot_speedups",
    "plot_spilled",
    "plot_storage",
    "plot_supports",
    "plot_traffic_and_cycles",
    "plot_traffic_breakdown",
    "plot_weight_histogram",
]
