"""Do the lessons' claims hold on every machine? ``make claims`` (``python benchmarks/claims.py``).

Every notebook in notebooks/ is executed top to bottom in a fresh kernel once per seed shift K
(``COURSE_SEED_OFFSET=K``, see course_lib/core/seeds.py) and torch thread count T (``OMP_NUM_THREADS``
and ``MKL_NUM_THREADS``, which torch reads when it starts). A failing ``assert`` is recorded with its
notebook, cell index (0-based, counting markdown cells, as in the .ipynb file) and message, and the run
goes on with the next cell, so one run can report several fragile claims; any other error (or a cell
past ``--timeout``) ends that run. The kernel runs as nbgrader grades (``NBGRADER_EXECUTION`` set), so
an exercise check that fails on the solution notebook raises and counts as a failed claim too. Runs
are serial: two lessons at once on a 2-core machine would disturb each other's timings and latency
claims.

Incremental. After each run the kernel reports which of the kit's modules the lesson imported; a
lesson's **hash** covers its notebook file and those modules' source files. Every lesson's runs, hash
and modules are recorded beside the report (docs/claims.json). With ``--changed`` a lesson is rerun
only when its hash differs from the recorded one, or the record lacks one of the requested (K, T)
runs; otherwise its recorded runs are reported again as they were.

The report goes to docs/claims.md: a lesson x (K, T) pass/fail table, every failure, and for each
lesson the hash, commit and date its runs come from. A summary is printed at the end, and the exit
status is 1 when any run failed.

    python benchmarks/claims.py                                   # K = 0..9, T = 1, 2, every lesson
    python benchmarks/claims.py --seeds 0-1 --threads 1 --notebooks 07
    make claims ARGS="--seeds 0-4 --notebooks 05,09"
    make claims ARGS=--changed                                    # only lessons whose hash changed
    make claims ARGS=--report-only                                # the report from the record alone
"""

import argparse
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
import torch
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tools"))

from common import cpu_model  # noqa: E402
from headless import lesson_client  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
REPORT = ROOT / "docs" / "claims.md"
SEED_VARIABLE = "COURSE_SEED_OFFSET"  # course_lib.core.seeds.SEED_OFFSET_VARIABLE
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
GRADING_VARIABLE = "NBGRADER_EXECUTION"  # course_lib.checks.GRADING_VARIABLE: a failed check raises
DEFAULT_SEEDS = "0-9"
DEFAULT_THREADS = "1,2"
DEFAULT_TIMEOUT_S = 120  # per cell, as nbval's --nbval-cell-timeout in pyproject.toml

# Run in the lesson's kernel after its cells: the source files of the kit's modules it imported.
MODULES_PROBE = """\
import json as _json, sys as _sys
print(_json.dumps(sorted({m.__file__ for n, m in list(_sys.modules.items())
                          if n.split(".")[0] == "course_lib" and getattr(m, "__file__", None)})))"""

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FAILING_LINE = re.compile(r"^-+>\s*\d+\s+(.*)$")  # IPython marks the failing line "----> 12 assert ..."


# --- parsing the options ---------------------------------------------------------------------------


def parse_int_list(name: str, text: str) -> list[int]:
    """``"0-3,7"`` -> ``[0, 1, 2, 3, 7]``: comma-separated integers and inclusive ranges, in order,
    without repeats."""
    values = []
    for part in text.split(","):
        part = part.strip()
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise ValueError(f"{name} must look like '0-9' or '1,2' (integers >= 0), got {text!r}")
        low, high = int(match.group(1)), int(match.group(2) or match.group(1))
        if high < low:
            raise ValueError(f"{name}: range {part!r} runs backwards; write it as {high}-{low}")
        values += [v for v in range(low, high + 1) if v not in values]
    return values


def parse_threads(text: str) -> list[int]:
    threads = parse_int_list("--threads", text)
    if 0 in threads:
        raise ValueError(f"--threads must be thread counts >= 1, got {text!r}")
    return threads


def select_notebooks(selection: str | None, directory: Path = NOTEBOOKS) -> list[Path]:
    """The notebooks in ``directory`` whose names start with one of the comma-separated prefixes
    (``"05,09"``, ``"07_sparse_formats"``); all of them when ``selection`` is empty."""
    available = sorted(Path(directory).glob("*.ipynb"))
    if not available:
        raise ValueError(f"no notebooks (*.ipynb) in {directory}")
    if not selection:
        return available
    chosen = []
    for prefix in (p.strip() for p in selection.split(",") if p.strip()):
        matches = [path for path in available if path.stem.startswith(prefix)]
        if not matches:
            names = ", ".join(path.stem for path in available)
            raise ValueError(f"--notebooks: no notebook starts with {prefix!r}; choose from {names}")
        chosen += [path for path in matches if path not in chosen]
    return chosen


