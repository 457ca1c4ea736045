"""What a lesson's first cell costs: a Jupyter kernel's time and resident memory for the lessons' imports.

Every lesson starts with ``import torch``, matplotlib and ``from course_lib import ...``. On a class
server the memory is paid once per student, so it is measured here for the working tree's
``course_lib`` and for a baseline: by default the last landed version of the library before the
current commit (``git log`` of ``course_lib/``), or any commit given in ``BENCH_IMPORTS_BASELINE``.
The baseline's ``course_lib/`` is exported with ``git archive`` into a temporary folder and put first
on the kernel's ``PYTHONPATH`` (the kernel reports the file it imported, so a mix-up cannot pass
unnoticed). Each version runs in fresh kernels with ``HOME`` pointed at an empty temporary folder,
which also shows which files an import writes into a user's home.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
from jupyter_client import KernelManager

ROOT = Path(__file__).resolve().parent.parent
REPEATS = 3  # fresh kernels per version and import set
IMPORT_SETS = {
    "import torch": "import torch",
    "a lesson's imports (the union over lessons 00-11)": (
        "import matplotlib.pyplot as plt\n"
        "import torch\n"
        "from course_lib import analysis, core, data, hardware, models, plots, pruning, recipes, structured, "
        "train, widgets"
    ),
}
# Runs in the kernel: times the imports, then reports the file course_lib came from (None if not imported).
PROBE = """
import json as _json, sys as _sys, time as _time
_start = _time.perf_counter()
exec({imports!r})
_seconds = _time.perf_counter() - _start
_where = getattr(_sys.modules.get("course_lib"), "__file__", None)
print(_json.dumps({{"seconds": _seconds, "course_lib": _where}}))
"""


def baseline_commit() -> str:
    """``BENCH_IMPORTS_BASELINE``, else the commit before HEAD's last change to ``course_lib/``."""
    chosen = os.environ.get("BENCH_IMPORTS_BASELINE")
    if chosen:
        return subprocess.run(["git", "rev-parse", "--short", chosen], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()
    commits = subprocess.run(["git", "log", "-2", "--format=%h", "--", "course_lib"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.split()
    return commits[-1]


def export_library(commit: str, folder: Path) -> Path:
    """``course_lib/`` as it was at ``commit``, extracted into ``folder``."""
    archive = subprocess.run(["git", "archive", commit, "course_lib"], cwd=ROOT, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def measure_once(imports: str, library_root: Path) -> dict:
    """One fresh kernel: seconds for ``imports``, resident bytes after them, files written under HOME."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "HOME": home, "PYTHONPATH": str(library_root), "MPLBACKEND": "agg"}
        manager = KernelManager(kernel_name="python3")
        manager.start_kernel(cwd=home, env=env, extra_arguments=["--HistoryManager.enabled=False"])
        client = manager.client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=120)
            printed = []
            reply = client.execute_interactive(
                PROBE.format(imports=imports), timeout=300,
                output_hook=lambda msg: printed.append(msg["content"].get("text", "")))
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"the imports failed in the kernel: {reply['content'].get('evalue')}")
            result = json.loads("".join(printed).strip().splitlines()[-1])
            result["rss"] = psutil.Process(manager.provisioner.process.pid).memory_info().rss
            written = (p for p in Path(home).rglob("*") if p.is_file())
            result["home_files"] = sorted(str(p.relative_to(home)) for p in written)
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    return result


def measure(imports: str, library_root: Path) -> dict:
    """Median and range over ``REPEATS`` fresh kernels; checks each kernel imported the intended library."""
    runs = [measure_once(imports, library_root) for _ in range(REPEATS)]
    for run in runs:
        if run["course_lib"] is not None and not run["course_lib"].startswith(str(library_root)):
            raise RuntimeError(f"the kernel imported {run['course_lib']}, not the library in {library_root}")
    seconds, rss = [r["seconds"] for r in runs], [r["rss"] / 2**20 for r in runs]
    return {"seconds": (statistics.median(seconds), min(seconds), max(seconds)),
            "mib": (statistics.median(rss), min(rss), max(rss)),
            "home_files": sorted({f for r in runs for f in r["home_files"]})}


def cell(stats: tuple[float, float, float], unit: str, digits: int) -> str:
    median, low, high = stats
    return f"{median:.{digits}f} {unit} ({low:.{digits}f}-{high:.{digits}f})"


def run() -> str:
    baseline = baseline_commit()
    with tempfile.TemporaryDirectory() as old:
        versions = {"working tree": ROOT, f"baseline {baseline}": export_library(baseline, Path(old))}
        results = {(version, name): measure(imports, root)
                   for version, root in versions.items() for name, imports in IMPORT_SETS.items()}
    lines = ["## Lesson imports: kernel time and memory", "",
             f"Fresh `python3` kernels ({sys.executable}), {REPEATS} per row, median (min-max): the "
             "seconds the imports take inside the kernel and the kernel's resident memory after them. The "
             f"baseline is the library at commit {baseline}, exported and imported in its own kernels.", "",
             "| library | imports | time | resident memory | files written under HOME |",
             "| --- | --- | --- | --- | --- |"]
    for (version, name), result in results.items():
        written = ", ".join(f"`{f}`" for f in result["home_files"]) or "none"
        lines.append(f"| {version} | {name} | {cell(result['seconds'], 's', 2)} | "
                     f"{cell(result['mib'], 'MiB', 0)} | {written} |")
    lesson = list(IMPORT_SETS)[1]
    now, before = results["working tree", lesson], results[f"baseline {baseline}", lesson]
    torch_now = results["working tree", "import torch"]
    lines += ["", f"Over `import torch`, a lesson's imports now add "
              f"{now['seconds'][0] - torch_now['seconds'][0]:.2f} s and "
              f"{now['mib'][0] - torch_now['mib'][0]:.0f} MiB; at {baseline} they took "
              f"{before['seconds'][0]:.2f} s and {before['mib'][0]:.0f} MiB in all "
              f"(now {now['seconds'][0]:.2f} s, {now['mib'][0]:.0f} MiB)."]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
