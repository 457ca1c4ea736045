"""The class hub when things go wrong: a real hub on loopback (deploy/hub), real students' servers.

- a kernel killed mid-lesson: the notebook on disk is intact, a restart and rerun works;
- the hub restarted while a student works: the server and the running cell go on, and nothing
  submitted before or after the restart is lost;
- a student over the memory limit: a clear MemoryError in the cell (and, where the machine has
  writable cgroups, the kernel's OOM killer inside that student's cgroup only); the others go on;
- an oversized submission is refused with a message; a malformed one fails to grade with a message,
  and the grader goes on grading the next student correctly.
"""

import json
import os
import signal
import threading
import time

import nbformat
import psutil
import pytest
from hub_helpers import ROOT, client, launch, require_proxy, roster, spawner

from course_lib import student_edition

HubUser, KernelDied = client.HubUser, client.KernelDied

ASSIGNMENT, NOTEBOOK = "lesson00", "00_introduction.ipynb"
PATH = f"{ASSIGNMENT}/{NOTEBOOK}"
COURSE = {"course_id": "pruning-course", "assignment_id": ASSIGNMENT}
STUDENTS = ["alice", "bob", "carol", "dave"]  # each test reuses servers the earlier ones started
SOLUTION = {
    c["metadata"]["nbgrader"]["grade_id"]: c["source"]
    for c in json.loads((ROOT / "notebooks" / NOTEBOOK).read_text())["cells"]
    if c["metadata"].get("nbgrader", {}).get("solution")
}


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """A running hub with four students and a teacher, and lesson 00 released."""
    require_proxy()
    work = tmp_path_factory.mktemp("hub")
    student_edition.build(target_dir=work / "student")
    passwords = roster.add_members(work / "state" / "roster.csv", STUDENTS)
    passwords |= roster.add_members(work / "state" / "roster.csv", ["teacher"], "teacher")
    hub = launch.Hub(
        work / "state", work / "student", port=launch.free_port(), settings={"HUB_MEM_LIMIT": "2G"}
    )
    with hub:
        teacher = HubUser(hub.url, "teacher", passwords["teacher"]).login()
        for action in ("assign", "release"):
            done = formgrader_post(teacher, f"assignment/{ASSIGNMENT}/{action}")
            assert done["success"], done
        yield {"hub": hub, "passwords": passwords, "home": work / "state" / "home"}


def formgrader_post(teacher: HubUser, path: str) -> dict:
    return teacher.service("formgrader").request("POST", f"formgrader/api/{path}", 200, timeout=600).json()


def log_in(classroom, name: str):
    person = HubUser(classroom["hub"].url, name, classroom["passwords"][name]).login()
    return person, person.start_server()


def code_cells(notebook: dict) -> list[str]:
    return ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]