# --- running one notebook --------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """One failing cell of one run."""

    notebook: str
    seed: int
    threads: int
    cell: int  # index in the notebook's cells, 0-based, markdown cells included
    kind: str  # "AssertionError", another exception name, or "timeout"
    line: str  # the source line that failed (for an assert: the claim itself)
    message: str  # the assertion's message (may be empty)


@dataclass
class Run:
    notebook: str
    seed: int
    threads: int
    seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)  # the kit's source files it imported, from ROOT

    @property
    def status(self) -> str:
        if not self.failures:
            return "pass"
        return "fail" if all(f.kind == "AssertionError" for f in self.failures) else "error"


def failing_line(traceback: str, source: str) -> str:
    """The line IPython's traceback marks with an arrow (the innermost one, in the cell's own code if
    that is where it is); failing that, the cell's last line."""
    lines = [_FAILING_LINE.match(line.strip()) for line in _ANSI.sub("", traceback).splitlines()]
    marked = [m.group(1).strip() for m in lines if m]
    in_cell = [line for line in marked if line in source]
    if in_cell:
        return in_cell[-1]
    if marked:
        return marked[0]
    code = [line.strip() for line in source.splitlines() if line.strip()]
    return code[-1] if code else ""


def kernel_environment(seed: int, threads: int) -> dict:
    env = dict(os.environ)
    env[SEED_VARIABLE] = str(seed)
    for name in THREAD_VARIABLES:
        env[name] = str(threads)
    env[GRADING_VARIABLE] = "autograde"  # the solutions' checks must pass, as under nbgrader
    return env


def imported_modules(client, root: Path = ROOT) -> list[str]:
    """The kit's module files the kernel of ``client`` imported, relative to ``root`` ([] if unknown)."""
    probe = nbformat.v4.new_code_cell(MODULES_PROBE)
    client.nb.cells.append(probe)  # nbclient stores each executed cell back into its notebook
    try:
        client.execute_cell(probe, len(client.nb.cells) - 1)
        files = json.loads("".join(o.get("text", "") for o in probe.outputs if o.get("name") == "stdout"))
    except Exception:  # a dead kernel, or a probe past the timeout: the modules stay unknown
        return []
    root = root.resolve()
    paths = [Path(f).resolve() for f in files]
    return sorted(p.relative_to(root).as_posix() for p in paths if p.is_relative_to(root))


def lesson_hash(notebook: Path, modules: list[str], root: Path = ROOT) -> str:
    """sha256 (16 hex digits) of the notebook file and of each module file (paths relative to
    ``root``), with their names: any edit to the lesson or to the library code it ran changes it, and
    a deleted module counts as a change."""
    digest = hashlib.sha256()
    for name, path in [(Path(notebook).name, Path(notebook)), *((m, root / m) for m in sorted(modules))]:
        digest.update(name.encode() + b"\0")
        digest.update(path.read_bytes() if path.exists() else b"<missing>")
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def run_notebook(path: Path, seed: int, threads: int, timeout: int = DEFAULT_TIMEOUT_S) -> Run:
    """Execute ``path`` in a fresh kernel with seed shift ``seed`` and ``threads`` torch threads, and
    record which of the kit's modules it imported."""
    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    run = Run(path.stem, seed, threads)
    client = lesson_client(notebook, path.parent, timeout)

    def fail(index, kind, line, message):
        run.failures.append(Failure(path.stem, seed, threads, index, kind, line, message))

    start = time.perf_counter()
    with client.setup_kernel(env=kernel_environment(seed, threads)):
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as error:
                fail(index, error.ename, failing_line(error.traceback, cell.source), error.evalue)
                if error.ename != "AssertionError":
                    break  # later cells would only fail because this one did
            except CellTimeoutError:
                fail(index, "timeout", "", f"cell ran past --timeout {timeout} s")
                break
            except DeadKernelError as error:
                fail(index, "DeadKernelError", "", str(error))
                break
        run.seconds = time.perf_counter() - start
        run.modules = imported_modules(client)
    return run


# --- the record: what each lesson ran, and its runs ------------------------------------------------


