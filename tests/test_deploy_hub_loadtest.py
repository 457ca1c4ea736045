"""A class of six on one hub, end to end: ``make hub-loadtest STUDENTS=6`` as CI runs it.

Six students log in at once, run lesson 00 through the kernel's websocket, answer its exercises
right, wrongly or not at all, and submit through nbgrader's exchange; the teacher collects and
autogrades in the formgrader. The load test fails if a lesson fails, a submission is lost, or a
grade (or the collected answer) differs from what the student wrote; its figures are checked here
only for being measured at all (docs/deployment.md quotes them, from `make hub-loadtest`).
"""

import json
import subprocess
import sys

from hub_helpers import HUB, require_proxy

STUDENTS = 6


def test_a_class_of_six_is_served_collected_and_graded_as_submitted(tmp_path):
    require_proxy()
    report_path = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, str(HUB / "loadtest.py"), "--students", str(STUDENTS), "--report", str(report_path)],
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    expected = f"{STUDENTS} students: all {STUDENTS} submissions collected and graded as expected, 0 lost"
    assert lines[-1] == expected
    (report,) = json.loads(report_path.read_text())
    assert report["submissions"] == report["collected_as_expected"] == STUDENTS
    assert set(report["seconds"]) == {"login", "spawn", "kernel", "run", "submit"}
    running = report["memory_mib"]["running/rss"]
    assert 0 < report["memory_mib"]["server idle/rss"]["max"] < running["median"] <= running["max"]
