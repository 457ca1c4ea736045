"""The whole class on loopback: ``make hub-loadtest STUDENTS=N`` (or ``--students 1,5,10,20``).

For each class size it starts a fresh hub in a temporary folder, then:

1. the teacher logs in and, in the formgrader, generates and releases lesson 00;
2. N students at once each log in, start a server, open lesson 00's student edition, answer its
   exercises (student i answers exercise j right, wrongly or not at all, by (i + j) mod 3), run
   every cell through the kernel's websocket, save the notebook and submit it through nbgrader's
   exchange (the Assignments tab's REST call);
3. the teacher collects and autogrades every submission in the formgrader, and the grades are
   compared, check by check, with what each student submitted.

It exits non-zero if a lesson does not complete, a submission is lost or a grade differs from the
answers, and prints, last, "N students: all M submissions collected and graded as expected, 0 lost".
While the class works it samples each student's processes (server and kernel: RSS and PSS) and the
machine, and prints the run times (p50/p95) and the memory figures docs/deployment.md quotes.
Everything it starts is stopped and its temporary folder removed, also on failure or Ctrl-C.
"""

import argparse
import json
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

import roster  # noqa: E402
from client import HubError, HubUser  # noqa: E402
from launch import Hub, free_port  # noqa: E402

from course_lib import student_edition  # noqa: E402

COURSE_ID = "pruning-course"
ASSIGNMENT, NOTEBOOK = "lesson00", "00_introduction.ipynb"
PATH = f"{ASSIGNMENT}/{NOTEBOOK}"
ANSWERS = ("right", "wrong", "none")
STUB = re.compile(r"raise NotImplementedError\(.*\)")
LESSON_TIMEOUT = 1800  # seconds for one student's whole lesson, however busy the machine
# What one more student costs the machine while lesson 00 runs, measured here: the kernel's share
# (PSS) 0.70-0.87 GiB and the server's 0.17 GiB. A class that does not fit is not started, so that
# the load test never drives a shared machine out of memory.
MEMORY_PER_STUDENT_GIB = 1.0


def exercises(notebook: dict) -> dict[str, str]:
    """{grade_id: source} of the exercise (solution) cells, in order."""
    return {
        c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"])
        for c in notebook["cells"]
        if c["metadata"].get("nbgrader", {}).get("solution")
    }


def answer(kind: str, stub: str, solution: str) -> str:
    """What a student writes in an exercise cell: the solution, a wrong answer, or nothing."""
    if kind == "right":
        return "\n".join(line for line in solution.splitlines() if "### " not in line)
    if kind == "wrong":
        return STUB.sub("return None", stub)
    return stub


def plan(index: int, grade_ids: list[str]) -> dict[str, str]:
    return {g: ANSWERS[(index + j) % len(ANSWERS)] for j, g in enumerate(grade_ids)}


@dataclass
class Student:
    name: str
    password: str
    answers: dict[str, str]  # grade_id -> right / wrong / none
    written: dict[str, str] = field(default_factory=dict)  # grade_id -> the exercise cell as submitted
    phase: str = "waiting"  # what the memory sampler files its samples under
    seconds: dict = field(default_factory=dict)  # login, spawn, kernel, run, submit
    error: str = ""
    submitted: bool = False

    def expected_scores(self) -> dict[str, float]:
        """The points each check must get: one for a right answer, zero otherwise."""
        return {f"check_{g}": 1.0 if kind == "right" else 0.0 for g, kind in self.answers.items()}


