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


def cpu_model() -> str:
    """The CPU's model name (Linux), else what the platform module knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


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


def main(names: list[str]) -> None:
    sys.path.insert(0, str(HERE))
    modules = names or sorted(p.stem for p in HERE.glob("bench_*.py"))
    sections = [machine_header()]
    for name in modules:
        print(f"running {name} ...", flush=True)
        sections.append(importlib.import_module(name).run().rstrip() + "\n")
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text("\n".join(sections))
    print(f"wrote {REPORT}")


if __name__ == "__main__":
    main(sys.argv[1:])