def answered(notebook: dict, grade_id: str) -> dict:
    """The notebook with the exercise ``grade_id`` answered with the solution."""
    for cell in notebook["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            cell["source"] = "".join(line for line in SOLUTION[grade_id] if "### " not in line)
    return notebook


def server_pid(home, name: str) -> int:
    """The pid of the student's Jupyter server (the process working in the student's home)."""
    servers = [
        p.pid for p in psutil.process_iter(["cwd", "cmdline"])
        if p.info["cwd"] == str(home / name) and "jupyterhub.singleuser" in (p.info["cmdline"] or [])
    ]  # fmt: skip
    (pid,) = servers
    return pid


def test_a_kernel_killed_mid_lesson_leaves_the_notebook_intact_and_a_restart_reruns_it(classroom):
    _, server = log_in(classroom, "alice")
    notebook = answered(server.read(PATH), "sparsity_of")
    server.save(PATH, notebook)
    on_disk = classroom["home"] / "alice" / PATH
    saved = on_disk.read_bytes()
    kernel = server.kernel_for(PATH)
    pid = server.kernel_pid(kernel)
    killer = threading.Timer(3.0, os.kill, (pid, signal.SIGKILL))  # the lesson takes far longer than 3 s
    killer.start()
    with pytest.raises(KernelDied):
        for code in code_cells(notebook):
            assert kernel.execute(code, timeout=300).status == "ok"
    killer.join()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert on_disk.read_bytes() == saved  # what was saved is what is on disk
    nbformat.validate(nbformat.reads(saved.decode(), as_version=4))
    kernel.restart()
    cells = code_cells(notebook)
    check = next(i for i, code in enumerate(cells) if code.startswith("check.sparsity_of"))
    for code in cells[: check + 1]:  # imports, the answer and its check, in a fresh kernel
        reply = kernel.execute(code, timeout=300)
        assert reply.status == "ok", reply.error
    assert reply.text.startswith("✓ Exercise 0.1"), reply.text
    assert server.kernel_pid(kernel) != pid
    kernel.close()


def test_the_hub_restarts_while_a_student_works_and_no_submission_is_lost(classroom):
    hub, home = classroom["hub"], classroom["home"]
    _, early = log_in(classroom, "carol")  # submits before the restart
    assert early.request("POST", "assignments/submit", 200, data=COURSE).json()["success"]
    person, server = log_in(classroom, "bob")
    pid_before = server_pid(home, "bob")
    notebook = server.read(PATH)
    cells = code_cells(notebook)[:8]  # the set-up, the landmark networks, the trained model
    kernel = server.kernel_for(PATH)
    replies, times = [], {}

    def work():
        times["start"] = time.monotonic()
        replies.extend(kernel.execute(code, timeout=600) for code in cells)
        times["end"] = time.monotonic()

    worker = threading.Thread(target=work)
    worker.start()
    time.sleep(1)
    times["restart"] = time.monotonic()
    hub.restart_hub()
    worker.join(timeout=900)
    assert not worker.is_alive() and times["restart"] < times["end"]  # the cells ran across the restart
    assert [r.status for r in replies] == ["ok"] * len(cells), [r.error for r in replies]
    assert server_pid(home, "bob") == pid_before  # the same server, never restarted
    kernel.close()
    assert server.request("POST", "assignments/submit", 200, data=COURSE).json()["success"]
    teacher = HubUser(hub.url, "teacher", classroom["passwords"]["teacher"]).login()  # a fresh login
    assert formgrader_post(teacher, f"assignment/{ASSIGNMENT}/collect")["success"]
    listed = teacher.service("formgrader").request("GET", f"formgrader/api/submissions/{ASSIGNMENT}", 200)
    submitted = {s["student"] for s in listed.json() if s["submitted"]}
    assert {"carol", "bob"} <= submitted


def test_a_student_over_the_memory_limit_gets_a_clear_error_and_the_others_go_on(classroom):
    _, server = log_in(classroom, "dave")
    _, neighbour = log_in(classroom, "bob")
    with server.kernel_for(PATH) as kernel, neighbour.kernel_for(PATH) as other:
        reply = kernel.execute("hoard = bytearray(3 * 2**30)")  # 3 GiB, over the hub's 2 GiB
        assert reply.status == "error" and reply.error.startswith("MemoryError"), reply.outputs
        assert kernel.execute("print('still here')").text == "still here\n"
        cgroups = spawner.machine_cgroups()
        if cgroups is not None:  # every process of dave's together: the cgroup's OOM killer
            assert server_pid(classroom["home"], "dave") in cgroups.processes("dave")
            before = cgroups.oom_kills("dave")
            # two processes of 1.4 GiB each, under the per-process limit, held at the same time
            two = ("import subprocess, sys\n"
                   "code = 'import sys; x = bytearray(1400 * 2**20); print(flush=True); sys.stdin.read()'\n"
                   "pipes = {'stdin': subprocess.PIPE, 'stdout': subprocess.PIPE}\n"
                   "procs = [subprocess.Popen([sys.executable, '-c', code], **pipes) for _ in range(2)]\n"
                   "for p in procs: p.stdout.readline()  # allocated, or killed\n"
                   "for p in procs: p.stdin.close()\n"
                   "print(sorted(p.wait() for p in procs))")  # fmt: skip
            assert kernel.execute(two, timeout=120).text == f"[{-signal.SIGKILL}, 0]\n"
            assert cgroups.oom_kills("dave") > before
            assert cgroups.oom_kills("bob") == 0
        assert other.execute("sum(range(10**6))").text == str(sum(range(10**6)))


def test_oversized_and_malformed_submissions_are_refused_or_fail_to_grade_without_stopping_the_grader(
    classroom,
):
    _, big = log_in(classroom, "dave")
    with big.kernel_for(PATH) as kernel:  # the kernel works in lesson00/: 30 MB there, over the 20 MB allowed
        kernel.execute("open('data.bin', 'wb').truncate(30 * 2**20)")
    refused = big.request("POST", "assignments/submit", 200, data=COURSE).json()
    assert not refused["success"] and "Directory size is too big" in refused["value"]

    _, broken = log_in(classroom, "carol")
    broken.request("PUT", f"api/contents/{PATH}", 200, 201,
                   json={"type": "file", "format": "text", "content": "{ not a notebook"})  # fmt: skip
    assert broken.request("POST", "assignments/submit", 200, data=COURSE).json()["success"]
    _, good = log_in(classroom, "alice")
    good.save(PATH, answered(good.read(PATH), "sparsity_of"))
    assert good.request("POST", "assignments/submit", 200, data=COURSE).json()["success"]

    teacher = HubUser(classroom["hub"].url, "teacher", classroom["passwords"]["teacher"]).login()
    assert formgrader_post(teacher, f"assignment/{ASSIGNMENT}/collect")["success"]
    failed = formgrader_post(teacher, f"submission/{ASSIGNMENT}/carol/autograde")
    assert not failed["success"] and "00_introduction" in failed.get("log", "") + failed.get("error", "")
    graded = formgrader_post(teacher, f"submission/{ASSIGNMENT}/alice/autograde")  # the next one is graded
    assert graded["success"], graded
    listed = teacher.service("formgrader").request("GET", f"formgrader/api/submissions/{ASSIGNMENT}", 200)
    scores = {s["student"]: s for s in listed.json()}
    assert "dave" not in scores or not scores["dave"]["submitted"]
    assert scores["alice"]["autograded"] and scores["alice"]["score"] == 1.0  # exercise 0.1 only


def test_every_process_of_the_hub_listens_on_loopback_only(classroom):
    processes = launch.leftovers(classroom["hub"].state)  # proxy, hub, formgrader, servers, kernels
    assert len(processes) >= 4
    sockets = [c for p in processes for c in p.net_connections(kind="inet")]
    listening = {c.laddr.ip for c in sockets if c.status == psutil.CONN_LISTEN}
    assert listening and listening <= {"127.0.0.1", "::1"}