def git_commit(root: Path = ROOT) -> str:
    """The checked-out commit (short), marked "+changes" when the work tree differs from it."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+changes" if dirty else "")


def load_record(path: Path) -> dict:
    """{lesson: {"hash", "modules", "commit", "date", "runs": [Run as a dict]}} from ``path``, {} if none."""
    return json.loads(Path(path).read_text())["lessons"] if Path(path).exists() else {}


def save_record(path: Path, lessons: dict) -> None:
    Path(path).write_text(json.dumps({"lessons": lessons}, indent=1, sort_keys=True) + "\n")


def run_from_dict(data: dict) -> Run:
    return Run(**{**data, "failures": [Failure(**f) for f in data["failures"]]})


def unchanged_runs(path: Path, entry: dict | None, wanted: set, root: Path = ROOT) -> list[Run] | None:
    """The recorded runs of lesson ``path`` for the (seed, threads) pairs in ``wanted`` when its hash
    is unchanged and every pair was run; ``None`` when the lesson must run again."""
    if not entry or not entry["modules"] or entry["hash"] != lesson_hash(path, entry["modules"], root):
        return None
    runs = {(r["seed"], r["threads"]): r for r in entry["runs"]}
    if not wanted <= runs.keys():
        return None
    return [run_from_dict(runs[pair]) for pair in sorted(wanted)]


def record_entry(path: Path, runs: list[Run], root: Path = ROOT) -> dict:
    """A lesson's record after running it now: its runs, the modules they imported, its hash (an
    unknown module list, from a run that died, leaves the lesson to run again next time)."""
    modules = sorted({m for r in runs for m in r.modules}) if all(r.modules for r in runs) else []
    return {"hash": lesson_hash(path, modules, root), "modules": modules, "commit": git_commit(root),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "runs": [asdict(r) for r in runs]}


# --- reporting -------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _column(seed: int, threads: int) -> str:
    return f"K={seed} T={threads}"


def machine_line() -> str:
    return (f"{platform.machine()}, {cpu_model()}, {os.cpu_count()} cores; "
            f"Python {platform.python_version()}, torch {torch.__version__}")


def fragile_claims(runs: list[Run]) -> dict[tuple[str, int, str], list[Failure]]:
    """Failures grouped by (notebook, cell, failing line): one entry per fragile claim."""
    groups: dict[tuple[str, int, str], list[Failure]] = {}
    for run in runs:
        for failure in run.failures:
            groups.setdefault((failure.notebook, failure.cell, failure.line), []).append(failure)
    return groups


def markdown_report(runs: list[Run], seeds: list[int], threads: list[int], command: str = "",
                    record: dict | None = None) -> str:
    """docs/claims.md: a lesson x (K, T) table of pass / FAIL / error, each failure, and (from the
    ``record``) the hash, commit and date each lesson's runs come from."""
    combos = [(k, t) for k in seeds for t in threads]
    by_key = {(r.notebook, r.seed, r.threads): r for r in runs}
    lessons = list(dict.fromkeys(r.notebook for r in runs))
    record = record or {}
    mark = {"pass": "pass", "fail": "**FAIL**", "error": "**error**"}
    lines = [
        "# Claims under shifted seeds and thread counts",
        "",
        f"Written by `make claims`{f' (`{command}`)' if command else ''}. Each lesson ran top to bottom in a "
        "fresh kernel with `COURSE_SEED_OFFSET=K` and `OMP_NUM_THREADS=MKL_NUM_THREADS=T`. "
        "**FAIL**: an `assert` (a claim of the lesson) failed; **error**: another exception or a timeout "
        "stopped the run. Cell indices count every cell of the .ipynb file from 0, markdown included.",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- machine: {machine_line()}",
        "",
        "| lesson | " + " | ".join(_column(k, t) for k, t in combos) + " | passed |",
        "| --- | " + " | ".join("---" for _ in combos) + " | ---: |",
    ]
    for lesson in lessons:
        row = [by_key.get((lesson, k, t)) for k, t in combos]
        cells = [mark[r.status] if r else "" for r in row]
        done = [r for r in row if r]
        passed = sum(r.status == "pass" for r in done)
        lines.append(f"| {lesson} | " + " | ".join(cells) + f" | {passed}/{len(done)} |")
    failures = [f for r in runs for f in r.failures]
    lines += ["", "## Failures", ""]
    if not failures:
        lines.append("None: every claim held in every run.")
    else:
        lines += ["| lesson | K | T | cell | kind | failing line | message |",
                  "| --- | ---: | ---: | ---: | --- | --- | --- |"]
        lines += [
            f"| {f.notebook} | {f.seed} | {f.threads} | {f.cell} | {f.kind} | `{_cell(f.line)}` "
            f"| {_cell(f.message)} |"
            for f in failures
        ]
    if any(lesson in record for lesson in lessons):
        lines += ["", "## What each lesson ran", "",
                  "A lesson's hash covers its notebook and the source of every kit module it imported; "
                  "`make claims ARGS=--changed` reruns only the lessons whose hash no longer matches.", "",
                  "| lesson | hash | commit | date | kit modules |", "| --- | --- | --- | --- | ---: |"]
        lines += [f"| {lesson} | `{record[lesson]['hash']}` | {record[lesson]['commit']} | "
                  f"{record[lesson]['date']} | {len(record[lesson]['modules'])} |"
                  for lesson in lessons if lesson in record]
    return "\n".join(lines) + "\n"


