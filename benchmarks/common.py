"""Shared helpers for the benchmark modules and ``make claims``: timing, formatting, the CPU's name."""

import platform
import statistics
import time
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (Linux), else what the platform module knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def time_call(fn, repeats: int = 5, warmup: int = 1) -> tuple[float, float, float]:
    """(median, min, max) seconds of ``fn()`` over ``repeats`` runs after ``warmup`` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def fmt_seconds(stats: tuple[float, float, float]) -> str:
    """'0.123 s (0.120-0.130)' from (median, min, max)."""
    median, low, high = stats
    return f"{median:.3f} s ({low:.3f}-{high:.3f})"