def attend(hub_url: str, student: Student, solution: dict[str, str]) -> None:
    """One student's lesson, start to submission; failures are recorded, not raised."""
    clock = time.monotonic()

    def lap(name):
        nonlocal clock
        now = time.monotonic()
        student.seconds[name] = now - clock
        clock = now

    try:
        person = HubUser(hub_url, student.name, student.password).login()
        lap("login")
        student.phase = "server idle"
        server = person.start_server()
        lap("spawn")
        notebook = server.read(PATH)
        for cell in notebook["cells"]:
            grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
            if grade_id in student.answers:
                cell["source"] = answer(
                    student.answers[grade_id], "".join(cell["source"]), solution[grade_id]
                )
                student.written[grade_id] = cell["source"]
        with server.kernel_for(PATH) as kernel:
            kernel.execute("pass")  # the kernel is up and answering
            lap("kernel")
            student.phase = "kernel idle"
            time.sleep(2)  # let the sampler see the idle kernel
            clock = time.monotonic()
            student.phase = "running"
            deadline = clock + LESSON_TIMEOUT
            for cell in notebook["cells"]:
                if cell["cell_type"] != "code":
                    continue
                reply = kernel.execute("".join(cell["source"]), timeout=max(1.0, deadline - time.monotonic()))
                cell["outputs"], cell["execution_count"] = reply.outputs, reply.execution_count
                if reply.status != "ok":  # JupyterLab's Run All stops at the first error too
                    raise HubError(f"a cell failed: {reply.error}")
            lap("run")
            student.phase = "lesson done"
            server.save(PATH, notebook)
        result = server.request(
            "POST",
            "assignments/submit",
            200,
            timeout=300,
            data={"course_id": COURSE_ID, "assignment_id": ASSIGNMENT},
        ).json()
        if not result.get("success"):
            raise HubError(f"nbgrader refused the submission: {result.get('value', '')[-500:]}")
        student.submitted = True
        lap("submit")
    except Exception as error:  # noqa: BLE001 - one student's failure is a result, not a crash
        student.error = f"{type(error).__name__}: {error}"
    finally:
        student.phase = "done"


class Sampler(threading.Thread):
    """Every second: each student's processes (found by their working folder) and the machine."""

    def __init__(self, homes: Path, students: list[Student], period: float = 1.0):
        super().__init__(daemon=True)
        self.homes, self.students, self.period = homes, students, period
        self.peaks: dict[str, dict[str, dict[str, float]]] = {
            s.name: {} for s in students
        }  # name->phase->kind
        self.cpu_seconds = {s.name: 0.0 for s in students}
        self.machine_used_peak = 0
        self.stopped = threading.Event()

    def run(self):
        psutil.cpu_percent()
        self.cpu_percents = []
        while not self.stopped.wait(self.period):
            self.sample()
            self.cpu_percents.append(psutil.cpu_percent())

    def sample(self):
        totals = {s.name: {"rss": 0, "pss": 0, "cpu": 0.0} for s in self.students}
        for process in psutil.process_iter(["cwd"]):
            cwd = process.info["cwd"]
            if not cwd or not Path(cwd).is_relative_to(self.homes):
                continue
            name = Path(cwd).relative_to(self.homes).parts[0]
            if name not in totals:
                continue
            try:
                memory = process.memory_full_info()
                times = process.cpu_times()
            except psutil.Error:
                continue
            totals[name]["rss"] += memory.rss
            totals[name]["pss"] += memory.pss
            totals[name]["cpu"] += times.user + times.system
        for student in self.students:
            peak = self.peaks[student.name].setdefault(student.phase, {"rss": 0, "pss": 0})
            for kind in ("rss", "pss"):
                peak[kind] = max(peak[kind], totals[student.name][kind])
            self.cpu_seconds[student.name] = max(self.cpu_seconds[student.name], totals[student.name]["cpu"])
        self.machine_used_peak = max(self.machine_used_peak, psutil.virtual_memory().used)


def gibibytes(size: str) -> float:
    """``"2G"`` -> 2.0 (JupyterHub's suffixes K, M, G, T are powers of 1024)."""
    units = {"K": 2**-20, "M": 2**-10, "G": 1, "T": 2**10}
    if not re.fullmatch(r"\d+(\.\d+)?[KMGT]", size):
        raise ValueError(f"mem_limit {size!r} is not a size: use a number and K, M, G or T, e.g. 2G")
    return float(size[:-1]) * units[size[-1]]


