"""TODO docstring."""

import numpy as np


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A markdown table; floats get 3 significant digits, ints thousands separators."""
    def cell(v):
        if isinstance(v, float):
            return f"{v:.3g}"
        return f"{v:,}" if isinstance(v, (int, np.integer)) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows])
