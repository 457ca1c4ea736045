"""The real nbgrader on a temporary course: release lesson 07, autograde three submissions, check scores.

The course is set up as docs/teacher_guide.md tells a teacher to ("A graded course with nbgrader"):
the solution notebook in ``source/``, and an ``nbgrader_config.py`` that loads the kit's grading
extension, so a check that fails or is not done yet scores zero.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_lib import student_edition

ROOT = Path(__file__).resolve().parent.parent
LESSON = "07_sparse_formats"  # one of the fastest lessons (docs/benchmarks.md), three exercises
ASSIGNMENT = "lesson07"

CONFIG = """\
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "pruning-course"
c.CourseDirectory.root = {root!r}
# Failed or unfinished checks become errors, which nbgrader scores as zero.
c.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:", "--ext=course_lib.student_edition"]
c.Execute.timeout = 300
"""


def nbgrader(course: Path, *args: str) -> str:
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(course / ".jupyter"))  # none of the user's settings
    # nbgrader runs its database migrations with the `alembic` command, installed beside python
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True, text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def solved(release: dict, source: dict, names) -> dict:
    """The released notebook with the solution cells ``names`` (grade_ids) taken from the source."""
    answers = {
        c["metadata"]["nbgrader"]["grade_id"]: c["source"]
        for c in source["cells"] if c["metadata"].get("nbgrader", {}).get("solution")
    }
    submission = json.loads(json.dumps(release))
    for cell in submission["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in names:
            cell["source"] = answers[grade_id]
    return submission


def wrong(release: dict, grade_id: str) -> dict:
    """The released notebook with the exercise ``grade_id`` answered wrongly (it returns None)."""
    submission = json.loads(json.dumps(release))
    for cell in submission["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            source = "".join(cell["source"])
            cell["source"] = re.sub(r"raise NotImplementedError\(.*\)", "return None", source)
    return submission


def exercises(notebook: dict) -> dict[str, float]:
    """{exercise grade_id: points of its check}, in the notebook's order."""
    grading = [c["metadata"].get("nbgrader", {}) for c in notebook["cells"]]
    return {g["grade_id"].removeprefix("check_"): g["points"] for g in grading if g.get("grade")}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course with lesson 07 released, and three submissions autograded: the scores by student."""
    course = tmp_path_factory.mktemp("course")
    (course / "nbgrader_config.py").write_text(CONFIG.format(root=str(course)))
    source_dir = course / "source" / ASSIGNMENT
    source_dir.mkdir(parents=True)
    source_path = ROOT / "notebooks" / f"{LESSON}.ipynb"
    (source_dir / source_path.name).write_text(source_path.read_text())
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")

    release_path = course / "release" / ASSIGNMENT / source_path.name
    release = json.loads(release_path.read_text())
    source = json.loads(source_path.read_text())
    points = exercises(source)
    first, *middle, last = points  # the partial submission: first and last right, one wrong, others untouched
    submissions = {
        "solution": source,  # the teacher's own solution notebook
        "partial": wrong(solved(release, source, {first, last}), middle[0]),
        "untouched": release,
    }
    for student, notebook in submissions.items():
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / source_path.name).write_text(json.dumps(notebook, indent=1))
    nbgrader(course, "autograde", ASSIGNMENT, "--force")

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="pruning-course") as gradebook:
        scores = {s: gradebook.find_submission(ASSIGNMENT, s).score for s in submissions}
        max_score = gradebook.find_assignment(ASSIGNMENT).max_score
        per_cell = {
            grade.name: grade.score
            for grade in gradebook.find_submission_notebook(LESSON, ASSIGNMENT, "partial").grades
        }
    return {"dir": course, "scores": scores, "max": max_score, "partial": per_cell, "release": release_path,
            "points": points, "solved": (first, last), "wrong": middle[0]}


def test_the_lesson_is_worth_one_point_per_check(course):
    assert course["max"] == sum(course["points"].values()) == len(course["points"]) >= 3


def test_the_solution_edition_gets_full_marks(course):
    assert course["scores"]["solution"] == course["max"]


def test_a_partial_submission_gets_the_points_of_the_exercises_it_solved(course):
    first, last = course["solved"]
    assert course["scores"]["partial"] == course["points"][first] + course["points"][last]
    assert course["partial"][f"check_{first}"] == course["points"][first]
    assert course["partial"][f"check_{course['wrong']}"] == 0


def test_the_untouched_release_gets_zero(course):
    assert course["scores"]["untouched"] == 0


def test_make_student_gives_what_nbgrader_releases_but_with_named_stubs(course):
    released = nbformat.read(course["release"], as_version=4)
    ours = student_edition.student_notebook(nbformat.read(ROOT / "notebooks" / f"{LESSON}.ipynb", 4))
    assert len(ours.cells) == len(released.cells)
    for mine, theirs in zip(ours.cells, released.cells):
        keys = ("grade_id", "locked", "solution", "grade", "points")
        assert {k: mine.metadata.get("nbgrader", {}).get(k) for k in keys} == {
            k: theirs.metadata.get("nbgrader", {}).get(k) for k in keys
        }
        assert mine.metadata.get("editable") == theirs.metadata.get("editable")
        if "raise NotImplementedError" in theirs.source:
            assert re.search(r'raise NotImplementedError\("Exercise 7\.\d: ', mine.source)
        else:
            assert mine.source == theirs.source


def test_the_grading_extension_turns_only_failed_checks_into_errors():
    from course_lib.checks import CheckResult

    class Printer:  # what IPython's pretty printer offers a formatter
        def __init__(self):
            self.parts = []

        def text(self, part):
            self.parts.append(part)

    printer = Printer()
    student_edition._graded(CheckResult("7.1", True, "✓ Exercise 7.1: all 3 cases pass."), printer, False)
    assert printer.parts == ["✓ Exercise 7.1: all 3 cases pass."]
    with pytest.raises(AssertionError, match="not done yet"):
        not_done = CheckResult("7.1", False, "Exercise 7.1 is not done yet: ...")
        student_edition._graded(not_done, printer, False)
