"""Execution time and peak memory of every lesson notebook, and the whole course's time."""

import sys
import time
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
sys.path.insert(0, str(NOTEBOOKS.parent / "tools"))

from headless import lesson_client  # noqa: E402

BUDGET_S = 60  # per notebook on a 2-core CPU
COURSE_BUDGET_S = 240  # the whole course in at most 4 minutes


# Appended to a copy of each notebook: the kernel's peak resident memory in MiB. Linux's VmHWM belongs
# to the kernel's own address space (ru_maxrss would carry over the launching process's peak).
PEAK_MEMORY_CELL = (
    "print(int(next(line for line in open('/proc/self/status') if line.startswith('VmHWM'))"
    ".split()[1]) / 1024)"
)


def run_notebook(path: Path) -> tuple[float, float]:
    """(seconds, peak kernel memory in MiB) to execute ``path`` top to bottom in a new kernel.

    The time excludes kernel start-up and the memory probe appended at the end."""
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(PEAK_MEMORY_CELL))
    client = lesson_client(notebook, path.parent, timeout=600)
    with client.setup_kernel():
        start = time.perf_counter()
        for index, cell in enumerate(notebook.cells[:-1]):
            client.execute_cell(cell, index)
        seconds = time.perf_counter() - start
        client.execute_cell(notebook.cells[-1], len(notebook.cells) - 1)
    return seconds, float(notebook.cells[-1].outputs[0]["text"])


def run() -> str:
    rows, total = [], 0.0
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        seconds, peak_mib = run_notebook(path)
        total += seconds
        within = "yes" if seconds <= BUDGET_S else "**no**"
        rows.append(f"| {path.stem} | {seconds:.1f} | {within} | {peak_mib:.0f} |")
    return "\n".join(
        [
            "## Notebook execution time",
            "",
            "Each notebook executed once, top to bottom, in a fresh kernel, as nbval runs them "
            f"(the cells only, kernel start-up excluded). Budget: {BUDGET_S} s per notebook, "
            f"{COURSE_BUDGET_S} s for the course. Peak memory is the kernel's maximum resident set size.",
            "",
            "| notebook | seconds | within budget | peak memory (MiB) |",
            "| --- | ---: | --- | ---: |",
            *rows,
            f"| **whole course** | **{total:.1f}** | {'yes' if total <= COURSE_BUDGET_S else '**no**'} | |",
        ]
    )
