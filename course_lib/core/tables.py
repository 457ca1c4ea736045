"""Tables: the one formatter behind every table the kit prints (markdown in notebooks, aligned text in
terminals and benchmark reports).

Cells are formatted once: floats to 3 significant digits, integers with thousands separators,
strings as given (callers pre-format a cell as a string when it needs a special format).
"""

import numpy as np


def format_cell(value) -> str:
    """One cell: 3 significant digits for floats, thousands separators for ints, str() otherwise."""
    if isinstance(value, (float, np.floating)):
        return f"{value:.3g}"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def format_table(header: list[str], rows: list[list], style: str = "markdown") -> str:
    """``header`` and ``rows`` (lists of cells) as a ``"markdown"`` table or right-aligned ``"text"``."""
    if style not in ("markdown", "text"):
        raise ValueError(f"style must be 'markdown' or 'text', got {style!r}")
    cells = [list(map(str, header))] + [[format_cell(v) for v in row] for row in rows]
    if style == "markdown":
        lines = ["| " + " | ".join(row) + " |" for row in cells]
        return "\n".join(lines[:1] + ["|" + " --- |" * len(header)] + lines[1:])
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells)


def markdown_table(header: list[str], rows: list[list]) -> str:
    """``format_table`` in markdown, for ``display(Markdown(...))`` in a notebook."""
    return format_table(header, rows, "markdown")