def check_memory(students: int) -> None:
    """Refuse a class this machine's available memory cannot hold (the estimate above)."""
    needed = students * MEMORY_PER_STUDENT_GIB
    available = psutil.virtual_memory().available / 2**30
    if needed > available:
        raise SystemExit(
            f"a class of {students} needs about {needed:.0f} GiB ({MEMORY_PER_STUDENT_GIB} GiB per student) "
            f"and this machine has {available:.1f} GiB available: not started"
        )


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def grade(teacher: HubUser, students: list[Student]) -> dict[str, dict]:
    """Collect and autograde in the formgrader: {student: {"scores": {check: points}, "answers": {...}}}.

    The answers are the exercise cells of the collected notebook, read back through the formgrader's
    own Jupyter server, so a submission that arrived altered is caught as well as one that was lost."""
    formgrader = teacher.service("formgrader")
    collected = formgrader.request(
        "POST", f"formgrader/api/assignment/{ASSIGNMENT}/collect", 200, timeout=600
    ).json()
    if not collected["success"]:
        raise HubError(f"collect failed: {collected.get('error')}")
    for student in students:  # one at a time, as the formgrader's Autograde buttons do
        formgrader.request(
            "POST", f"formgrader/api/submission/{ASSIGNMENT}/{student.name}/autograde", 200, timeout=900
        )
    graded = {}  # what the gradebook says: a submission missing here was lost
    notebook_id = NOTEBOOK.removesuffix(".ipynb")
    for submission in formgrader.request(
        "GET", f"formgrader/api/submitted_notebooks/{ASSIGNMENT}/{notebook_id}", 200
    ).json():
        name = submission["student"]
        grades = formgrader.request(
            "GET", "formgrader/api/grades", 200, params={"submission_id": submission["id"]}
        ).json()
        notebook = formgrader.read(f"submitted/{name}/{ASSIGNMENT}/{NOTEBOOK}")
        graded[name] = {
            "scores": {g["name"]: g["auto_score"] for g in grades},
            "answers": exercises(notebook),
        }
    return graded


@dataclass
class ClassReport:
    students: int
    submissions: int
    collected_as_expected: int
    lost: list[str]
    wrong_grades: dict[str, dict]
    failed: dict[str, str]
    seconds: dict[str, dict[str, float]]  # phase -> {p50, p95, max}
    memory_mib: dict[str, dict[str, float]]  # "phase/kind" -> {median, max} over students
    cpu_seconds_per_student: float
    machine: dict
    grading_seconds: float

    @property
    def passed(self) -> bool:
        return not (self.lost or self.wrong_grades or self.failed)

    def last_line(self) -> str:
        if self.passed:
            return (
                f"{self.students} students: all {self.submissions} submissions collected and graded as "
                f"expected, 0 lost"
            )
        return (
            f"{self.students} students: {len(self.failed)} lessons failed, {len(self.lost)} submissions "
            f"lost, {len(self.wrong_grades)} graded differently from what was submitted"
        )