def summary(runs: list[Run]) -> str:
    """What is printed at the end: runs passed, then each fragile claim with the runs it failed in."""
    passed = sum(r.status == "pass" for r in runs)
    total_s = sum(r.seconds for r in runs)
    lines = [f"{passed}/{len(runs)} runs passed in {total_s:.0f} s"]
    for (notebook, cell, line), failures in fragile_claims(runs).items():
        where = ", ".join(f"K={f.seed} T={f.threads}" for f in failures)
        message = f": {failures[0].message}" if failures[0].message else ""
        lines.append(f"  {notebook} cell {cell} [{failures[0].kind}] {line}{message}  -- failed at {where}")
    return "\n".join(lines)


# --- the command -----------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default=DEFAULT_SEEDS, help="seed shifts K: 0-9 or 0,3,5 (default 0-9)")
    parser.add_argument("--threads", default=DEFAULT_THREADS, help="torch thread counts T (default 1,2)")
    parser.add_argument("--notebooks", default="", help="name prefixes, e.g. 05,09 (default: every lesson)")
    parser.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT_S,
                        help=f"seconds allowed per cell (default {DEFAULT_TIMEOUT_S})")
    parser.add_argument("--notebook-dir", type=Path, default=NOTEBOOKS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=REPORT,
                        help="markdown report (default docs/claims.md; the record goes beside it, .json)")
    parser.add_argument("--changed", action="store_true",
                        help="rerun only the lessons whose hash (notebook + kit modules it ran) changed")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: report the recorded runs (e.g. of streams merged into the record)")
    args = parser.parse_args(argv)
    try:
        seeds = parse_int_list("--seeds", args.seeds)
        threads = parse_threads(args.threads)
        notebooks = select_notebooks(args.notebooks, args.notebook_dir)
        if args.timeout < 1:
            raise ValueError(f"--timeout must be at least 1 second, got {args.timeout}")
    except ValueError as error:
        parser.error(str(error))

    record_path = args.out.with_suffix(".json")
    record = load_record(record_path)
    wanted = {(k, t) for k in seeds for t in threads}
    kept, plan = {}, []
    for path in notebooks:
        if args.report_only:  # whatever was recorded for the requested (K, T), stale or not
            entry = record.get(path.stem, {"runs": []})
            kept[path.stem] = [run_from_dict(r) for r in entry["runs"] if (r["seed"], r["threads"]) in wanted]
            continue
        recorded = unchanged_runs(path, record.get(path.stem), wanted) if args.changed else None
        if recorded is None:
            plan += [(path, k, t) for k in seeds for t in threads]
        else:
            kept[path.stem] = recorded
            print(f"{path.stem}: unchanged (hash {record[path.stem]['hash']}), recorded runs kept")
    fresh = {}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for number, (path, seed, thread_count) in enumerate(plan, 1):
        run = run_notebook(path, seed, thread_count, args.timeout)
        fresh.setdefault(path.stem, []).append(run)
        detail = "; ".join(f"cell {f.cell}: {f.line}" for f in run.failures)
        print(f"[{number}/{len(plan)}] {path.stem} K={seed} T={thread_count} ... {run.status} "
              f"({run.seconds:.1f} s){'  ' + detail if detail else ''}", flush=True)
        if number == len(plan) or plan[number][0] != path:  # the lesson's last run: record it now, so a
            record[path.stem] = record_entry(path, fresh[path.stem])  # stopped run keeps whole lessons
            save_record(record_path, record)
    runs = [r for path in notebooks for r in kept.get(path.stem) or fresh.get(path.stem, [])]

    command = "python benchmarks/claims.py " + " ".join(argv if argv is not None else sys.argv[1:])
    save_record(record_path, record)
    args.out.write_text(markdown_report(runs, seeds, threads, command.strip(), record))
    print(summary(runs))
    print(f"wrote {args.out}")
    return 0 if all(r.status == "pass" for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
