"""Run every benchmark and write the report to docs/benchmarks.md: ``make bench``.

Each ``benchmarks/bench_*.py`` module has a ``run() -> str`` that measures one thing and returns a
markdown section (a ``##`` heading, a short note on what was measured, a table of medians with
min-max). Benchmarks are never tests: timings depend on the machine, so they are reported, not asserted.
Pass module names (``python benchmarks/run.py bench_notebooks``) to run only some of them.
"""

import importlib
import os
import platform
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
REPORT = HERE.parent / "docs" / "benchmarks.md"
CLAIMS = HERE.parent / "docs" / "claims.md"  # written by `make claims`, too long to rerun here
sys.path.insert(0, str(HERE))

from common import cpu_model  # noqa: E402


def machine_header() -> str:
    return "\n".join(
        [
            "# Benchmarks",
            "",
            "Written by `make bench` (`python benchmarks/run.py`); every figure below was measured "
            "on the machine described here. Timings are medians with min-max over repeats.",
            "",
            f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
            f"- machine: {platform.machine()}, {cpu_model()}, {os.cpu_count()} cores, "
            f"{torch.get_num_threads()} torch threads",
            f"- Python {platform.python_version()}, torch {torch.__version__}",
            "",
        ]
    )


def claims_section() -> str:
    """The last ``make claims`` report (docs/claims.md, with its own date and machine) as a section."""
    if not CLAIMS.exists():
        return "## Claims under shifted seeds and thread counts\n\nNot measured yet: run `make claims`.\n"
    body = CLAIMS.read_text().split("\n", 1)[1]  # without its "# ..." title
    return ("## Claims under shifted seeds and thread counts (from docs/claims.md)\n"
            + body.replace("\n## ", "\n### "))  # its sections nest under this one


def main(names: list[str]) -> None:
    modules = names or sorted(p.stem for p in HERE.glob("bench_*.py"))
    sections = [machine_header()]
    for name in modules:
        print(f"running {name} ...", flush=True)
        sections.append(importlib.import_module(name).run().rstrip() + "\n")
    if not names:
        sections.append(claims_section())
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text("\n".join(sections))
    print(f"wrote {REPORT}")


if __name__ == "__main__":
    main(sys.argv[1:])