def run_class(n: int, workdir: Path, mem_limit: str, cpu_limit: str, log=print) -> ClassReport:
    """One class of ``n`` students on a fresh hub in ``workdir``; everything is stopped on return."""
    state = workdir / f"hub-{n}"
    state.mkdir(parents=True)
    edition = workdir / "student"
    if not edition.exists():
        student_edition.build(target_dir=edition)
    solution = exercises(json.loads((ROOT / "notebooks" / NOTEBOOK).read_text()))
    passwords = roster.add_members(state / "roster.csv", [f"student{i:02d}" for i in range(n)])
    teacher_password = roster.add_members(state / "roster.csv", ["teacher"], "teacher")["teacher"]
    students = [Student(name, pw, plan(i, list(solution))) for i, (name, pw) in enumerate(passwords.items())]
    settings = {"HUB_MEM_LIMIT": mem_limit, "HUB_CPU_LIMIT": cpu_limit}
    machine = {
        "cpus": os.cpu_count(),
        "memory_gib": psutil.virtual_memory().total / 2**30,
        "load_before": os.getloadavg(),
    }
    with Hub(state, edition, port=free_port(), settings=settings) as hub:
        teacher = HubUser(hub.url, "teacher", teacher_password).login()
        formgrader = teacher.service("formgrader")
        for action in ("assign", "release"):
            done = formgrader.request(
                "POST", f"formgrader/api/assignment/{ASSIGNMENT}/{action}", 200, timeout=600
            ).json()
            if not done["success"]:
                raise HubError(f"{action} of {ASSIGNMENT} failed: {done.get('error')}")
        load = machine["load_before"][0]
        log(f"{n} students: lesson 00 released; the class starts (load average {load:.1f})")
        sampler = Sampler(state / "home", students)
        sampler.start()
        start = time.monotonic()
        pool = ThreadPoolExecutor(max_workers=n)
        try:
            list(pool.map(lambda s: attend(hub.url, s, solution), students))
        finally:  # on Ctrl-C, stop the hub now: the students' requests then fail and their threads end
            pool.shutdown(wait=False, cancel_futures=True)
        sampler.stopped.set()
        sampler.join()
        machine["class_seconds"] = time.monotonic() - start
        machine["load_after"] = os.getloadavg()
        machine["used_peak_gib"] = sampler.machine_used_peak / 2**30
        machine["cpu_percent_mean"] = sum(sampler.cpu_percents) / max(1, len(sampler.cpu_percents))
        for s in students:
            if s.error:
                log(f"  {s.name}: {s.error}")
        start = time.monotonic()
        graded = grade(teacher, students)
        grading_seconds = time.monotonic() - start
    submitted = [s for s in students if s.submitted]
    lost = [s.name for s in submitted if s.name not in graded]
    wrong = {
        s.name: {"expected": s.expected_scores(), **graded[s.name]}
        for s in submitted
        if s.name in graded
        and (graded[s.name]["scores"] != s.expected_scores() or graded[s.name]["answers"] != s.written)
    }
    phases = ["login", "spawn", "kernel", "run", "submit"]
    seconds = {
        p: {"p50": percentile(v, 50), "p95": percentile(v, 95), "max": max(v)}
        for p in phases
        if (v := [s.seconds[p] for s in students if p in s.seconds])
    }
    memory = {}
    for phase in ("server idle", "kernel idle", "running", "lesson done"):
        for kind in ("rss", "pss"):
            values = [
                sampler.peaks[s.name][phase][kind] / 2**20 for s in students if phase in sampler.peaks[s.name]
            ]
            if values:
                memory[f"{phase}/{kind}"] = {"median": percentile(values, 50), "max": max(values)}
    return ClassReport(
        students=n,
        submissions=len(submitted),
        collected_as_expected=len(submitted) - len(lost) - len(wrong),
        lost=lost,
        wrong_grades=wrong,
        failed={s.name: s.error for s in students if s.error},
        seconds=seconds,
        memory_mib=memory,
        cpu_seconds_per_student=percentile(list(sampler.cpu_seconds.values()), 50),
        machine=machine,
        grading_seconds=grading_seconds,
    )


def describe(report: ClassReport) -> str:
    s, m = report.seconds, report.memory_mib
    lines = [
        f"{report.students} students (machine: {report.machine['cpus']} CPUs, "
        f"{report.machine['memory_gib']:.1f} GiB; load average before {report.machine['load_before'][0]:.1f})"
    ]
    for phase, v in s.items():
        lines.append(f"  {phase:7s} p50 {v['p50']:7.1f} s   p95 {v['p95']:7.1f} s   max {v['max']:7.1f} s")
    for key, v in m.items():
        lines.append(f"  memory {key:16s} median {v['median']:7.0f} MiB   max {v['max']:7.0f} MiB")
    lines.append(f"  CPU per student (server + kernel, whole lesson): {report.cpu_seconds_per_student:.1f} s")
    lines.append(
        f"  machine: peak memory used {report.machine['used_peak_gib']:.1f} GiB, mean CPU "
        f"{report.machine['cpu_percent_mean']:.0f}%, class {report.machine['class_seconds']:.0f} s, "
        f"grading {report.grading_seconds:.0f} s"
    )
    return "\n".join(lines)


