"""Execution time of every lesson notebook, and of the whole course, with a fresh kernel each."""

import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
BUDGET_S = 60  # per notebook on a 2-core CPU; the whole course in at most 6 minutes


def time_notebook(path: Path) -> float:
    """Seconds to execute ``path`` top to bottom in a new kernel (kernel start-up included)."""
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    resources = {"metadata": {"path": str(path.parent)}}  # run in notebooks/, as JupyterLab does
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources=resources).execute()
    return time.perf_counter() - start


def run() -> str:
    rows, total = [], 0.0
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        seconds = time_notebook(path)
        total += seconds
        rows.append(f"| {path.stem} | {seconds:.1f} | {'yes' if seconds <= BUDGET_S else '**no**'} |")
    return "\n".join(
        [
            "## Notebook execution time",
            "",
            "Each notebook executed once, top to bottom, in a fresh kernel (start-up included), as nbval "
            f"runs them. Budget: {BUDGET_S} s per notebook, 360 s for the course.",
            "",
            "| notebook | seconds | within budget |",
            "| --- | ---: | --- |",
            *rows,
            f"| **whole course** | **{total:.1f}** | {'yes' if total <= 360 else '**no**'} |",
        ]
    )