# The Littlest JupyterHub's estimate (https://tljh.jupyter.org/en/latest/howto/admin/resource-estimation.html):
# memory = max concurrent users x max memory per user + 128 MB; CPU = concurrent users x CPU per
# user + 20% (of one CPU) for the hub itself.
TLJH_MEMORY_MIB, TLJH_CPU = 128, 0.2
LESSON_BUDGET = 60  # seconds: the kit's budget per lesson, the pace a class should keep


def tables(reports: list[ClassReport], mem_per_user_gib: float) -> str:
    """The markdown tables docs/deployment.md quotes: the class sizes measured, and TLJH's sizing."""
    lines = [
        "| students | load average before / after | spawn p50 / p95 (s) | lesson 00 p50 / p95 (s) "
        "| autograde all (s) | per student running: RSS / PSS (MiB) | machine peak used (GiB) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in reports:
        spawn, run = r.seconds["spawn"], r.seconds["run"]
        rss, pss = r.memory_mib["running/rss"], r.memory_mib["running/pss"]
        lines.append(
            f"| {r.students} | {r.machine['load_before'][0]:.1f} / {r.machine['load_after'][0]:.1f} "
            f"| {spawn['p50']:.0f} / {spawn['p95']:.0f} "
            f"| {run['p50']:.0f} / {run['p95']:.0f} | {r.grading_seconds:.0f} "
            f"| {rss['max']:.0f} / {pss['max']:.0f} | {r.machine['used_peak_gib']:.1f} |"
        )
    cpu_seconds = percentile([r.cpu_seconds_per_student for r in reports], 50)
    cpu_per_user = cpu_seconds / LESSON_BUDGET
    lines += [
        "",
        f"CPU per user: {cpu_seconds:.0f} CPU-seconds per lesson 00 over the {LESSON_BUDGET} s budget = "
        f"{cpu_per_user:.2f} cores; memory per user: {mem_per_user_gib:g} GiB.",
        "",
        "| class | concurrent users | memory (GiB) | CPU cores |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for size in (30, 100, 300):
        for share in (1.0, 0.5):
            users = math.ceil(size * share)
            memory, cpu = users * mem_per_user_gib + TLJH_MEMORY_MIB / 1024, users * cpu_per_user + TLJH_CPU
            lines.append(f"| {size} | {users} ({share:.0%}) | {memory:.1f} | {cpu:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Load-test the class hub on loopback.")
    parser.add_argument("--students", default="6", help="a class size, or several: 1,5,10,20")
    parser.add_argument("--mem-limit", default="2G", help="per-student memory limit (default 2G)")
    parser.add_argument("--cpu-limit", default="2", help="per-student CPU limit in cores (default 2)")
    parser.add_argument("--report", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.students.split(",")]
    if any(n < 1 or n > 200 for n in sizes):
        parser.error(f"--students {args.students!r}: each class size must be between 1 and 200")
    reports = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # a kill cleans up as Ctrl-C does
    workdir = Path(tempfile.mkdtemp(prefix="hub-loadtest-"))
    try:
        for n in sizes:
            check_memory(n)
            report = run_class(n, workdir, args.mem_limit, args.cpu_limit)
            print(describe(report), report.last_line(), sep="\n", flush=True)
            reports.append(report)
            if args.report:  # after each class: a run stopped later keeps what it measured
                args.report.write_text(json.dumps([asdict(r) for r in reports], indent=1))
            if not report.passed:
                break
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if len(reports) > 1:
        print(tables(reports, gibibytes(args.mem_limit)))
    for report in reports:
        print(report.last_line())
    return 0 if all(r.passed for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
